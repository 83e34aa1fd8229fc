"""Starting, finding and stopping the embedded backend: the client's side of it.

The backend itself is the ``emulator`` package, a program of its own: this module starts it as a process
(``python -m emulator serve``) and talks to it over HTTP only, never importing it. Every kernel on the machine
shares one server (its state lives in the server process), so notebook 02 sees what notebook 01 created.
``start`` is idempotent; ``connect(backend="local")`` calls it.

The port comes from ``FARGATE_LAB_PORT`` (default 4599). The backend accepts only requests signed with the
access key it keeps in its state directory (``helpers.local.auth``); ``CREDENTIALS`` is that key.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from helpers.errors import BackendError, BackendPortInUse, InvalidParameter
from helpers.local.auth import LiveCredentials, credentials_path, read_credentials, signed_request

PORT_ENV = "FARGATE_LAB_PORT"
FAULTS_ENV = "FARGATE_LAB_FAULTS"
#: The checkout that holds both packages: the emulator runs with it as its working directory.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PORT = 4599
HOST = "127.0.0.1"
HEALTH_PATH = "/_lab/health"
RESET_PATH = "/_lab/reset"
CLOCK_PATH = "/_lab/clock"
SERVER_NAME = "fargate-lab embedded backend"
DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class ServerInfo:
    """What a running embedded backend says about itself."""

    url: str
    pid: int
    port: int
    docker: bool


def port() -> int:
    """The embedded backend's port, from ``FARGATE_LAB_PORT`` or the default."""
    raw = os.environ.get(PORT_ENV, str(DEFAULT_PORT))
    try:
        value = int(raw)
    except ValueError:
        raise BackendError(f"{PORT_ENV}={raw!r} is not a port number; use an integer from 1024 to 65535") from None
    if not 1024 <= value <= 65535:
        raise BackendError(f"{PORT_ENV}={value} is out of range; use an integer from 1024 to 65535")
    return value


def url(p: int | None = None) -> str:
    return f"http://{HOST}:{p or port()}"


def state_dir() -> Path:
    """Where the server's log and start lock live (``FARGATE_LAB_STATE_DIR`` or ~/.cache)."""
    base = os.environ.get("FARGATE_LAB_STATE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "fargate-lab"
    )
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


def log_path(p: int | None = None) -> Path:
    return state_dir() / f"server-{p or port()}.log"


def credentials() -> dict[str, str]:
    """The access key the backends of this state directory accept (made by the emulator when missing)."""
    return read_credentials(state_dir(), PROJECT_ROOT)  # type: ignore[return-value]


#: ``**CREDENTIALS`` in a session's arguments: the key of this state directory's backends, read at each use.
CREDENTIALS = LiveCredentials(credentials)


def rotate_credentials() -> Path:
    """A new access key for this state directory; running backends refuse the old one from their next request."""
    made = subprocess.run([sys.executable, "-m", "emulator", "credentials", "--rotate"], capture_output=True,
                          text=True, cwd=PROJECT_ROOT)
    if made.returncode != 0:
        raise BackendError(f"the credentials were not rotated: {made.stderr.strip()}")
    return credentials_path(state_dir())


def shell_lines(p: int | None = None) -> list[str]:
    """``export`` lines that point the AWS CLI or any boto3 tool at this backend with its key."""
    import shlex

    keys = credentials()
    return [f"export AWS_ACCESS_KEY_ID={shlex.quote(keys['aws_access_key_id'])}",
            f"export AWS_SECRET_ACCESS_KEY={shlex.quote(keys['aws_secret_access_key'])}",
            f"export AWS_ENDPOINT_URL={url(p)}", f"export AWS_DEFAULT_REGION={DEFAULT_REGION}"]


