"""The simulated executor: a task's lifecycle without a container engine.

Used when the embedded backend runs with ``runtime="simulated"`` or no Docker engine
answers. The state is a pure function of time since launch (no threads): provisioning,
an image "pull", RUNNING for ``FARGATE_LAB_SIMULATED_SECONDS`` (default 3), then the
containers exit with code 0 (or ``FARGATE_LAB_SIMULATED_EXIT_CODE`` from the container's
environment) and the task stops; a container's own ``FARGATE_LAB_SIMULATED_SECONDS`` sets
how long its task runs. A service's task (group ``service:NAME``) keeps running until it
is stopped. Each container's log stream says plainly that nothing ran.

Runs inside the embedded backend's server process.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from emulator import clock, settings
from emulator.executor import (
    SIMULATED_EXIT_CODE_ENV,
    SIMULATED_SECONDS_ENV,
    ContainerState,
    LaunchRequest,
    TaskState,
    awslogs_stream,
)

SIMULATED_NOTE = "[simulated by the embedded backend: no container ran]"
#: Each simulated container's ``reason`` in DescribeTasks: how a client learns, through the API, that nothing ran.
SIMULATED_REASON = "Simulated by the embedded backend: no container ran"
#: Phase lengths in seconds: PROVISIONING, PENDING (image pull), ACTIVATING, then from the containers' exit (or a
#: stop request) to STOPPED, through DEACTIVATING, STOPPING and DEPROVISIONING in equal thirds.
PROVISIONING_SECONDS = 0.3
PULL_SECONDS = 0.3
ACTIVATING_SECONDS = 0.1
STOPPING_SECONDS = 0.3


def simulated_seconds() -> float:
    """How long a simulated one-off task runs (``FARGATE_LAB_SIMULATED_SECONDS``, default 3)."""
    return settings.current().simulated_seconds


@dataclass
class _Plan:
    """One launched task: when it started, how its containers end, and what stopped it."""

    request: LaunchRequest
    launched_at: datetime
    run_seconds: float | None  # None: keeps running until stopped (a service's task)
    exit_codes: dict[str, int]
    essential: dict[str, bool]
    stop_requested_at: datetime | None = None
    stop_reason: str | None = None
    stop_code: str | None = None
    logged: set[str] = field(default_factory=set)


def _environment(container: dict, overrides: dict) -> dict[str, str]:
    env = {e["name"]: e.get("value", "") for e in container.get("environment") or []}
    for override in (overrides or {}).get("containerOverrides") or []:
        if override.get("name") == container.get("name"):
            env.update({e["name"]: e.get("value", "") for e in override.get("environment") or []})
    return env


def _exit_code(env: dict[str, str]) -> int:
    try:
        return int(env.get(SIMULATED_EXIT_CODE_ENV, "0"))
    except ValueError:
        return 1


class SimulatedExecutor:
    """Executor whose tasks follow ECS's lifecycle in time, without running anything."""

    name = "simulated"

    def __init__(self, seconds: float | None = None) -> None:
        self._seconds = seconds
        self._plans: dict[str, _Plan] = {}
        self._lock = threading.Lock()

    def launch(self, request: LaunchRequest) -> None:
        containers = request.task_definition.get("containerDefinitions") or []
        one_off = not request.group.startswith("service:")
        seconds = self._seconds if self._seconds is not None else simulated_seconds()
        for container in containers:  # a container's own FARGATE_LAB_SIMULATED_SECONDS wins (tests, demos)
            own = _environment(container, request.overrides).get(SIMULATED_SECONDS_ENV)
            if own is not None:
                try:
                    seconds = max(0.0, float(own))
                except ValueError:
                    pass
        plan = _Plan(
            request=request,
            launched_at=clock.now(),
            run_seconds=seconds if one_off else None,
            exit_codes={c["name"]: _exit_code(_environment(c, request.overrides)) for c in containers},
            essential={c["name"]: c.get("essential", True) for c in containers},
        )
        with self._lock:
            self._plans[request.task_id] = plan

    def state(self, task_id: str) -> TaskState:
        with self._lock:
            plan = self._plans.get(task_id)
            if plan is None:
                raise KeyError(task_id)
            state = self._state_at(plan, clock.now())
            self._write_logs(plan, state)
            return state

    def stop(self, task_id: str, reason: str, stop_code: str = "UserInitiated") -> None:
        with self._lock:
            plan = self._plans.get(task_id)
            if plan is None or plan.stop_requested_at is not None:
                return
            exited = self._natural_stop(plan)
            if exited is not None and exited <= clock.now():
                return  # it already stopped on its own
            plan.stop_requested_at = clock.now()
            plan.stop_reason = reason
            plan.stop_code = stop_code

    def forget(self, task_id: str) -> None:
        with self._lock:
            self._plans.pop(task_id, None)

    def cleanup(self) -> None:
        with self._lock:
            self._plans.clear()

    # -- the timeline -------------------------------------------------------------------------------

    @staticmethod
    def _natural_stop(plan: _Plan) -> datetime | None:
        """When the containers exit on their own (None for a task that runs until stopped)."""
        if plan.run_seconds is None:
            return None
        started = plan.launched_at + timedelta(seconds=PROVISIONING_SECONDS + PULL_SECONDS + ACTIVATING_SECONDS)
        return started + timedelta(seconds=plan.run_seconds)

    def _state_at(self, plan: _Plan, now: datetime) -> TaskState:
        pull_started = plan.launched_at + timedelta(seconds=PROVISIONING_SECONDS)
        pulled = pull_started + timedelta(seconds=PULL_SECONDS)
        started = pulled + timedelta(seconds=ACTIVATING_SECONDS)
        names = list(plan.exit_codes)
        state = TaskState(containers={n: ContainerState(name=n, reason=SIMULATED_REASON) for n in names})
        exited = self._natural_stop(plan)
        user_stop = plan.stop_requested_at
        stopping_at = min(t for t in (exited, user_stop) if t is not None) if (exited or user_stop) else None

        if stopping_at is not None and stopping_at < started:
            # Stopped before it ran: no container started.
            return self._stopped_before_start(plan, state, stopping_at, now)
        if now < pull_started:
            return state
        state.pull_started_at = pull_started
        state.last_status = "PENDING"
        if now < pulled:
            return state
        state.pull_stopped_at = pulled
        state.last_status = "ACTIVATING"
        if now < started:
            return state
        state.started_at = started
        state.last_status = "RUNNING"
        for container in state.containers.values():
            container.last_status = "RUNNING"
        if stopping_at is None or now < stopping_at:
            return state

        by_user = user_stop is not None and (exited is None or user_stop < exited)
        for container in state.containers.values():
            container.last_status = "STOPPED"
            container.exit_code = 143 if by_user else plan.exit_codes[container.name]
        state.stopping_at = stopping_at
        if by_user:
            state.stop_code = plan.stop_code or "UserInitiated"
            state.stopped_reason = plan.stop_reason or "Task stopped by user"
        else:
            state.stop_code = "EssentialContainerExited"
            state.stopped_reason = "Essential container in task exited"
        stopped = stopping_at + timedelta(seconds=STOPPING_SECONDS)
        if now < stopped:
            third = (now - stopping_at) / timedelta(seconds=STOPPING_SECONDS / 3)
            state.last_status = ("DEACTIVATING", "STOPPING", "DEPROVISIONING")[min(2, int(third))]
            return state
        state.execution_stopped_at = stopping_at
        state.stopped_at = stopped
        state.last_status = "STOPPED"
        return state

    @staticmethod
    def _stopped_before_start(plan: _Plan, state: TaskState, stopping_at: datetime, now: datetime) -> TaskState:
        state.stopping_at = stopping_at
        state.stop_code = plan.stop_code or "UserInitiated"
        state.stopped_reason = plan.stop_reason or "Task stopped by user"
        for container in state.containers.values():
            container.last_status = "STOPPED"
        stopped = stopping_at + timedelta(seconds=STOPPING_SECONDS)
        state.last_status = "STOPPING" if now < stopped else "STOPPED"
        if state.last_status == "STOPPED":
            state.execution_stopped_at = stopping_at
            state.stopped_at = stopped
        return state

    # -- logs ---------------------------------------------------------------------------------------

    @staticmethod
    def _write_logs(plan: _Plan, state: TaskState) -> None:
        """Write each container's simulated log lines once, when they would have happened."""
        request = plan.request
        for name, container in state.containers.items():
            target = _awslogs_target(request, name)
            if target is None:
                continue
            group, stream = target
            if "start" not in plan.logged and container.last_status in ("RUNNING", "STOPPED") and state.started_at:
                command = _command(request, name)
                lines = [(state.started_at, f"{SIMULATED_NOTE} container {name!r} would run: {command}")]
                try:
                    request.log_sink(group, stream, [(_ms(t), m) for t, m in lines])
                except Exception:  # noqa: BLE001 - a missing log group must not break DescribeTasks
                    pass
            if "exit" not in plan.logged and container.exit_code is not None and state.stopping_at:
                line = (state.stopping_at, f"{SIMULATED_NOTE} container {name!r} exited with code {container.exit_code}")
                try:
                    request.log_sink(group, stream, [(_ms(line[0]), line[1])])
                except Exception:  # noqa: BLE001
                    pass
        if any(c.last_status in ("RUNNING", "STOPPED") for c in state.containers.values()) and state.started_at:
            plan.logged.add("start")
        if any(c.exit_code is not None for c in state.containers.values()) and state.stopping_at:
            plan.logged.add("exit")


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _command(request: LaunchRequest, name: str) -> str:
    """What the container would run: its entryPoint and command (an override replaces the command)."""
    definition = next((c for c in request.task_definition.get("containerDefinitions") or []
                       if c.get("name") == name), {})
    command = definition.get("command")
    for override in (request.overrides or {}).get("containerOverrides") or []:
        if override.get("name") == name and override.get("command"):
            command = override["command"]
    words = [*(definition.get("entryPoint") or []), *(command or [])]
    return " ".join(words) if words else "(the image's default command)"


def _awslogs_target(request: LaunchRequest, name: str) -> tuple[str, str] | None:
    return awslogs_stream(request.task_definition, name, request.task_id)


