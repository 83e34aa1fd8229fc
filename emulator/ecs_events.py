"""ECS's EventBridge events: each task state change, sent to the rules that match it, delivered to their targets.

AWS sends ``ECS Task State Change`` events (source ``aws.ecs``) whose detail is the task as DescribeTasks
shows it, with ``version`` counting its changes
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs_task_events.html, read 2026-12-02). Here a
task's change is seen when the emulator brings it up to date (``emulator.fidelity.ecs.sync``, on every
describe, list, scheduler pass and log read); the event carries the moment of the change from the task's own
timestamps, so a change seen late is still dated right. A change the emulator saw only as a jump (PROVISIONING
straight to STOPPED) still sends the RUNNING event in between when the task started.

The service scheduler (``emulator.fidelity.services``) sends the service's events: ``ECS Deployment State
Change`` (SERVICE_DEPLOYMENT_IN_PROGRESS, _COMPLETED, _FAILED; detail ``eventType``, ``eventName``,
``deploymentId``, ``updatedAt``, ``reason``) and ``ECS Service Action`` (detail ``eventType``, ``eventName``,
``clusterArn``, ``createdAt``, ``reason`` where there is one, no ``version``), as
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs_service_deployment_events.html and
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs_service_events.html show them (read 2026-12-03).

Targets: CloudWatch Logs groups (what the task history uses); each event is one log message, in a log stream
of its own, timestamped with the event's time. Every task change is also handed to ``emulator.cur_export``,
which keeps the emulator's own billing record of its tasks.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from emulator import clock

log = logging.getLogger("emulator.ecs_events")

SOURCE = "aws.ecs"
TASK_STATE_CHANGE = "ECS Task State Change"
DEPLOYMENT_STATE_CHANGE = "ECS Deployment State Change"
SERVICE_ACTION = "ECS Service Action"
#: The deployment state change events the scheduler sends, with their eventType.
DEPLOYMENT_EVENTS = {"SERVICE_DEPLOYMENT_IN_PROGRESS": "INFO", "SERVICE_DEPLOYMENT_COMPLETED": "INFO",
                     "SERVICE_DEPLOYMENT_FAILED": "ERROR"}
#: The service action events the scheduler sends, with their eventType (ECS lists more it has no cause for here).
SERVICE_ACTIONS = {"SERVICE_STEADY_STATE": "INFO", "TASKS_STOPPED": "INFO", "SERVICE_DEPLOYMENT_IN_PROGRESS": "INFO",
                   "SERVICE_DEPLOYMENT_COMPLETED": "INFO", "SERVICE_TASK_START_IMPAIRED": "WARN",
                   "SERVICE_TASK_PLACEMENT_FAILURE": "ERROR"}
#: Listeners of every task change (the CUR export's record); called with the moto task.
LISTENERS: list[Callable[[Any], None]] = []


def _iso(value: Any) -> Any:
    """EventBridge's detail writes times as ISO 8601 with milliseconds (DescribeTasks' JSON has epoch numbers)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return value


