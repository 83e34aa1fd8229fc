"""What Fargate's agent answers a task's own containers on 169.254.170.2, for the Docker runtime.

On Fargate every container gets ``ECS_CONTAINER_METADATA_URI_V4`` (the task metadata endpoint v4: container and
task metadata, ``/stats``, ``/task/stats``) and, when the task definition has a ``taskRoleArn``, a credentials
URI answering the task role's temporary credentials. Here the task containers join one Docker network,
``fargate-lab-tasks`` (169.254.170.0/24), whose gateway, the host's side of the bridge, is 169.254.170.2: the
address Fargate uses and one botocore accepts in ``AWS_CONTAINER_CREDENTIALS_FULL_URI``. A small HTTP server in
the backend's process listens there, on a port of its own, and answers:

- ``/v4/<token>`` (``/task``, ``/stats``, ``/task/stats``): each container's own secret token names it;
- ``/v2/credentials/<id>``: the task role's credentials (``RoleArn``, ``AccessKeyId``, ``SecretAccessKey``,
  ``Token``, ``Expiration``), the shape botocore's container provider reads;
- anything else, on the embedded backend only, goes to the backend's own gate (``AWS_ENDPOINT_URL``): signed
  requests only, and only from the task network. Requests from elsewhere get 403.

Fargate's agent listens on port 80 (``AWS_CONTAINER_CREDENTIALS_RELATIVE_URI``); the lab cannot bind it without
root, and several backends share one engine, so each answers on its own port through the full URI.
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-metadata-endpoint-v4-fargate.html
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-iam-roles.html
"""

from __future__ import annotations

import ipaddress
import json
import logging
import secrets
import threading
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger("emulator.task_endpoint")

NETWORK = "fargate-lab-tasks"
SUBNET = "169.254.170.0/24"
GATEWAY = "169.254.170.2"
#: Set in the WSGI environ of a request that came from the task network (never settable by a client).
FROM_TASK_NETWORK = "fargate_lab.task_network"
_SUBNET = ipaddress.ip_network(SUBNET)
_network_lock = threading.Lock()

#: (task id, the asking container's name, whole task?, "meta" or "stats") -> the JSON answer.
Answer = Callable[[str, str, bool, str], Any]
#: task id -> the task role's credentials document, or None when the task has no role.
Credentials = Callable[[str], dict | None]


def ensure_network(client: Any) -> str | None:
    """The task network's name, created once per engine (shared by every backend); None when it cannot be."""
    import docker.errors

    with _network_lock:
        try:
            client.networks.get(NETWORK)
            return NETWORK
        except docker.errors.NotFound:
            pass
        from docker.types import IPAMConfig, IPAMPool

        try:
            client.networks.create(NETWORK, driver="bridge", labels={"fargate-lab.role": "task-network"},
                                   ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=SUBNET, gateway=GATEWAY)]))
        except docker.errors.APIError as error:
            try:  # another backend created it at the same moment
                client.networks.get(NETWORK)
            except docker.errors.NotFound:
                log.warning("could not create the task network %s (%s): tasks get no metadata endpoint", NETWORK,
                            error)
                return None
        return NETWORK


def from_task_network(environ: dict[str, Any]) -> bool:
    try:
        address = ipaddress.ip_address(environ.get("REMOTE_ADDR", ""))
        return address in _SUBNET and str(address) != GATEWAY  # the host itself is not a task
    except ValueError:
        return False


