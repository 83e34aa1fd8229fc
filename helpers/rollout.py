"""Follow one ECS service deployment to a true answer, saying all the while what it waits for.

``watch`` polls DescribeServices and prints a line whenever the deployment's rollout
state or counts change (and a reminder of what it waits for every ``heartbeat`` seconds),
plus each new service event once. It returns when the deployment is PRIMARY, COMPLETED and
runs its desired count; it reports FAILED (the circuit breaker), a deployment that another
one replaced (a rollback), or the timeout. It never raises for a failed deployment: the
caller decides what a failure means (``helpers.services.deploy`` raises DeploymentFailed).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from helpers.errors import ServiceNotFound

Say = Callable[[str], None]


@dataclass
class Outcome:
    """How a watched deployment ended: "COMPLETED", "FAILED", "REPLACED" or "TIMED_OUT"."""

    state: str
    deployment_id: str
    task_definition: str
    seconds: float
    reason: str = ""
    events: list[str] = field(default_factory=list)
    deployment: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.state == "COMPLETED"


def describe_service(ecs: Any, cluster: str, service: str) -> dict:
    """DescribeServices' answer for one ACTIVE or DRAINING service; ServiceNotFound otherwise."""
    found = ecs.describe_services(cluster=cluster, services=[service], include=["TAGS"]).get("services", [])
    live = [s for s in found if s.get("status") != "INACTIVE"]
    if not live:
        raise ServiceNotFound(f"service {service!r} does not exist in cluster {cluster!r} (or it was deleted): "
                              f"create it with helpers.services.ensure_service")
    return live[0]


def revision_name(arn: str | None) -> str:
    """``family:revision`` of a task definition ARN."""
    return (arn or "?").rsplit("/", 1)[-1]


def line(deployment: dict, elapsed: float) -> str:
    """One line of the live view."""
    return (f"[{elapsed:6.1f}s] {deployment['id']} {revision_name(deployment.get('taskDefinition'))} "
            f"{deployment.get('status')} {deployment.get('rolloutState', '?')}: desired {deployment.get('desiredCount')}"
            f", running {deployment.get('runningCount')}, pending {deployment.get('pendingCount')}, "
            f"failed {deployment.get('failedTasks', 0)}")


def _waiting_for(deployment: dict) -> str:
    missing = deployment.get("desiredCount", 0) - deployment.get("runningCount", 0)
    if missing > 0:
        return f"{missing} more task(s) of {revision_name(deployment.get('taskDefinition'))} to be RUNNING"
    return "the older deployments' tasks to drain"


def watch(session: Any, cluster: str, service: str, deployment_id: str, *, timeout: float, poll: float = 2.0,
          heartbeat: float = 30.0, seen_events: set[str] | None = None, say: Say = print) -> Outcome:
    """Follow deployment ``deployment_id`` of ``service`` until it completes, fails, is replaced, or times out."""
    ecs = session.client("ecs")
    seen = set(seen_events or ())
    events: list[str] = []
    start = time.monotonic()
    last_line, last_said = "", start
    deployment: dict = {"id": deployment_id}
    while True:
        elapsed = time.monotonic() - start
        described = describe_service(ecs, cluster, service)
        for event in reversed(described.get("events") or []):  # the API lists the newest first
            if event["id"] not in seen:
                seen.add(event["id"])
                events.append(event["message"])
                say(f"  event {event['createdAt']:%H:%M:%S}: {event['message']}")
        deployments = described.get("deployments") or []
        found = next((d for d in deployments if d["id"] == deployment_id), None)
        primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
        if found is not None:
            deployment = found
            text = line(found, elapsed)
            if text.split("] ", 1)[1] != last_line:
                say(text)
                last_line, last_said = text.split("] ", 1)[1], time.monotonic()
        end = _ended(deployment_id, found, primary, elapsed, timeout, events)
        if end is not None:
            state, reason = end
            return Outcome(state, deployment_id, deployment.get("taskDefinition", ""), elapsed, reason, events,
                           deployment)
        if time.monotonic() - last_said >= heartbeat:
            say(f"[{elapsed:6.1f}s] still waiting for {_waiting_for(deployment)} "
                f"(gives up at {timeout:.0f}s)")
            last_said = time.monotonic()
        time.sleep(min(poll, max(0.0, timeout - elapsed) + 0.05))


def _ended(deployment_id: str, found: dict | None, primary: dict | None, elapsed: float, timeout: float,
           events: list[str]) -> tuple[str, str] | None:
    if found is None:  # drained and gone: the events say whether the circuit breaker failed it
        other = f"{primary['id']} ({revision_name(primary.get('taskDefinition'))})" if primary else "none"
        failed = any(f"(deployment {deployment_id}) deployment failed" in e for e in events)
        if failed:
            return "FAILED", f"the circuit breaker failed it (tasks failed to start); the PRIMARY deployment is {other}"
        return "REPLACED", f"deployment {deployment_id} is gone; the PRIMARY deployment is {other}"
    if found.get("rolloutState") == "FAILED":
        return "FAILED", found.get("rolloutStateReason") or "rollout state FAILED"
    if found.get("status") != "PRIMARY":
        other = f"{primary['id']} ({revision_name(primary.get('taskDefinition'))})" if primary else "another one"
        return "REPLACED", f"deployment {deployment_id} was replaced by deployment {other}"
    if found.get("rolloutState") == "COMPLETED" and found.get("runningCount") == found.get("desiredCount"):
        return "COMPLETED", found.get("rolloutStateReason") or "completed"
    if elapsed >= timeout:
        return "TIMED_OUT", (f"timed out after {timeout:.0f}s waiting for {_waiting_for(found)} "
                             f"(rollout {found.get('rolloutState')}, failed tasks {found.get('failedTasks', 0)})")
    return None
