"""ECS services behind a load balancer: each task's address is a target of the service's target groups.

As ECS does for a service with ``loadBalancers``: a task's private IPv4 address and the entry's ``containerPort``
are registered in the entry's target group once the task is RUNNING, and deregistered once it is being stopped.
A stop (StopTask, the scheduler) first deregisters: the target drains for the group's
``deregistration_delay.timeout_seconds`` on the emulator's clock while the task stays DEACTIVATING (desired
STOPPED) with its containers running (``drain_first``, ``held``); then the executor stops it. The scheduler calls
``sync`` on every pass over a service; what is registered is read from the target group itself. A held stop
(``DRAINING``) is not kept across a restart.

How the load balancer reaches a task here, while DescribeTargetHealth shows the task's address as AWS does: a
container that really runs (Docker runtime) has its port published on 127.0.0.1, and the executor's ``host_port``
says which (an awsvpc task reports no networkBindings, as on AWS); ``emulator.elbv2.LOCAL_ADDRESSES`` maps the
task's address and port there. A simulated task has nothing listening: its target passes its health checks
without a probe, on the checker's schedule, and a request forwarded to it gets a 502.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from emulator import clock, elbv2

log = logging.getLogger("emulator.ecs_targets")


def address(task: Any) -> str | None:
    """The task's private IPv4 address (its ENI attachment's ``privateIPv4Address``)."""
    for attachment in getattr(task, "attachments", []) or []:
        for detail in attachment.get("details", []):
            if detail.get("name") == "privateIPv4Address":
                return detail.get("value")
    return None


def _ports(group: Any, port: int) -> set[int]:
    """The ports the load balancer uses on a target: the traffic port, and the health check's own if it has one."""
    check = str(group.health_check_port or "traffic-port")
    return {port} | ({int(check)} if check.isdigit() else set())


def _mapped(ecs_backend: Any, task: Any, container: str) -> set[int]:
    """The container ports ``container`` of the task's definition maps."""
    try:
        definitions = ecs_backend.describe_task_definition(task.task_definition_arn).container_definitions
    except Exception:  # noqa: BLE001 - a deleted revision: its ports are unknown
        return set()
    return {int(m["containerPort"]) for c in definitions if c.get("name") == container
            for m in c.get("portMappings") or [] if m.get("containerPort") is not None}


def _reach(executor: Any, task: Any, container: str, ports: set[int],
           mapped: set[int]) -> dict[int, tuple[str, int] | str] | None:
    """Where each of ``ports`` of the task is reached here; None while the runtime has not published them yet.

    A simulated task answers on the ports its container maps and refuses the others (a health check on a port
    nothing listens on fails, as on AWS)."""
    host_port = getattr(executor, "host_port", None)
    if host_port is None:  # the simulated runtime: nothing listens
        return {port: elbv2.SIMULATED if port in mapped else elbv2.UNREACHABLE for port in ports}
    found = {port: host_port(task.id, container, port) for port in ports}
    if any(value is None for value in found.values()):
        return None
    return {port: ("127.0.0.1", value) for port, value in found.items()}


def entries(service: Any) -> list[dict]:
    """The service's ``loadBalancers`` entries that name a target group."""
    return [e for e in getattr(service, "load_balancers", []) or [] if e.get("targetGroupArn")]


def _balancer_backend(account_id: str, region: str) -> Any:
    from moto.elbv2.models import elbv2_backends

    return elbv2_backends[account_id][region]


