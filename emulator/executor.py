"""The seam between the embedded ECS (moto plus fidelity fixes) and what runs a task's containers.

Two executors implement ``Executor``: a simulated one (no engine: the task reaches
STOPPED after a short, configurable time, exit code 0 unless the container's
environment sets ``FARGATE_LAB_SIMULATED_EXIT_CODE``) and the Docker one (containers
really run on the local engine). The ECS fidelity layer calls ``launch`` at RunTask
(and for a service's tasks), ``state`` on every DescribeTasks/ListTasks, ``stop`` at
StopTask, and ``forget`` once a stopped task has been recorded. The fidelity layer
copies ``TaskState`` into the task as ECS would show it.

Everything here runs inside the embedded backend's server process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

#: ECS task lifecycle, in order (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-lifecycle.html).
LIFECYCLE = ("PROVISIONING", "PENDING", "ACTIVATING", "RUNNING", "DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED")

#: Set on a container definition's environment to make the simulated executor exit with that code.
SIMULATED_EXIT_CODE_ENV = "FARGATE_LAB_SIMULATED_EXIT_CODE"
#: How long a simulated one-off task runs, in seconds (server environment; default 3).
SIMULATED_SECONDS_ENV = "FARGATE_LAB_SIMULATED_SECONDS"

#: Receives log events: (log group, log stream, [(timestamp ms, message), ...]).
LogSink = Callable[[str, str, list[tuple[int, str]]], None]
#: Resolves a secret's ``valueFrom`` (Secrets Manager or SSM ARN/name) to its value.
SecretResolver = Callable[[str], str]
#: Makes an image reference runnable locally (an ECR URI of the embedded ECR is loaded from its blobs);
#: returns the local image reference to run, or raises LookupError when the image cannot be found.
ImageResolver = Callable[[str], str]
#: Reads an environment file's text from its S3 ARN (``environmentFiles``); raises LookupError when missing.
FileResolver = Callable[[str], str]


@dataclass
class ContainerState:
    name: str
    last_status: str = "PENDING"  # PENDING, RUNNING, STOPPED
    exit_code: int | None = None
    reason: str | None = None  # e.g. "OutOfMemoryError: Container killed due to memory usage"
    health_status: str = "UNKNOWN"  # HEALTHY, UNHEALTHY, UNKNOWN
    runtime_id: str | None = None  # the Docker container id, when there is one
    # Ports published on 127.0.0.1, in ECS's NetworkBinding shape: bindIP, containerPort, hostPort, protocol.
    network_bindings: list[dict] = field(default_factory=list)


@dataclass
class TaskState:
    last_status: str = "PROVISIONING"  # one of LIFECYCLE
    pull_started_at: datetime | None = None
    pull_stopped_at: datetime | None = None
    started_at: datetime | None = None
    stopping_at: datetime | None = None
    execution_stopped_at: datetime | None = None
    stopped_at: datetime | None = None
    # EssentialContainerExited, TaskFailedToStart, UserInitiated, ServiceSchedulerInitiated, SpotInterruption
    stop_code: str | None = None
    stopped_reason: str | None = None
    containers: dict[str, ContainerState] = field(default_factory=dict)
    health_status: str = "UNKNOWN"  # the essential containers' health, as ECS sums it up


@dataclass
class LaunchRequest:
    """What an executor needs to run one task; ``task_definition`` is DescribeTaskDefinition's ``taskDefinition``."""

    task_id: str
    cluster: str
    task_definition: dict
    overrides: dict
    log_sink: LogSink
    resolve_secret: SecretResolver
    resolve_image: ImageResolver
    group: str = ""  # "family:NAME" or "service:NAME"
    resolve_file: FileResolver | None = None  # environmentFiles; without one, a task that has some fails to start
    task_arn: str = ""
    region: str = ""
    availability_zone: str = ""
    #: The task role's credentials document (emulator.task_credentials) now; None: the task has no role.
    credentials: Callable[[], dict | None] | None = None


class Executor(Protocol):
    name: str  # "simulated" or "docker"

    def launch(self, request: LaunchRequest) -> None:
        """Start the task; returns at once (pulling and starting go on in the background)."""

    def state(self, task_id: str) -> TaskState:
        """The task's state now."""

    def stop(self, task_id: str, reason: str, stop_code: str = "UserInitiated") -> None:
        """Stop as ECS does: SIGTERM, then SIGKILL after each container's stopTimeout (default 30 s)."""

    def forget(self, task_id: str) -> None:
        """Remove what is left of a stopped task (its containers)."""

    def cleanup(self) -> None:
        """Remove everything this executor started (backend reset or shutdown)."""


def awslogs_stream(task_definition: dict, container_name: str, task_id: str) -> tuple[str, str] | None:
    """(group, stream) of a container's awslogs output: ``prefix/container/task-id``; None without awslogs."""
    for container in task_definition.get("containerDefinitions") or []:
        if container.get("name") != container_name:
            continue
        config = container.get("logConfiguration") or {}
        if config.get("logDriver") != "awslogs":
            return None
        options = config.get("options") or {}
        group = options.get("awslogs-group")
        prefix = options.get("awslogs-stream-prefix")
        if not group:
            return None
        stream = f"{prefix}/{container_name}/{task_id}" if prefix else task_id
        return group, stream
    return None
