"""Stopped tasks leave ECS about an hour after they stop (moto keeps them forever), by the emulator's clock.

"Stopped tasks only appear in DescribeTasks ... for at least one hour"
(https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeTasks.html; ListTasks says the same of
``desiredStatus=STOPPED``). The emulator removes a task STOPPED_VISIBLE_SECONDS after its ``stoppedAt``; the
README lists "about an hour" as a known difference (ECS does not say exactly when).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from emulator import clock

STOPPED_VISIBLE_SECONDS = 3600


def _expired(task: Any, now: Any) -> bool:
    stopped_at = task.__dict__.get("stopped_at")
    return (task.last_status == "STOPPED" and stopped_at is not None and hasattr(stopped_at, "tzinfo")
            and now >= stopped_at + timedelta(seconds=STOPPED_VISIBLE_SECONDS))


def forget_expired(backend: Any) -> None:
    """Drop the tasks that stopped more than an hour ago, as ECS does."""
    from emulator.fidelity.ecs import _lock  # the lock every walk over the tasks holds

    now = clock.now()
    with _lock:
        for cluster_tasks in backend.tasks.values():
            for arn in [arn for arn, task in cluster_tasks.items() if _expired(task, now)]:
                del cluster_tasks[arn]
                backend.task_answers.forget(arn)


def visible(tasks: list, now: Any = None) -> list:
    """``tasks`` without those ECS no longer shows (stopped more than an hour ago)."""
    now = now or clock.now()
    return [task for task in tasks if not _expired(task, now)]