def sync(ecs_backend: Any, service: Any, tasks: list, executor: Any) -> list[str]:
    """Register the service's RUNNING tasks and deregister its stopping ones, in each of its target groups; the
    service events ECS writes for it ("registered 2 targets in (target-group ARN)")."""
    events: list[str] = []
    if not entries(service):
        return events
    balancer_backend = _balancer_backend(ecs_backend.account_id, ecs_backend.region_name)
    for entry in entries(service):
        group = balancer_backend.target_groups.get(entry["targetGroupArn"])
        if group is None:
            continue
        port = int(entry.get("containerPort") or group.port)
        registered = deregistered = 0
        # a stopped task's address may be a new task's already (its ENI's address is free again once released)
        held = {f"{address(t)}:{port}" for t in tasks if t.last_status != "STOPPED" and t.desired_status != "STOPPED"}
        for task in tasks:
            where = address(task)
            if where is None:
                continue
            key = f"{where}:{port}"
            live = task.last_status != "STOPPED" and task.desired_status != "STOPPED"
            try:
                if live and task.last_status == "RUNNING" and key not in group.targets:
                    name = entry.get("containerName", "")
                    reached = _reach(executor, task, name, _ports(group, port), _mapped(ecs_backend, task, name))
                    if reached is None:
                        continue  # published on the next pass
                    for target_port, local in reached.items():
                        elbv2.LOCAL_ADDRESSES[(where, target_port)] = local
                    balancer_backend.register_targets(group.arn, [{"Id": where, "Port": port}])
                    registered += 1
                elif not live and key in group.targets and key not in held:
                    balancer_backend.deregister_targets(group.arn, [{"Id": where, "Port": port}])
                    deregistered += 1
            except Exception:  # noqa: BLE001 - one target's trouble must not stop the scheduler's pass
                log.exception("target %s of service %s in %s", key, service.name, group.name)
        events += [f"{verb} {count} targets in (target-group {group.arn})"
                   for verb, count in (("registered", registered), ("deregistered", deregistered)) if count]
    return events


def registered_in(service: Any, task: Any) -> list[str]:
    """The ARNs of the service's target groups the task is registered in now."""
    where = address(task)
    if where is None or not entries(service):
        return []
    balancer_backend = _balancer_backend(task._account_id, task.region_name)
    found = []
    for entry in entries(service):
        group = balancer_backend.target_groups.get(entry["targetGroupArn"])
        if group is not None and f"{where}:{int(entry.get('containerPort') or group.port)}" in group.targets:
            found.append(group.arn)
    return found


def _health(entry: dict, task: Any) -> Any:
    """What the load balancer knows of the task's target in the entry's group (None: not registered there)."""
    where = address(task)
    key = f"{where}:{int(entry.get('containerPort') or 0)}"
    health = elbv2.HEALTH.get(entry["targetGroupArn"], {}).get(key)
    return None if health is None or health.draining_until is not None else health


def unhealthy(service: Any, task: Any) -> tuple[dict, Any] | None:
    """The first ``loadBalancers`` entry in whose target group the task's target is ``unhealthy``, and its health.

    Read only after ``healthCheckGracePeriodSeconds`` from the task's start: within it, ECS ignores ELB health."""
    if task.started_at is None or task.last_status != "RUNNING":
        return None
    grace = int(getattr(service, "health_check_grace_period_seconds", None) or 0)
    if (clock.now() - task.started_at).total_seconds() < grace:
        return None
    for entry in entries(service):
        health = _health(entry, task)
        if health is not None and health.state == "unhealthy" and elbv2.IN_USE.get(entry["targetGroupArn"]):
            return entry, health
    return None


def in_service(service: Any, task: Any) -> bool:
    """Whether the task's target is ``healthy`` in each of the service's target groups that checks health and is in
    use (a deployment completes only then)."""
    balancer_backend = _balancer_backend(task._account_id, task.region_name) if entries(service) else None
    for entry in entries(service):
        group = balancer_backend.target_groups.get(entry["targetGroupArn"])
        if group is None or not group.health_check_enabled or not elbv2.IN_USE.get(group.arn):
            continue
        health = _health(entry, task)
        if health is None or health.state != "healthy":
            return False
    return True


# -- deregistration delay: a stopping task waits, DEACTIVATING, until its targets have drained ---------------


@dataclass
class Drain:
    """A stop held back while the task's targets drain (ECS's DEACTIVATING), then passed to the executor."""

    until: float  # emulator-clock time the last of its targets has drained
    reason: str
    stop_code: str
    asked_at: datetime
    released: bool = False  # the executor has been told to stop it


#: task id -> its held stop.
DRAINING: dict[str, Drain] = {}


