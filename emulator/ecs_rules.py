"""ECS's request rules that moto does not apply, checked on the wire before moto sees the request.

RegisterTaskDefinition (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RegisterTaskDefinition.html
and the task definition parameters page of the Developer Guide): task-level ``cpu`` "1 vCPU" and ``memory``
"2 GB" are stored as "1024" and "2048"; the containers' hard memory limits may not sum over the task's memory;
under ``awsvpc`` a port mapping's ``hostPort`` must equal its ``containerPort``; at least one container must be
essential. Each is a ``ClientException``.

RunTask (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RunTask.html): a subnet or security group
that does not exist is ECS's ``InvalidParameterException`` (moto lets EC2's own error through); the EC2 launch
type on a cluster without container instances answers 200 with a ``failures`` entry, "No Container Instances
were found in your cluster." (moto answers HTTP 500).

Every ECS call that carries ``tags`` has them checked against ECS's tag rules (``emulator/ecs_tags.py``).
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Callable, Iterable
from typing import Any

from emulator.ecs_tags import TAGGED_OPERATIONS, tag_problem
from emulator.faults import Call, error_response, identify

_CREDENTIAL = re.compile(r"Credential=([^/]+)/\d{8}/([^/]+)/")
_NUMBER = re.compile(r"^\s*(\d*\.?\d+)\s*(vcpu|gb)?\s*$", re.IGNORECASE)


class RuleBroken(Exception):
    """A request ECS refuses: ``code`` (ClientException, InvalidParameterException) and its message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def to_units(value: Any, unit: str) -> str | None:
    """"1 vCPU" -> "1024", "2 GB" -> "2048", "512" -> "512" (``unit`` is "vcpu" or "gb"); None if unreadable."""
    match = _NUMBER.match(str(value))
    if not match:
        return None
    number, given = float(match.group(1)), (match.group(2) or "").lower()
    if given and given != unit:
        return None
    result = number * 1024 if given else number
    return str(int(result)) if result == int(result) else None


def check_task_definition(params: dict[str, Any]) -> dict[str, Any]:
    """The request as ECS stores it (units converted), or RuleBroken with ECS's ClientException."""
    params = dict(params)
    for key, unit in (("cpu", "vcpu"), ("memory", "gb")):
        if params.get(key) not in (None, ""):
            converted = to_units(params[key], unit)
            if converted is None:
                raise RuleBroken("ClientException", f"Invalid '{key}' setting for the task: {params[key]!r}.")
            params[key] = converted
    containers = params.get("containerDefinitions") or []
    if containers and not any(c.get("essential", True) for c in containers):
        raise RuleBroken("ClientException", "Task definition does not have any essential container. At least one "
                                            "container must be marked essential.")
    if params.get("networkMode") == "awsvpc":
        for container in containers:
            for mapping in container.get("portMappings") or []:
                host, port = mapping.get("hostPort"), mapping.get("containerPort")
                if host not in (None, 0) and port is not None and int(host) != int(port):
                    raise RuleBroken("ClientException", "When networkMode=awsvpc, the host ports and container "
                                                        "ports in port mappings must match.")
    task_memory = params.get("memory")
    if task_memory not in (None, ""):
        total = sum(int(c.get("memory") or 0) for c in containers)
        if total > int(task_memory):
            raise RuleBroken("ClientException", f"The sum of the containers' memory ({total} MiB) is greater than "
                                                f"the task's memory ({task_memory} MiB).")
        for container in containers:
            reserved = int(container.get("memoryReservation") or 0)
            if reserved > int(task_memory):
                raise RuleBroken("ClientException", f"Invalid 'memoryReservation' setting for container "
                                                    f"'{container.get('name')}': greater than the task's memory.")
    return params


def _account_and_region(environ: dict[str, Any]) -> tuple[str, str]:
    match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    access_key, region = (match.group(1), match.group(2)) if match else ("", "us-east-1")
    account = os.environ.get("MOTO_ACCOUNT_ID") or environ.get("HTTP_X_MOTO_ACCOUNT_ID")
    if not account:
        from moto.iam.models import get_account_id_from

        account = get_account_id_from(access_key)
    return account, region


def check_run_task(params: dict[str, Any], account: str, region: str) -> dict[str, Any] | None:
    """RunTask's answer when ECS answers it without starting anything (a ``failures`` entry), else None."""
    from moto.ec2 import ec2_backends
    from moto.ecs.models import ecs_backends

    config = (params.get("networkConfiguration") or {}).get("awsvpcConfiguration") or {}
    ec2 = ec2_backends[account][region]
    known_subnets = {s for zone in ec2.subnets.values() for s in zone}
    for subnet in config.get("subnets") or []:
        if subnet not in known_subnets:
            raise RuleBroken("InvalidParameterException", f"Error retrieving subnet information for [{subnet}]: "
                                                          f"The subnet ID '{subnet}' does not exist")
    for group in config.get("securityGroups") or []:
        if ec2.get_security_group_from_id(group) is None:
            raise RuleBroken("InvalidParameterException", f"Error retrieving security group information for "
                                                          f"[{group}]: The security group '{group}' does not exist")
    if params.get("launchType") != "EC2":
        return None
    ecs = ecs_backends[account][region]
    name = str(params.get("cluster") or "default").split("/")[-1]
    cluster = ecs.clusters.get(name)
    if cluster is None or ecs.container_instances.get(name):
        return None  # moto answers ClusterNotFoundException, or places the task on an instance
    return {"tasks": [], "failures": [{"arn": cluster.arn, "reason": "No Container Instances were found in your "
                                                                     "cluster."}]}


class EcsRulesLayer:
    """WSGI middleware (see ``hooks.MIDDLEWARE``): refuses what ECS refuses, stores what ECS stores."""

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes] | None:
        call = identify(environ)
        if call is None or call.service != "ecs" or call.operation not in (
                "RegisterTaskDefinition", "RunTask", *TAGGED_OPERATIONS):
            return None
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            return None
        try:
            problem = tag_problem(params.get("tags")) if isinstance(params, dict) else None
            if problem:
                raise RuleBroken("InvalidParameterException", f"Invalid tags: {problem}.")
            if call.operation not in ("RegisterTaskDefinition", "RunTask"):
                return None
            if call.operation == "RegisterTaskDefinition":
                stored = check_task_definition(params)
                if stored != params:
                    data = json.dumps(stored).encode()
                    environ["wsgi.input"] = io.BytesIO(data)
                    environ["CONTENT_LENGTH"] = str(len(data))
                return None
            answer = check_run_task(params, *_account_and_region(environ))
        except RuleBroken as broken:
            return _error(start_response, call, broken)
        if answer is None:
            return None
        data = json.dumps(answer).encode()
        start_response("200 OK", [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(data)))])
        return [data]


def _error(start_response: Callable, call: Call, broken: RuleBroken) -> list[bytes]:
    line, headers, body = error_response(call, 400, broken.code, broken.message)
    start_response(line, headers)
    return [body]
