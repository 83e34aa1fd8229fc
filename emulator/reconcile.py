"""After a restart, what ran is settled as ECS settles the tasks of a host it lost.

The previous server's containers are gone (its executor went with it; ``emulator.docker_runtime`` removes what
it left on the engine, by its port label). So every task that had not stopped is STOPPED now, with stop code
``TerminationNotice`` and a stopped reason saying its host went away; its containers' exit codes are unknown
(none), as ECS reports for a lost host, and its ENI is released as at any task's stop. A task that failed to start keeps its own timing. Services then get
replacement tasks from the scheduler until they are steady again; the lost tasks do not count as failed
deployments (the circuit breaker counts tasks that fail, not hosts that go away).
"""

from __future__ import annotations

import logging

from emulator import clock, ecs_events, settings

log = logging.getLogger("emulator.reconcile")

STOP_CODE = "TerminationNotice"
STOPPED_REASON = ("Host went away: the embedded backend that ran this task stopped (stop, crash or reboot); "
                  "the task's exit code is unknown")
CONTAINER_REASON = "Host went away: the embedded backend stopped; exit code unknown"


def after_restart() -> list[str]:
    """Stop the tasks the previous server ran, restart the scheduler for its services; the ids stopped."""
    from emulator.fidelity import ecs, services
    from emulator.fidelity import networking as task_network

    stopped: list[str] = []
    with ecs._lock:
        ecs._live.clear()
        now = clock.now()
        for task_id, record in ecs.LAUNCHED.items():
            if record.final:
                task_network.released(record.task)  # the ENI may be saved from before its task stopped
                continue
            if record.failed:  # its stop comes from its own timing, no executor needed
                ecs._live[task_id] = record.task
                continue
            _stop(record.task, now)
            task_network.released(record.task)
            record.state = _stopped(record.state, record.task)
            if (record.task.group or "").startswith("service:"):
                run = services._runs.setdefault(record.task.started_by, services._Run())
                run.by_scheduler.add(task_id)
            stopped.append(task_id)
    if stopped:
        log.info("%d task(s) the previous server ran are stopped: their host went away", len(stopped))
        _remove_leftover_containers()
    if services.SCHEDULED:
        services.ensure_scheduler()
    return stopped


def _stop(task, now) -> None:
    previous = task.last_status
    task.last_status = task.desired_status = "STOPPED"
    task.stop_code = STOP_CODE
    task.stopped_reason = STOPPED_REASON
    task.stopping_at = task.stopping_at or now
    task.execution_stopped_at = task.execution_stopped_at or now
    task.stopped_at = now
    task.version = 2
    for container in task.containers:
        container.last_status = "STOPPED"
        container.exit_code = None
        container.reason = CONTAINER_REASON
    ecs_events.task_changed(task, previous)  # the task state change event, the billing record


def _stopped(state, task):
    """The emulator's state of a task its lost host stopped: what ``_stop`` set on moto's task (it is final)."""
    from dataclasses import replace

    return replace(state, last_status="STOPPED", stop_code=STOP_CODE, stopped_reason=STOPPED_REASON,
                   stopping_at=task.stopping_at, execution_stopped_at=task.execution_stopped_at,
                   stopped_at=task.stopped_at)


def _remove_leftover_containers() -> None:
    """Before any replacement starts: the previous server's containers on this port, removed now, not later."""
    if settings.current().runtime == "simulated":
        return
    try:
        from emulator.docker_runtime import sweep_leftovers

        sweep_leftovers()
    except Exception:  # noqa: BLE001 - no engine: nothing of it can be left either
        log.warning("could not remove the previous server's containers", exc_info=True)