def control(path: str, p: int | None = None, method: str = "GET", body: dict | bytes | None = None,
            timeout: float = 10.0) -> dict:
    """A signed call to the backend's control API (``/_lab/...``, ``/moto-api/...``); its JSON answer.

    Raises urllib's HTTPError for an error answer and URLError/OSError when nothing answers.
    """
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    headers = {"Content-Type": "application/json"} if data is not None else {}
    request = signed_request(url(p) + path, credentials(), method, data, headers)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read() or b"{}")


def health(p: int | None = None) -> dict:
    """What the backend says about itself (pid, runtime, faults and their counts, clock): signed."""
    return control(HEALTH_PATH, p, timeout=5)


def _get_json(address: str, timeout: float = 2.0, method: str = "GET") -> dict | None:
    """A signed control-API call's answer, or None when nothing (or no backend of this installation) answers."""
    keys = read_credentials(state_dir(), PROJECT_ROOT, create=False)
    request = signed_request(address, keys, method) if keys else urllib.request.Request(address, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        if error.code == 403:
            raise BackendError(
                f"an embedded backend answers at {address.split('/_lab')[0]} but refuses this installation's key "
                f"({credentials_path(state_dir())}): it was started with another FARGATE_LAB_STATE_DIR. Use that "
                "directory, or stop that backend (it is not one of this installation's).") from None
        return None
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _port_open(p: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, p)) == 0


def status(p: int | None = None) -> ServerInfo | None:
    """The running embedded backend on this port, or None when none answers."""
    p = p or port()
    body = _get_json(url(p) + HEALTH_PATH)
    if not body or body.get("server") != SERVER_NAME:
        return None
    if "pid" not in body:  # answered unsigned: this state directory has no key, so the backend is not ours
        raise BackendError(f"an embedded backend answers on port {p}, but it keeps its key in another state "
                           f"directory than {state_dir()} (FARGATE_LAB_STATE_DIR); use that one, or another port")
    return ServerInfo(url=url(p), pid=int(body["pid"]), port=p, docker=bool(body.get("docker")))


def _check_faults(spec: str | None) -> None:
    """Ask the emulator whether a fault spec is valid; raise InvalidParameter with its answer otherwise."""
    if not spec:
        return
    check = subprocess.run([sys.executable, "-m", "emulator", "check-faults", spec], capture_output=True, text=True,
                           cwd=PROJECT_ROOT)
    if check.returncode != 0:
        valid = check.stderr.strip().split("which is not valid: ", 1)[-1] or "see python -m helpers.local --help"
        raise InvalidParameter("faults", spec, valid)


def _check_port_free(p: int) -> None:
    if _port_open(p):
        raise BackendPortInUse(
            f"port {p} on {HOST} is in use by another program, not by the embedded backend. "
            f"Stop that program, or choose a free port: export {PORT_ENV}=<port> (1024-65535)."
        )


