"""ECS services behind a load balancer: each task's address is a target of the service's target groups.

As ECS does for a service with ``loadBalancers``: a task's private IPv4 address and the entry's ``containerPort``
are registered in the entry's target group once the task is RUNNING, and deregistered once it is being stopped
(the target then drains for the group's ``deregistration_delay.timeout_seconds``). The scheduler calls ``sync``
on every pass over a service; what is registered is read from the target group itself, so nothing here needs
keeping across a restart.

How the load balancer reaches a task here, while DescribeTargetHealth shows the task's address as AWS does: a
container that really runs (Docker runtime) has its port published on 127.0.0.1, and the executor's ``host_port``
says which (an awsvpc task reports no networkBindings, as on AWS); ``emulator.elbv2.LOCAL_ADDRESSES`` maps the
task's address and port there. A simulated task has nothing listening: its target passes its health checks
without a probe, on the checker's schedule, and a request forwarded to it gets a 502.
"""

from __future__ import annotations

import logging
from typing import Any

from emulator import elbv2

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


def _reach(executor: Any, task: Any, container: str, ports: set[int]) -> dict[int, tuple[str, int] | str] | None:
    """Where each of ``ports`` of the task is reached here; None while the runtime has not published them yet."""
    host_port = getattr(executor, "host_port", None)
    if host_port is None:  # the simulated runtime: nothing listens
        return {port: elbv2.SIMULATED for port in ports}
    found = {port: host_port(task.id, container, port) for port in ports}
    if any(value is None for value in found.values()):
        return None
    return {port: ("127.0.0.1", value) for port, value in found.items()}


def entries(service: Any) -> list[dict]:
    """The service's ``loadBalancers`` entries that name a target group."""
    return [e for e in getattr(service, "load_balancers", []) or [] if e.get("targetGroupArn")]


def _balancer_backend(ecs_backend: Any) -> Any:
    from moto.elbv2.models import elbv2_backends

    return elbv2_backends[ecs_backend.account_id][ecs_backend.region_name]


def sync(ecs_backend: Any, service: Any, tasks: list, executor: Any) -> None:
    """Register the service's RUNNING tasks and deregister its stopping ones, in each of its target groups."""
    if not entries(service):
        return
    balancer_backend = _balancer_backend(ecs_backend)
    for entry in entries(service):
        group = balancer_backend.target_groups.get(entry["targetGroupArn"])
        if group is None:
            continue
        port = int(entry.get("containerPort") or group.port)
        for task in tasks:
            where = address(task)
            if where is None:
                continue
            key = f"{where}:{port}"
            live = task.last_status != "STOPPED" and task.desired_status != "STOPPED"
            try:
                if live and task.last_status == "RUNNING" and key not in group.targets:
                    reached = _reach(executor, task, entry.get("containerName", ""), _ports(group, port))
                    if reached is None:
                        continue  # published on the next pass
                    for target_port, local in reached.items():
                        elbv2.LOCAL_ADDRESSES[(where, target_port)] = local
                    balancer_backend.register_targets(group.arn, [{"Id": where, "Port": port}])
                elif not live and key in group.targets:
                    balancer_backend.deregister_targets(group.arn, [{"Id": where, "Port": port}])
            except Exception:  # noqa: BLE001 - one target's trouble must not stop the scheduler's pass
                log.exception("target %s of service %s in %s", key, service.name, group.name)
