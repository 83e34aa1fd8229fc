"""Run one-off Fargate tasks, follow them to the end, and fail loudly when they fail.

``run_task`` starts tasks (a client token makes a retried call start no second task);
``wait_for_tasks`` polls DescribeTasks until every task is STOPPED, whatever states it
skipped between two polls (the ``tasks_running`` waiter's trap), and raises TaskFailed
with every exit code and the last log lines when a task failed; ``task_logs`` reads each
container's awslogs stream.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from helpers.errors import InvalidParameter, TaskFailed, TaskTimedOut
from helpers.fargate import CAPACITY_PROVIDERS, awslogs_stream
from helpers.tags import as_aws, suite_tags
from helpers.taskdef import DefinitionCache

CAPACITIES = CAPACITY_PROVIDERS  # "FARGATE" is the launch type, "FARGATE_SPOT" the capacity provider
ON_TIMEOUT = ("stop", "leave")
MAX_COUNT = 10  # RunTask starts at most 10 tasks a call
DESCRIBE_BATCH = 100  # DescribeTasks takes at most 100 tasks a call
STARTED_BY = "fargate-lab"


# -- run ----------------------------------------------------------------------------------------------


def _launch(capacity: str) -> dict:
    if capacity == "FARGATE":
        return {"launchType": "FARGATE"}
    if capacity == "FARGATE_SPOT":
        return {"capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]}
    raise InvalidParameter("capacity", capacity, f"one of {', '.join(repr(c) for c in CAPACITIES)}")


def _check_count(count: object) -> int:
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_COUNT:
        raise InvalidParameter("count", count, f"an integer from 1 to {MAX_COUNT} (RunTask's limit per call)")
    return count


def command_override(container: str, command: str | Sequence[str] | None = None,
                     environment: Mapping[str, Any] | None = None) -> dict:
    """A RunTask ``overrides`` for one container's command and environment.

    An override cannot change the entryPoint: a string becomes ``["sh", "-c", command]``, which
    runs in the shell only for an image without ENTRYPOINT (or a definition whose entryPoint is
    ``["sh", "-c"]``, then pass the string in a one-element list).
    """
    override: dict[str, Any] = {"name": container}
    if command is not None:
        override["command"] = ["sh", "-c", command] if isinstance(command, str) else [str(c) for c in command]
    if environment:
        override["environment"] = [{"name": k, "value": str(v)} for k, v in sorted(environment.items())]
    return {"containerOverrides": [override]}


def run_task(session: Any, cluster: str, task_definition: str, *, count: int = 1, capacity: str = "FARGATE",
             overrides: Mapping[str, Any] | None = None, tags: Mapping[str, str] | None = None,
             network: Mapping[str, Any] | None = None, client_token: str | None = None,
             started_by: str = STARTED_BY, propagate_tags: str = "TASK_DEFINITION",
             platform_version: str | None = None) -> list[str]:
    """Start ``count`` tasks of ``task_definition`` (ARN or family[:revision]); returns their ARNs.

    ``capacity`` "FARGATE" uses the launch type, "FARGATE_SPOT" the capacity provider.
    ``network`` is an ``awsvpcConfiguration`` (default: ``helpers.prereqs.network``).
    The client token (a new one per call unless given) makes botocore's retries of this
    call start no second set of tasks. RunTask's ``failures`` raise TaskFailed.
    """
    _check_count(count)
    launch = _launch(capacity)
    if network is None:
        from helpers.prereqs import network as default_network

        network = default_network(session)
    token = client_token or uuid.uuid4().hex
    if len(token) > 64:
        raise InvalidParameter("client_token", token, "at most 64 characters")
    request: dict[str, Any] = {
        "cluster": cluster,
        "taskDefinition": task_definition,
        "count": count,
        "networkConfiguration": {"awsvpcConfiguration": dict(network)},
        "overrides": dict(overrides or {}),
        "tags": as_aws(suite_tags(tags), "key"),
        "propagateTags": propagate_tags,
        "startedBy": started_by,
        "clientToken": token,
        **launch,
    }
    if platform_version:
        request["platformVersion"] = platform_version
    answer = session.client("ecs").run_task(**request)
    arns = [t["taskArn"] for t in answer.get("tasks", [])]
    if answer.get("failures"):
        details = "; ".join(f"{f.get('arn', '?')}: {f.get('reason')} {f.get('detail', '')}".strip()
                            for f in answer["failures"])
        raise TaskFailed(f"RunTask could not start every task ({len(arns)} of {count} started): {details}")
    return arns


# -- results ------------------------------------------------------------------------------------------

_SIGNALS = {137: "killed (SIGKILL: out of memory, or not stopping within stopTimeout)", 143: "stopped (SIGTERM)",
            127: "command not found", 126: "command not executable", 139: "crashed (segmentation fault)"}


def hint_for(stop_code: str | None, stopped_reason: str | None, exit_codes: Mapping[str, int | None],
             container_reasons: Mapping[str, str | None] | None = None,
             essential: Mapping[str, bool] | None = None) -> str:
    """A plain-language explanation of why a task stopped, for the common cases."""
    reason = stopped_reason or ""
    texts = " ".join([reason, *[r for r in (container_reasons or {}).values() if r]])
    if "CannotPullContainerError" in texts:
        return ("The image could not be pulled: check that the image name and tag exist, that the execution "
                "role may pull it (AmazonECSTaskExecutionRolePolicy for ECR), and that the subnet reaches the "
                "registry (a public IP, a NAT gateway or VPC endpoints).")
    if "ResourceInitializationError" in texts:
        return ("ECS could not prepare the task before starting it: usually the awslogs log group does not exist, "
                "a secret cannot be read by the execution role, or the subnet has no route to ECR, CloudWatch Logs "
                "or Secrets Manager.")
    if "OutOfMemoryError" in texts:
        return "A container used more memory than it was given: raise the task's memory (or fix the leak)."
    if "CannotStartContainerError" in texts:
        return "The container could not start: check its command/entrypoint exist in the image and are executable."
    if stop_code == "SpotInterruption":
        return "Fargate Spot reclaimed the capacity (two-minute warning): run it again, or on FARGATE."
    if stop_code == "TaskFailedToStart":
        return f"The task failed to start: {reason or 'no reason given'}."
    failed = {n: c for n, c in exit_codes.items() if c not in (0,) and (essential or {}).get(n, True)}
    if stop_code == "UserInitiated":
        return f"The task was stopped with StopTask ({reason or 'no reason given'})."
    if stop_code == "ServiceSchedulerInitiated":
        return "The service scheduler stopped the task (a deployment, scale-in or failed health check)."
    if failed:
        parts = []
        for name, code in failed.items():
            meaning = "never ran" if code is None else _SIGNALS.get(code, "see its logs below")
            parts.append(f"{name!r} exited with code {code} ({meaning})")
        return "The essential container " + ", ".join(parts) + "."
    if stop_code == "EssentialContainerExited" and exit_codes:
        return "Completed: the essential container exited with code 0."
    return ""


@dataclass
class TaskResult:
    """One task as DescribeTasks last showed it, with a hint when it did not end well."""

    task_arn: str
    last_status: str
    exit_codes: dict[str, int | None] = field(default_factory=dict)
    container_reasons: dict[str, str | None] = field(default_factory=dict)
    essential: dict[str, bool] = field(default_factory=dict)
    stop_code: str | None = None
    stopped_reason: str | None = None
    created_at: datetime | None = None
    pull_started_at: datetime | None = None
    pull_stopped_at: datetime | None = None
    started_at: datetime | None = None
    stopping_at: datetime | None = None
    stopped_at: datetime | None = None
    launch_type: str | None = None
    capacity_provider: str | None = None
    cpu: str | None = None
    memory: str | None = None
    task_definition_arn: str | None = None
    hint: str = ""

    @property
    def task_id(self) -> str:
        return self.task_arn.rsplit("/", 1)[-1]

    @property
    def simulated(self) -> bool:
        """The embedded backend ran no container for this task (its containers' ``reason`` says so)."""
        return any("simulated" in (reason or "").lower() for reason in self.container_reasons.values())

    @property
    def failed(self) -> bool:
        """Failed to start, or an essential container did not exit with 0."""
        if self.last_status != "STOPPED":
            return False
        if self.stop_code == "TaskFailedToStart":
            return True
        essentials = [n for n in self.exit_codes if self.essential.get(n, True)] or list(self.exit_codes)
        return not essentials or any(self.exit_codes.get(n) != 0 for n in essentials)

    @property
    def duration_seconds(self) -> float | None:
        """Billed time as Fargate counts it: from the image pull's start to the task's stop (or now)."""
        start = self.pull_started_at or self.started_at
        if start is None:
            return None
        end = self.stopped_at or datetime.now(start.tzinfo)
        return (end - start).total_seconds()

    def row(self) -> dict[str, Any]:
        """One row of ``results_table``."""
        codes = ", ".join(f"{n}={c}" for n, c in self.exit_codes.items())
        duration = self.duration_seconds
        return {"task": self.task_id, "status": self.last_status, "exit codes": codes,
                "duration (s)": None if duration is None else round(duration, 1), "stop code": self.stop_code,
                "capacity": self.capacity_provider or self.launch_type, "hint": self.hint,
                "task definition": (self.task_definition_arn or "").rsplit("/", 1)[-1]}


def result_from(task: Mapping[str, Any], essential: Mapping[str, bool] | None = None) -> TaskResult:
    """A TaskResult from one DescribeTasks ``tasks`` item."""
    containers = task.get("containers") or []
    exit_codes = {c["name"]: c.get("exitCode") for c in containers}
    reasons = {c["name"]: c.get("reason") for c in containers}
    essential = dict(essential or {})
    result = TaskResult(
        task_arn=task["taskArn"], last_status=task.get("lastStatus", "UNKNOWN"),
        exit_codes=exit_codes, container_reasons=reasons,
        essential=essential, stop_code=task.get("stopCode"), stopped_reason=task.get("stoppedReason"),
        created_at=task.get("createdAt"), pull_started_at=task.get("pullStartedAt"),
        pull_stopped_at=task.get("pullStoppedAt"), started_at=task.get("startedAt"),
        stopping_at=task.get("stoppingAt"), stopped_at=task.get("stoppedAt"), launch_type=task.get("launchType"),
        capacity_provider=task.get("capacityProviderName"), cpu=task.get("cpu"), memory=task.get("memory"),
        task_definition_arn=task.get("taskDefinitionArn"),
    )
    if result.last_status == "STOPPED":
        result.hint = hint_for(result.stop_code, result.stopped_reason, exit_codes, reasons, essential)
    return result


def results_table(results: Iterable[TaskResult]):
    """A DataFrame: task, status, exit codes, duration, stop code, capacity, hint."""
    import pandas as pd

    return pd.DataFrame([r.row() for r in results])


# -- describe -----------------------------------------------------------------------------------------


def _essential(definitions: DefinitionCache, arn: str | None) -> dict[str, bool]:
    """Container name to whether it is essential, for the task definition ``arn``."""
    if not arn:
        return {}
    return {c["name"]: c.get("essential", True) for c in definitions.get(arn).get("containerDefinitions", [])}


def describe(session: Any, cluster: str, task_arns: Sequence[str],
             definitions: DefinitionCache | None = None) -> list[TaskResult]:
    """Every task's current TaskResult, in the order given (DescribeTasks in batches of 100)."""
    ecs = session.client("ecs")
    definitions = definitions or DefinitionCache(ecs)
    seen: dict[str, TaskResult] = {}
    for start in range(0, len(task_arns), DESCRIBE_BATCH):
        batch = list(task_arns[start:start + DESCRIBE_BATCH])
        answer = ecs.describe_tasks(cluster=cluster, tasks=batch)
        for task in answer.get("tasks", []):
            seen[task["taskArn"]] = result_from(task, _essential(definitions, task.get("taskDefinitionArn")))
        for failure in answer.get("failures", []):
            arn = failure.get("arn", "")
            seen[arn] = TaskResult(task_arn=arn, last_status="MISSING", stopped_reason=failure.get("reason"),
                                   hint="ECS does not know this task (wrong cluster, or stopped over an hour ago).")
    return [seen.get(arn) or TaskResult(task_arn=arn, last_status="MISSING",
                                        hint="ECS does not know this task (wrong cluster, or stopped long ago).")
            for arn in task_arns]


# -- wait ---------------------------------------------------------------------------------------------


def _progress(total: int, show: bool):
    """The wait's progress: live in Jupyter and a terminal; an executed notebook keeps its last state."""
    from helpers import progress

    return progress.bar(total, desc="tasks stopped", unit="task", disable=not show)


def _status_line(results: Sequence[TaskResult]) -> str:
    counts = Counter(r.last_status for r in results)
    return ", ".join(f"{status} {n}" for status, n in sorted(counts.items()))


def wait_for_tasks(session: Any, cluster: str, task_arns: Sequence[str], *, timeout: float = 600,
                   on_timeout: str = "stop", poll_seconds: float = 1.0, max_poll_seconds: float = 6.0,
                   progress: bool = True, log_lines: int = 20, raise_on_failure: bool = True,
                   on_poll: Callable[[list[TaskResult]], None] | None = None) -> list[TaskResult]:
    """Follow every task to STOPPED; return their TaskResults, or raise.

    A task may go through PROVISIONING, PENDING, RUNNING and STOPPED between two polls;
    only STOPPED ends the wait for it. Raises TaskFailed (with the results and the log
    tail) when a task failed to start or an essential container exited non-zero, and
    TaskTimedOut after ``timeout`` seconds, having stopped the tasks if ``on_timeout`` is
    "stop" (or left them running if "leave"). ``raise_on_failure=False`` returns failed
    tasks' results instead (a timeout still raises).
    """
    if on_timeout not in ON_TIMEOUT:
        raise InvalidParameter("on_timeout", on_timeout, f"one of {', '.join(repr(o) for o in ON_TIMEOUT)}")
    if not task_arns:
        return []
    arns = list(task_arns)
    definitions = DefinitionCache(session.client("ecs"))
    deadline = time.monotonic() + timeout
    interval = poll_seconds
    with _progress(len(arns), progress) as bar:
        while True:
            results = describe(session, cluster, arns, definitions)
            done = sum(r.last_status in ("STOPPED", "MISSING") for r in results)
            bar.set_postfix_str(_status_line(results), refresh=False)
            bar.update(done - bar.n)
            if on_poll:
                on_poll(results)
            if done == len(arns):
                break
            if time.monotonic() >= deadline:
                _timed_out(session, cluster, results, timeout, on_timeout, definitions, log_lines)
            time.sleep(min(interval, max(0.0, deadline - time.monotonic()) + 0.05))
            interval = min(max_poll_seconds, interval * 1.5)
    failed = [r for r in results if r.failed or r.last_status == "MISSING"]
    if failed and raise_on_failure:
        tail = _log_tail(session, cluster, failed, log_lines)
        summary = "; ".join(f"{r.task_id}: {r.stop_code or r.last_status} ({r.stopped_reason}), "
                            f"exit codes {r.exit_codes}. {r.hint}" for r in failed)
        raise TaskFailed(f"{len(failed)} of {len(results)} task(s) failed: {summary}", results, tail)
    return results


def _timed_out(session: Any, cluster: str, results: list[TaskResult], timeout: float, on_timeout: str,
               definitions: DefinitionCache, log_lines: int) -> None:
    running = [r for r in results if r.last_status not in ("STOPPED", "MISSING")]
    if on_timeout == "stop":
        stop_tasks(session, cluster, [r.task_arn for r in running], reason=f"fargate-lab: timed out after {timeout:g} s")
        what = "stopped them"
    else:
        what = "left them running"
    tail = _log_tail(session, cluster, running, log_lines)
    latest = describe(session, cluster, [r.task_arn for r in results], definitions)
    raise TaskTimedOut(
        f"{len(running)} of {len(results)} task(s) had not stopped after {timeout:g} s "
        f"({_status_line(running)}); {what}. Raise timeout= if the work needs longer.", latest, tail)


def stop_tasks(session: Any, cluster: str, task_arns: Iterable[str], reason: str = "fargate-lab: stopped") -> None:
    """StopTask for each task (already stopped tasks are fine)."""
    ecs = session.client("ecs")
    for arn in task_arns:
        ecs.stop_task(cluster=cluster, task=arn, reason=reason[:255])


# -- logs ---------------------------------------------------------------------------------------------


def _streams(task_definition: Mapping[str, Any], task_id: str) -> dict[str, tuple[str, str, str | None]]:
    """Container name to (log group, stream, region) for its awslogs stream: prefix/container/task-id."""
    streams = {}
    for container in task_definition.get("containerDefinitions") or []:
        config = container.get("logConfiguration") or {}
        if config.get("logDriver") != "awslogs":
            continue
        options = config.get("options") or {}
        stream = awslogs_stream(options.get("awslogs-stream-prefix"), container["name"], task_id)
        streams[container["name"]] = (options.get("awslogs-group"), stream, options.get("awslogs-region"))
    return streams


def _read_stream(logs: Any, group: str, stream: str, token: str | None) -> tuple[list[str], str | None]:
    """New lines of a stream since ``token`` (from the start when None) and the token to continue from."""
    lines: list[str] = []
    while True:
        kwargs = {"logGroupName": group, "logStreamName": stream, "startFromHead": True}
        if token:
            kwargs["nextToken"] = token
        try:
            answer = logs.get_log_events(**kwargs)
        except logs.exceptions.ResourceNotFoundException:
            return lines, token  # the stream does not exist yet (or the group is missing)
        lines += [e["message"] for e in answer.get("events", [])]
        following = answer.get("nextForwardToken")
        if not answer.get("events") or following == token:
            return lines, following or token
        token = following


def task_logs(session: Any, cluster: str, task_arn: str, *, follow: bool = False, poll_seconds: float = 2.0,
              timeout: float = 600, printer: Callable[[str], None] | None = print) -> dict[str, list[str]]:
    """Each container's awslogs lines (container name to lines), for a running or stopped task.

    With ``follow=True`` new lines are printed as they arrive until the task stops.
    Containers that do not log with awslogs are left out.
    """
    ecs = session.client("ecs")
    task = ecs.describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"]
    if not task:
        raise InvalidParameter("task_arn", task_arn, f"a task of cluster {cluster!r} (stopped tasks stay ~1 hour)")
    definition = ecs.describe_task_definition(taskDefinition=task[0]["taskDefinitionArn"])["taskDefinition"]
    streams = _streams(definition, task_arn.rsplit("/", 1)[-1])
    logs = session.client("logs")
    collected: dict[str, list[str]] = {name: [] for name in streams}
    tokens: dict[str, str | None] = {name: None for name in streams}
    deadline = time.monotonic() + timeout
    while True:
        stopped = task[0].get("lastStatus") == "STOPPED"
        for name, (group, stream, _region) in streams.items():
            new, tokens[name] = _read_stream(logs, group, stream, tokens[name])
            collected[name] += new
            if follow and printer:
                for line in new:
                    printer(f"[{name}] {line}")
        if not follow or stopped or time.monotonic() >= deadline:
            return collected
        time.sleep(poll_seconds)
        task = ecs.describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"]


def simulated(results: Sequence[TaskResult]) -> bool:
    """Whether the embedded backend only simulated these tasks (no container ran): it says so in the
    containers' ``reason``, as DescribeTasks returns it."""
    return any(result.simulated for result in results)


def _log_tail(session: Any, cluster: str, results: Sequence[TaskResult], lines: int) -> str:
    """The last ``lines`` log lines of each container of ``results``' tasks, as text."""
    out = []
    for result in results:
        if result.last_status == "MISSING":
            continue
        try:
            logs = task_logs(session, cluster, result.task_arn, printer=None)
        except Exception as exc:  # noqa: BLE001 - a failure's report must not fail on its logs
            out.append(f"{result.task_id}: logs unavailable ({exc})")
            continue
        for name, text in logs.items():
            for line in text[-lines:]:
                out.append(f"{result.task_id} [{name}] {line}")
    return "\n".join(out)
