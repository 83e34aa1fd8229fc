"""The task metadata endpoint v4's answers, in the shapes AWS documents for Fargate.

Pure functions over what the Docker runtime knows of a task (its launch request, its state, its containers'
Docker ids and address). ``Limits`` of the task are in vCPUs and MiB; a container's in CPU units and MiB.
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-metadata-endpoint-v4-fargate-response.html
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-metadata-endpoint-v4-fargate-examples.html
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from emulator.executor import LaunchRequest, TaskState

_CONTAINER_STATUS = {"PENDING": "PENDING", "RUNNING": "RUNNING", "STOPPED": "STOPPED"}


def _stamp(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if moment else None


def _units(value: Any, unit: str) -> int | None:
    if value in (None, ""):
        return None
    text = str(value).strip().lower()
    return int(float(text[: -len(unit)]) * 1024) if text.endswith(unit) else int(float(text))


def _labels(request: LaunchRequest, name: str) -> dict[str, str]:
    definition = request.task_definition
    return {"com.amazonaws.ecs.cluster": request.cluster, "com.amazonaws.ecs.container-name": name,
            "com.amazonaws.ecs.task-arn": request.task_arn,
            "com.amazonaws.ecs.task-definition-family": str(definition.get("family", "")),
            "com.amazonaws.ecs.task-definition-version": str(definition.get("revision", ""))}


def container(request: LaunchRequest, state: TaskState, name: str, docker_id: str | None, image: str,
              image_id: str, address: str | None) -> dict[str, Any]:
    """``${ECS_CONTAINER_METADATA_URI_V4}``: one container's metadata."""
    definition = next(d for d in request.task_definition.get("containerDefinitions", []) if d.get("name") == name)
    current = state.containers[name]
    logs = definition.get("logConfiguration") or {}
    document: dict[str, Any] = {
        "DockerId": docker_id or "", "Name": name, "DockerName": name, "Image": definition.get("image", image),
        "ImageID": image_id, "Labels": _labels(request, name),
        "DesiredStatus": "STOPPED" if state.stopping_at else "RUNNING",
        "KnownStatus": _CONTAINER_STATUS.get(current.last_status, current.last_status),
        "Limits": {"CPU": int(definition.get("cpu") or 0),
                   "Memory": int(definition.get("memory") or _units(request.task_definition.get("memory"), "gb") or 0)},
        "CreatedAt": _stamp(state.pull_stopped_at), "StartedAt": _stamp(state.started_at), "Type": "NORMAL",
        "ContainerARN": f"{request.task_arn.replace(':task/', ':container/', 1)}/{name}",
        "Networks": [{"NetworkMode": "awsvpc", "IPv4Addresses": [address] if address else []}],
    }
    if logs.get("logDriver"):
        document["LogDriver"] = logs["logDriver"]
        document["LogOptions"] = dict(logs.get("options") or {})
    if current.exit_code is not None:
        document["ExitCode"] = current.exit_code
    return {k: v for k, v in document.items() if v is not None}


def task(request: LaunchRequest, state: TaskState, containers: list[dict[str, Any]]) -> dict[str, Any]:
    """``${ECS_CONTAINER_METADATA_URI_V4}/task``: the task's metadata and every container's."""
    definition = request.task_definition
    overrides = request.overrides or {}
    cpu = _units(overrides.get("cpu") or definition.get("cpu"), "vcpu")
    memory = _units(overrides.get("memory") or definition.get("memory"), "gb")
    ephemeral = (definition.get("ephemeralStorage") or {}).get("sizeInGiB") or 20
    document: dict[str, Any] = {
        "Cluster": request.cluster, "TaskARN": request.task_arn, "Family": definition.get("family", ""),
        "Revision": str(definition.get("revision", "")),
        "DesiredStatus": "STOPPED" if state.stopping_at else "RUNNING", "KnownStatus": state.last_status,
        "Limits": {"CPU": cpu / 1024 if cpu else None, "Memory": memory},
        "PullStartedAt": _stamp(state.pull_started_at), "PullStoppedAt": _stamp(state.pull_stopped_at),
        "AvailabilityZone": request.availability_zone or None, "LaunchType": "FARGATE",
        "Containers": containers,
        "EphemeralStorageMetrics": {"Utilized": 0, "Reserved": int(ephemeral) * 1024},
    }
    if request.group.startswith("service:"):
        document["ServiceName"] = request.group.split(":", 1)[1]
    document["Limits"] = {k: v for k, v in document["Limits"].items() if v is not None}
    return {k: v for k, v in document.items() if v is not None}