class TaskEndpoint:
    """The HTTP server on the task network's gateway, and the secret tokens that name each container."""

    def __init__(self, answer: Answer, credentials: Credentials) -> None:
        self.answer = answer
        self.credentials = credentials
        self._lock = threading.Lock()
        self._containers: dict[str, tuple[str, str]] = {}  # token -> (task id, container name)
        self._credentials: dict[str, str] = {}  # credentials id -> task id
        self._server: Any = None
        self.port: int | None = None

    # ----- registration -------------------------------------------------------------------------------------

    def start(self) -> int:
        """Listen on the gateway (a free port), once; the port."""
        with self._lock:
            if self._server is None:
                from werkzeug.serving import make_server

                self._server = make_server(GATEWAY, 0, self, threaded=True)
                self.port = self._server.socket.getsockname()[1]
                threading.Thread(target=self._server.serve_forever, daemon=True, name="task-endpoint").start()
            return self.port  # type: ignore[return-value]

    def close(self) -> None:
        with self._lock:
            server, self._server, self.port = self._server, None, None
            self._containers.clear()
            self._credentials.clear()
        if server is not None:
            server.shutdown()
            server.server_close()

    def register(self, task_id: str, names: list[str], with_role: bool) -> dict[str, dict[str, str]]:
        """Each container's environment for the endpoint: metadata URI, credentials URI when the task has a role."""
        port = self.start()
        base = f"http://{GATEWAY}:{port}"
        credentials_id = secrets.token_hex(16)
        environments = {}
        with self._lock:
            if with_role:
                self._credentials[credentials_id] = task_id
            for name in names:
                token = f"{task_id}-{secrets.token_hex(8)}"
                self._containers[token] = (task_id, name)
                environment = {"ECS_CONTAINER_METADATA_URI_V4": f"{base}/v4/{token}"}
                if with_role:
                    environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = f"{base}/v2/credentials/{credentials_id}"
                environments[name] = environment
        return environments

    def unregister(self, task_id: str) -> None:
        with self._lock:
            self._containers = {t: v for t, v in self._containers.items() if v[0] != task_id}
            self._credentials = {c: t for c, t in self._credentials.items() if t != task_id}

    def url(self) -> str | None:
        return f"http://{GATEWAY}:{self.port}" if self.port else None

    # ----- answering ----------------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if not from_task_network(environ):
            return _answer(start_response, 403, {"error": "only a task's containers reach this endpoint"})
        path = environ.get("PATH_INFO", "")
        parts = [p for p in path.split("/") if p]
        if len(parts) >= 2 and parts[0] == "v4" and environ.get("REQUEST_METHOD") == "GET":
            return self._metadata(parts[1], parts[2:], start_response)
        if len(parts) == 3 and parts[:2] == ["v2", "credentials"] and environ.get("REQUEST_METHOD") == "GET":
            with self._lock:
                task_id = self._credentials.get(parts[2])
            document = self.credentials(task_id) if task_id else None
            if document is None:
                return _answer(start_response, 400, {"code": "InvalidIdentifier",
                                                     "message": "Credentials not found for this id"})
            return _answer(start_response, 200, document)
        from emulator import hooks

        gate = hooks.CONFIG.get("gate")
        if gate is None:
            return _answer(start_response, 404, {"error": f"no such endpoint: {path[:100]}"})
        environ[FROM_TASK_NETWORK] = True
        return gate(environ, start_response)

    def _metadata(self, token: str, rest: list[str], start_response: Callable) -> list[bytes]:
        with self._lock:
            found = self._containers.get(token)
        if found is None:
            return _answer(start_response, 404, {"error": "no container of a running task has this token"})
        task_id, name = found
        routes = {(): (False, "meta"), ("task",): (True, "meta"), ("stats",): (False, "stats"),
                  ("task", "stats"): (True, "stats")}
        route = routes.get(tuple(rest))
        if route is None:
            return _answer(start_response, 404, {"error": f"no such metadata path: /{'/'.join(rest)[:100]}"})
        try:
            return _answer(start_response, 200, self.answer(task_id, name, *route))
        except KeyError:
            return _answer(start_response, 404, {"error": "the task is gone"})


def _answer(start_response: Callable, status: int, body: Any) -> list[bytes]:
    data = json.dumps(body).encode()
    reasons = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found"}
    start_response(f"{status} {reasons[status]}", [("Content-Type", "application/json"),
                                                   ("Content-Length", str(len(data)))])
    return [data]
