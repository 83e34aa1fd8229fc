"""DescribeClusters counts what the cluster holds now, as ECS does.

moto keeps ``runningTasksCount``, ``pendingTasksCount`` and ``activeServicesCount`` at
what its EC2 placement path last set (0 for Fargate tasks and for services). ECS counts
the cluster's tasks by their current status and its ACTIVE services.
"""

from __future__ import annotations

from typing import Any

from emulator.fidelity import ecs

PENDING = ("PROVISIONING", "PENDING", "ACTIVATING")


def _count(backend: Any, cluster: Any) -> None:
    with ecs._lock:
        tasks = list(backend.tasks.get(cluster.name, {}).values())
        for task in tasks:
            if "_lab_status" in task.__dict__:
                ecs.sync(task)
        statuses = [task.last_status for task in tasks]
    cluster.running_tasks_count = statuses.count("RUNNING")
    cluster.pending_tasks_count = sum(statuses.count(s) for s in PENDING)
    cluster.active_services_count = sum(
        1 for service in backend.services.values()
        if service.cluster_name == cluster.name and service.status == "ACTIVE"
    )


def apply() -> None:
    from moto.ecs.models import EC2ContainerServiceBackend

    original = EC2ContainerServiceBackend.describe_clusters

    def describe_clusters(self: Any, *args: Any, **kwargs: Any) -> Any:
        clusters, failures = original(self, *args, **kwargs)
        for cluster in clusters:
            _count(self, cluster)
        return clusters, failures

    EC2ContainerServiceBackend.describe_clusters = describe_clusters
