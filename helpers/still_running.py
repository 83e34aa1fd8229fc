"""What still runs after a run of the notebooks: services and tasks, and the ports their containers answer on.

``python -m helpers run`` ends with this, so whoever ran the lab knows what keeps running (and, on AWS, keeps
costing) and how to stop it. Services and tasks come from the ECS API. A Fargate task (awsvpc) has no host port
on AWS, so ECS reports none; the embedded backend publishes its tasks' ports on 127.0.0.1, and the Docker engine
says which: each container it runs carries its backend's port and its task's id as labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3

from helpers.engine import docker_client

#: The labels the embedded backend puts on every container it runs (``docker ps --filter label=...``).
BACKEND_PORT_LABEL = "fargate-lab.backend-port"
TASK_LABEL = "fargate-lab.task-id"
#: How many task ARNs ``describe_tasks`` takes at once (ECS's limit).
DESCRIBE_TASKS_MAX = 100


@dataclass
class Running:
    """A service (or the tasks a cluster runs outside any service) with its running tasks and their ports."""

    region: str
    cluster: str
    service: str | None  # None: tasks started by run_task
    tasks: int
    desired: int | None = None
    ports: list[str] = field(default_factory=list)  # "127.0.0.1:8080 -> 8080"

    def __str__(self) -> str:
        what = f"service {self.cluster}/{self.service}" if self.service else f"cluster {self.cluster}"
        count = f"{self.tasks} of {self.desired} task(s)" if self.desired is not None else f"{self.tasks} task(s)"
        ports = f"; ports {', '.join(self.ports)}" if self.ports else ""
        return f"{self.region} {what}: {count} running{ports}"


def _all(client: Any, operation: str, key: str, **kwargs: Any) -> list[str]:
    return [item for page in client.get_paginator(operation).paginate(**kwargs) for item in page[key]]


def published_ports(backend_port: int) -> dict[str, list[str]]:
    """Task id -> "127.0.0.1:HOST -> PORT/tcp" for each port the embedded backend on ``backend_port`` published
    (empty when no Docker engine answers: its tasks are simulated then)."""
    client = docker_client()
    if client is None:
        return {}
    found: dict[str, list[str]] = {}
    try:
        for container in client.containers.list(filters={"label": f"{BACKEND_PORT_LABEL}={backend_port}"}):
            task = container.labels.get(TASK_LABEL, "")
            for port, hosts in (container.ports or {}).items():
                found.setdefault(task, []).extend(f"{h['HostIp']}:{h['HostPort']} -> {port}" for h in hosts or [])
    finally:
        client.close()
    return found


def _ports(task: dict, published: Mapping[str, list[str]]) -> list[str]:
    bound = [f"{b.get('bindIP', '')}:{b['hostPort']} -> {b['containerPort']}/{b.get('protocol', 'tcp')}"
             for container in task.get("containers", []) for b in container.get("networkBindings", [])
             if b.get("hostPort")]
    return bound + list(published.get(task["taskArn"].rsplit("/", 1)[-1], []))


def in_region(session: boto3.Session, region: str, published: Mapping[str, list[str]] | None = None) -> list[Running]:
    """Every service with a desired or running task, and every cluster's tasks outside services, in ``region``.

    ``published``: ``published_ports`` of the embedded backend, for the ports ECS does not report."""
    published = published or {}
    ecs = session.client("ecs", region_name=region)
    found: list[Running] = []
    for cluster in _all(ecs, "list_clusters", "clusterArns"):
        name = cluster.rsplit("/", 1)[-1]
        arns = _all(ecs, "list_tasks", "taskArns", cluster=cluster, desiredStatus="RUNNING")
        tasks = [t for i in range(0, len(arns), DESCRIBE_TASKS_MAX)
                 for t in ecs.describe_tasks(cluster=cluster, tasks=arns[i:i + DESCRIBE_TASKS_MAX])["tasks"]]
        by_group: dict[str | None, list[dict]] = {}
        for task in tasks:
            group = task.get("group", "")
            by_group.setdefault(group.removeprefix("service:") if group.startswith("service:") else None,
                                []).append(task)
        services = _all(ecs, "list_services", "serviceArns", cluster=cluster)
        for i in range(0, len(services), 10):
            for service in ecs.describe_services(cluster=cluster, services=services[i:i + 10])["services"]:
                mine = by_group.pop(service["serviceName"], [])
                if service.get("desiredCount") or mine:
                    found.append(Running(region, name, service["serviceName"], len(mine), service.get("desiredCount"),
                                         sorted({p for t in mine for p in _ports(t, published)})))
        for group, rest in by_group.items():
            found.append(Running(region, name, group, len(rest), None, sorted({p for t in rest for p in _ports(t, published)})))
    return found


def everywhere(session: boto3.Session, regions: list[str],
               published: Mapping[str, list[str]] | None = None) -> list[Running]:
    """``in_region`` for each region, in order."""
    return [running for region in dict.fromkeys(regions) for running in in_region(session, region, published)]
