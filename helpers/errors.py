"""The suite's own exceptions, each with a message a learner can act on.

Every class derives from :class:`LabError`, so a notebook or a caller can catch
everything the suite raises in one place. Errors about bad input also derive from
``ValueError``, because that is what they are.
"""

from __future__ import annotations


class LabError(Exception):
    """Base class of every error the suite raises on purpose."""


class InvalidParameter(LabError, ValueError):
    """A parameter has a value the suite cannot use; raised before anything is created."""

    def __init__(self, name: str, value: object, valid: str) -> None:
        self.name = name
        self.value = value
        self.valid = valid
        super().__init__(f"parameter {name!r} is {value!r}, which is not valid: {valid}")


class InvalidParameters(LabError, ValueError):
    """Several parameters are wrong at once: every problem is listed, each naming its parameter."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} parameter(s) are not valid; nothing was created:\n{lines}")


class BackendError(LabError):
    """The backend cannot be reached or configured."""


class BackendNotConfigured(BackendError):
    """backend='aws' was asked for but no credentials or no region resolve."""


class BackendPortInUse(BackendError):
    """The embedded backend's port is taken by another program."""


class DockerUnavailable(LabError):
    """An operation needs a Docker engine and none answers."""


class InvalidTaskDefinition(LabError, ValueError):
    """A task definition breaks Fargate's rules; lists every problem at once."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"the task definition has {len(self.problems)} problem(s):\n{lines}")


class TaskFailed(LabError):
    """A task failed to start, or an essential container exited non-zero.

    ``results`` holds every task's ``helpers.tasks.TaskResult``; ``log_tail`` the last
    log lines of the failed tasks' containers, so a papermill run shows why.
    """

    def __init__(self, message: str, results: list | None = None, log_tail: str = "") -> None:
        self.results = list(results or [])
        self.log_tail = log_tail
        super().__init__(message + (f"\nlast log lines:\n{log_tail}" if log_tail else ""))


class TaskTimedOut(TaskFailed):
    """Tasks did not stop within the wait's timeout (they were stopped or left running, as asked)."""


class FleetStopped(LabError):
    """A runbook fleet ended early (RunTask refused, or interrupted): the tasks it had started were stopped first,
    so nothing keeps running (and costing) unseen. ``rows`` are the runs that had finished, ``stopped`` the ARNs."""

    def __init__(self, message: str, *, rows: list | None = None, stopped: list[str] | None = None) -> None:
        self.rows = list(rows or [])
        self.stopped = list(stopped or [])
        super().__init__(message)


class MissingPrerequisite(LabError):
    """Something a task needs (a role, a default VPC, ...) does not exist and may not be created here."""


class DeploymentFailed(LabError):
    """A service deployment did not reach COMPLETED with every task running.

    ``events`` holds the service events seen during the deployment (oldest first), ``stopped_tasks`` the
    stopped tasks' ``helpers.tasks.TaskResult`` (stop code, reason, exit codes), ``rolled_back_to`` the task
    definition the service was put back on (None when it was not), ``deployment_id`` the failed deployment.
    """

    def __init__(self, message: str, *, events: list[str] | None = None, stopped_tasks: list | None = None,
                 deployment_id: str | None = None, task_definition: str | None = None,
                 rolled_back_to: str | None = None) -> None:
        self.events = list(events or [])
        self.stopped_tasks = list(stopped_tasks or [])
        self.deployment_id = deployment_id
        self.task_definition = task_definition
        self.rolled_back_to = rolled_back_to
        super().__init__(message)


class ServiceNotFound(LabError, LookupError):
    """The ECS service does not exist (or is INACTIVE) in the cluster."""


class ImageNotFound(LabError, LookupError):
    """The image to push or run does not exist where it was looked for."""


class InvalidImageArchive(LabError, ValueError):
    """An image archive or layout is incomplete, truncated or not an image at all."""


class ImageBuildFailed(LabError):
    """``docker build`` failed; the message carries the engine's error."""


class RepositoryNotFound(LabError, LookupError):
    """An ECR repository the operation needs does not exist."""


class ImageTagAlreadyExists(LabError):
    """The tag already names another image in an IMMUTABLE repository; nothing was pushed."""


class PushFailed(LabError):
    """A push stopped before ``put_image``: no tag points at the partial image."""


class CleanupIncomplete(LabError):
    """Cleanup could not delete some of the suite's resources; they still exist (and may still cost money)."""


class QueryFailed(LabError):
    """A cost query the engine (Athena or DuckDB) rejected or that failed: its message and the query."""

    def __init__(self, engine: str, message: str, sql: str) -> None:
        self.engine, self.reason, self.sql = engine, message, sql
        super().__init__(f"{engine} rejected the query: {message}\nthe query was:\n{sql}")


class LoadBalancerRefused(LabError):
    """ELBv2 refused a call of ``helpers.loadbalancer`` (bad input, a name or port taken): its code and message."""

    def __init__(self, operation: str, code: str, message: str) -> None:
        self.operation, self.code, self.aws_message = operation, code, message
        super().__init__(f"ELBv2 refused {operation}: {code}: {message}")