def start(
    p: int | None = None, timeout: float = 60.0, faults: str | None = None, runtime: str | None = None
) -> ServerInfo:
    """Start the embedded backend detached, or reuse the one already running; return once it answers."""
    p = p or port()
    running = status(p)
    if running:
        return running
    faults = faults or os.environ.get(FAULTS_ENV) or None
    _check_faults(faults)  # a bad spec fails here, with what would be valid, not in the detached server
    with open(state_dir() / f"start-{p}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two kernels starting at once start one server
        running = status(p)
        if running:
            return running
        _check_port_free(p)
        log = open(log_path(p), "ab")
        command = [sys.executable, "-m", "emulator", "serve", "--port", str(p)]
        if faults:
            command += ["--faults", faults]
        if runtime:
            command += ["--runtime", runtime]
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True, cwd=PROJECT_ROOT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = status(p)
            if info:
                return info
            if process.poll() is not None:
                tail = log_path(p).read_text(errors="replace")[-2000:]
                if _port_open(p):
                    _check_port_free(p)
                raise BackendError(f"the embedded backend exited at start (code {process.returncode}); its log says:\n{tail}")
            time.sleep(0.1)
        process.kill()
        raise BackendError(f"the embedded backend did not answer within {timeout:.0f} s; see {log_path(p)}")


def stop(p: int | None = None, timeout: float = 30.0) -> bool:
    """Stop the embedded backend on this port; True when one was running."""
    info = status(p)
    if not info:
        return False
    os.kill(info.pid, signal.SIGTERM)  # the server removes its containers on SIGTERM
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _pid_alive(info.pid):
        time.sleep(0.1)
    if _pid_alive(info.pid):
        os.kill(info.pid, signal.SIGKILL)
    return True


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of this process still "exists"; reap it if it is ours.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def reset(p: int | None = None) -> None:
    """Forget every resource in the embedded backend (and remove its containers)."""
    p = p or port()
    if not status(p):
        raise BackendError(f"no embedded backend answers on port {p}; start it with: python -m helpers.local start")
    if _get_json(url(p) + RESET_PATH, timeout=60, method="POST") is None:
        raise BackendError(f"the embedded backend on port {p} did not reset; see {log_path(p)}")


def _clock_request(p: int | None, body: dict | None) -> dict:
    """GET (no body) or POST the emulator's clock; its answer, or BackendError with the emulator's reason."""
    p = p or port()
    try:
        return control(CLOCK_PATH, p, method="POST" if body is not None else "GET", body=body)
    except urllib.error.HTTPError as error:
        reason = json.loads(error.read() or b"{}").get("error") or str(error)
        raise BackendError(f"the embedded backend on port {p} refused the clock change: {reason}") from None
    except (urllib.error.URLError, OSError) as error:
        raise BackendError(f"no embedded backend answers on port {p} ({error}); start it with: "
                           "python -m helpers.local start") from None


def export_cur(p: int | None = None) -> dict:
    """Have the embedded backend write its CUR 2.0 export now (running tasks billed up to now).

    AWS refreshes an export up to three times a day; the embedded backend writes its own when a task stops and
    when asked here. Answers ``{"line_items": {account: count}, "bucket": ..., "prefix": ...}``.
    """
    p = p or port()
    try:
        return control("/_lab/cur-export", p, method="POST", body={})
    except (urllib.error.URLError, OSError) as error:
        raise BackendError(f"no embedded backend answers on port {p} ({error}); start it with: "
                           "python -m helpers.local start") from None


def clock(p: int | None = None) -> dict:
    """The emulator's clock: ``{"mode": "real" | "manual", "now": ISO 8601, "epoch": seconds}``."""
    return _clock_request(p, None)


def set_clock(mode: str, p: int | None = None) -> dict:
    """``"manual"``: the emulator's time stands still until ``advance_clock``; ``"real"``: it runs on from there.

    For tests: a simulated task's lifecycle, the service scheduler's back-off and every timestamp the emulator
    reports follow this clock, so a test advances it instead of sleeping. A backend reset sets it back to real.
    """
    return _clock_request(p, {"mode": mode})


def advance_clock(seconds: float, p: int | None = None) -> dict:
    """Move the emulator's clock forward by ``seconds`` (>= 0); in manual mode, the only way its time passes."""
    return _clock_request(p, {"advance_seconds": seconds})


def listener_urls(p: int | None = None) -> dict[str, str]:
    """Where each ELBv2 listener of the embedded backend is reached here: ``{listener ARN: "http://127.0.0.1:N"}``.

    AWS's ``DNSName`` does not resolve on this machine; each HTTP listener listens on 127.0.0.1 on a port the
    system picked when it was created (``GET /_lab/listeners``), so backends side by side never collide.
    """
    p = p or port()
    try:
        answer = control("/_lab/listeners", p)
    except (urllib.error.URLError, OSError) as error:
        raise BackendError(f"no embedded backend answers on port {p} ({error}); start it with: "
                           "python -m helpers.local start") from None
    return {item["ListenerArn"]: item["Url"] for item in answer["listeners"]}