def describe(task: Any) -> dict:
    """The task as DescribeTasks shows it: moto's own serializer for the DescribeTasks answer, times as ISO."""
    from moto.core.serialize import XFormedAttributePicker, get_serializer_class
    from moto.core.utils import get_service_model
    from moto.ecs.responses import EC2ContainerServiceResponse

    model = get_service_model("ecs")
    operation = model.operation_model("DescribeTasks")
    picker = XFormedAttributePicker(response_transformers=EC2ContainerServiceResponse.RESPONSE_KEY_PATH_TO_TRANSFORMER)
    serializer = get_serializer_class("ecs", model.protocol)(operation, value_picker=picker)
    body = serializer.serialize({"tasks": [task], "failures": []})["body"]
    detail = json.loads(body)["tasks"][0]

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: (_iso(v) if k.endswith("At") else walk(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(detail)


def _moment(task: Any, status: str) -> datetime:
    """When the task reached ``status``, from its own timestamps (else the emulator's clock now)."""
    names = {"RUNNING": "started_at", "STOPPED": "stopped_at", "DEACTIVATING": "stopping_at",
             "STOPPING": "stopping_at", "DEPROVISIONING": "execution_stopped_at", "PROVISIONING": "created_at",
             "PENDING": "pull_started_at", "ACTIVATING": "pull_stopped_at"}
    value = getattr(task, names.get(status, ""), None)
    return value if isinstance(value, datetime) else clock.now()


def _event(task: Any, detail: dict, at: datetime) -> dict:
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": TASK_STATE_CHANGE, "source": SOURCE,
            "account": task._account_id, "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": task.region_name, "resources": [task.task_arn], "detail": detail}


def deliver(account: str, region: str, event: dict, at: datetime) -> int:
    """Send ``event`` to every enabled rule of the default bus whose pattern matches; how many targets got it."""
    from moto.events.models import events_backends

    backend = events_backends[account][region]
    bus = backend.event_buses.get("default")
    delivered = 0
    for rule in list(bus.rules.values()) if bus else []:
        if rule.state != "ENABLED" or not rule.event_pattern.matches_event(event):
            continue
        for target in rule.targets:
            delivered += _to_target(account, region, target["Arn"], event, at)
    return delivered


def _to_target(account: str, region: str, arn: str, event: dict, at: datetime) -> int:
    """Put ``event`` in a log group; 0 when the group is gone (AWS drops it too) or the target another kind."""
    from moto.logs.models import logs_backends

    if ":logs:" not in arn or ":log-group:" not in arn:
        return 0  # only CloudWatch Logs targets are delivered here
    group = arn.split(":log-group:", 1)[1].removesuffix(":*")
    logs = logs_backends[account][region]
    if group not in logs.groups:
        return 0
    logs.create_log_stream(group, event["id"])
    logs.put_log_events(group, event["id"], [{"timestamp": int(at.timestamp() * 1000), "message": json.dumps(event)}])
    return 1


def task_changed(task: Any, previous: str | None) -> None:
    """The task's status went from ``previous`` (None: it is new) to its current one: send the events."""
    status = task.last_status
    try:
        if previous not in (None, "RUNNING") and status == "STOPPED" and task.started_at is not None \
                and previous in ("PROVISIONING", "PENDING", "ACTIVATING"):
            _send(task, "RUNNING")
        _send(task, status)
    except Exception:  # noqa: BLE001 - an event lost must not break DescribeTasks
        log.exception("task state change event of %s failed", task.id)
    for listener in list(LISTENERS):
        try:
            listener(task)
        except Exception:  # noqa: BLE001
            log.exception("task change listener failed")


#: Task ARN -> how many state change events it has sent (the detail's ``version``), kept beside moto's tasks.
VERSIONS: dict[str, int] = {}


def _send(task: Any, status: str) -> None:
    count = VERSIONS.get(task.task_arn, 0) + 1
    VERSIONS[task.task_arn] = count
    detail = describe(task)
    detail["lastStatus"] = status
    detail["version"] = count
    at = _moment(task, status)
    detail["updatedAt"] = _iso(at)
    deliver(task._account_id, task.region_name, _event(task, detail, at), at)


def _service_event(service: Any, detail_type: str, detail: dict, at: datetime) -> None:
    event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": detail_type, "source": SOURCE,
             "account": service._account_id, "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
             "region": service.region_name, "resources": [service.arn], "detail": detail}
    try:
        deliver(service._account_id, service.region_name, event, at)
    except Exception:  # noqa: BLE001 - an event lost must not stop the scheduler
        log.exception("%s event of service %s failed", detail_type, service.name)


def service_action(service: Any, name: str, reason: str | None = None) -> None:
    """An ``ECS Service Action`` event of ``service`` (``name`` one of SERVICE_ACTIONS), dated now."""
    at = clock.now()
    detail = {"eventType": SERVICE_ACTIONS[name], "eventName": name, "clusterArn": service.cluster_arn,
              "createdAt": _iso(at)}
    if reason:
        detail["reason"] = reason
    _service_event(service, SERVICE_ACTION, detail, at)


def deployment_changed(service: Any, deployment: dict, name: str, reason: str) -> None:
    """An ``ECS Deployment State Change`` event of ``deployment`` (and the service action ECS sends beside the
    in-progress and completed ones)."""
    at = clock.now()
    detail = {"eventType": DEPLOYMENT_EVENTS[name], "eventName": name, "deploymentId": deployment["id"],
              "updatedAt": _iso(deployment.get("updatedAt") or at), "reason": reason}
    _service_event(service, DEPLOYMENT_STATE_CHANGE, detail, at)
    if name in SERVICE_ACTIONS:
        service_action(service, name)