def drain_first(service: Any, task: Any, reason: str, stop_code: str) -> bool:
    """Deregister the task's targets now; True when one drains (in use, a delay above 0): the stop waits for it.

    As ECS does: the task's desired status is STOPPED and it stays DEACTIVATING for the target group's
    ``deregistration_delay.timeout_seconds``; only then are its containers sent SIGTERM."""
    if service is None or not entries(service) or task.id in DRAINING:
        return task.id in DRAINING
    where = address(task)
    balancer_backend = _balancer_backend(task._account_id, task.region_name)
    until = clock.time()
    for entry in entries(service):
        group = balancer_backend.target_groups.get(entry["targetGroupArn"])
        port = int(entry.get("containerPort") or (group.port if group else 0))
        key = f"{where}:{port}"
        if group is None or where is None or key not in group.targets:
            continue
        try:
            balancer_backend.deregister_targets(group.arn, [{"Id": where, "Port": port}])
        except Exception:  # noqa: BLE001 - a target that cannot be deregistered does not hold the stop
            log.exception("deregistering %s of service %s", key, service.name)
            continue
        drained = elbv2.HEALTH.get(group.arn, {}).get(key)
        if drained is not None and drained.draining_until is not None:
            until = max(until, drained.draining_until)
    if until <= clock.time():
        return False
    DRAINING[task.id] = Drain(until, reason, stop_code, clock.now())
    return True


def held(task: Any, last_status: str) -> Drain | None:
    """The task's held stop, while the executor still runs it: once the delay is over the executor is told to stop
    it (SIGTERM, then SIGKILL after stopTimeout), and the hold ends when the executor reports it stopping."""
    drain = DRAINING.get(task.id)
    if drain is None:
        return None
    if last_status != "RUNNING":
        del DRAINING[task.id]
        return None
    if not drain.released and clock.time() >= drain.until:
        from emulator.fidelity import ecs

        drain.released = True
        ecs.executor().stop(task.id, drain.reason, drain.stop_code)
    return drain


# -- CreateService / UpdateService: the loadBalancers entries ECS accepts ---------------------------------


def check_entries(task_definition: Any, load_balancers: list[dict] | None, account_id: str, region: str) -> None:
    """ECS's InvalidParameterException for a ``loadBalancers`` entry it refuses, before anything is created.

    As ECS checks them: the container is named and exists in the task definition and maps the port; the target
    group exists, has target type ``ip`` for ``awsvpc`` tasks, and is attached to a load balancer (a listener or
    rule forwards to it)."""
    from moto.ecs.exceptions import InvalidParameterException

    balancer_backend = _balancer_backend(account_id, region)
    containers = {c.get("name"): c for c in getattr(task_definition, "container_definitions", []) or []}
    for entry in load_balancers or []:
        name, port = entry.get("containerName"), entry.get("containerPort")
        if not name:
            raise InvalidParameterException("Container Name can not be blank.")
        if port is None:
            raise InvalidParameterException("Container Port can not be blank.")
        if name not in containers:
            raise InvalidParameterException(f"The container {name} does not exist in the task definition.")
        mapped = {int(m.get("containerPort")) for m in containers[name].get("portMappings") or []
                  if m.get("containerPort") is not None}
        if int(port) not in mapped:
            raise InvalidParameterException(f"The container {name} did not have a container port {port} defined.")
        arn = entry.get("targetGroupArn")
        if not arn:
            continue  # a Classic Load Balancer by name: not emulated, moto keeps the entry
        group = balancer_backend.target_groups.get(arn)
        if group is None:
            raise InvalidParameterException(f"The target group with targetGroupArn {arn} does not exist.")
        if getattr(task_definition, "network_mode", None) == "awsvpc" and group.target_type != "ip":
            raise InvalidParameterException(
                f"The provided target group {arn} has target type {group.target_type}, which is incompatible with "
                "the awsvpc network mode specified in the task definition.")
        if not group.load_balancer_arns:
            raise InvalidParameterException(
                f"The target group with targetGroupArn {arn} does not have an associated load balancer.")
