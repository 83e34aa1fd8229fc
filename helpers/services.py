"""ECS Fargate services as a runbook: ensure, plan, deploy (wait, roll back), scale, status, delete.

``deploy`` gives a true answer: success only when the new deployment is PRIMARY and
COMPLETED with every desired task running; a FAILED rollout, a circuit-breaker rollback
or the timeout raise DeploymentFailed with the service events and the stopped tasks'
reasons, after putting the service back on the previous revision when asked. Deploying
what already runs registers nothing, starts no deployment, and says so.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from helpers import rollout, taskdef
from helpers.errors import DeploymentFailed, InvalidParameter, ServiceNotFound
from helpers.rollout import Outcome, Say, describe_service, revision_name
from helpers.tags import as_aws, suite_tags
from helpers.tasks import TaskResult, results_table
from helpers.tasks import describe as describe_tasks

PROPAGATE = ("SERVICE", "TASK_DEFINITION", "NONE")
DEFAULT_POLL = 2.0


# -- checks -------------------------------------------------------------------------------------------


def _check_count(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidParameter(name, value, "a whole number of tasks, 0 or more")
    return value


def _check_percents(min_healthy: object, maximum: object) -> None:
    if not isinstance(min_healthy, int) or not 0 <= min_healthy <= 100:
        raise InvalidParameter("min_healthy_percent", min_healthy, "an integer from 0 to 100")
    if not isinstance(maximum, int) or maximum < 100 or maximum <= min_healthy:
        raise InvalidParameter("max_percent", maximum,
                               f"an integer of at least 100 and above min_healthy_percent ({min_healthy}), "
                               "or a rolling update cannot start a new task")


def _check_timeout(timeout: object) -> float:
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0:
        raise InvalidParameter("timeout", timeout, "a number of seconds above 0")
    return float(timeout)


# -- ensure -------------------------------------------------------------------------------------------


def _arn_of(session: Any, task_definition: str | Mapping[str, Any]) -> str:
    """The ARN to run: a dict is registered (only when it changed); a string is described."""
    if isinstance(task_definition, Mapping):
        return taskdef.register(session, task_definition).arn
    ecs = session.client("ecs")
    return ecs.describe_task_definition(taskDefinition=task_definition)["taskDefinition"]["taskDefinitionArn"]


def _deployment_configuration(min_healthy: int, maximum: int, circuit_breaker: bool, rollback: bool) -> dict:
    return {
        "deploymentCircuitBreaker": {"enable": circuit_breaker, "rollback": rollback and circuit_breaker},
        "minimumHealthyPercent": min_healthy,
        "maximumPercent": maximum,
    }


def ensure_service(session: Any, cluster: str, service: str, task_definition: str | Mapping[str, Any], *,
                   desired_count: int, network: Mapping[str, Any] | None = None, min_healthy_percent: int = 100,
                   max_percent: int = 200, circuit_breaker: bool = True, rollback: bool = True,
                   tags: Mapping[str, str] | None = None, propagate_tags: str = "SERVICE",
                   platform_version: str = "LATEST", capacity: str | Sequence[Mapping[str, Any]] = "FARGATE",
                   load_balancer: Any | None = None, container: str | None = None,
                   health_check_grace: int = 30) -> dict:
    """Create the Fargate service, or bring an existing one's settings in line; returns DescribeServices' entry.

    A new service starts on ``task_definition`` (an ARN, ``family[:revision]``, or a
    definition dict registered only when it changed). An existing service keeps its task
    definition: ``deploy`` changes that, and waits. The deployment configuration has the
    circuit breaker and its rollback on by default; ``network`` is an ``awsvpcConfiguration``
    (default: ``helpers.prereqs.network``). ``capacity`` is "FARGATE" (the launch type), "FARGATE_SPOT",
    or a capacity provider strategy (``[{"capacityProvider": ..., "weight": ..., "base": ...}]``), set at
    creation. ``load_balancer`` (a ``helpers.loadbalancer.LoadBalancer``) puts the service behind it: ECS registers
    each task's ``container`` (default: the first) as a target, and ignores failing health checks for
    ``health_check_grace`` seconds after a task starts. Idempotent: nothing is updated when nothing differs.
    """
    _check_count("desired_count", desired_count)
    launch = _capacity(capacity)
    _check_percents(min_healthy_percent, max_percent)
    if propagate_tags not in PROPAGATE:
        raise InvalidParameter("propagate_tags", propagate_tags, f"one of {', '.join(PROPAGATE)}")
    if network is None:
        from helpers.prereqs import network as default_network

        network = default_network(session)
    ecs = session.client("ecs")
    config = _deployment_configuration(min_healthy_percent, max_percent, circuit_breaker, rollback)
    wanted_network = {"awsvpcConfiguration": dict(network)}
    balancing = _balancing(session, task_definition, load_balancer, container, health_check_grace)
    try:
        current = describe_service(ecs, cluster, service)
    except ServiceNotFound:
        ecs.create_service(
            cluster=cluster, serviceName=service, taskDefinition=_arn_of(session, task_definition),
            desiredCount=desired_count, platformVersion=platform_version, **launch,
            networkConfiguration=wanted_network, deploymentConfiguration=config,
            tags=as_aws(suite_tags(tags), "key"), enableECSManagedTags=True, propagateTags=propagate_tags,
            schedulingStrategy="REPLICA", clientToken=str(uuid.uuid4()),  # a retried call creates one service
            **balancing,
        )
        return describe_service(ecs, cluster, service)
    changes: dict[str, Any] = {}
    if current.get("desiredCount") != desired_count:
        changes["desiredCount"] = desired_count
    if _config_differs(current.get("deploymentConfiguration") or {}, config):
        changes["deploymentConfiguration"] = config
    if _network_differs(current.get("networkConfiguration") or {}, wanted_network):
        changes["networkConfiguration"] = wanted_network
    if current.get("enableECSManagedTags") is not True:
        changes["enableECSManagedTags"] = True
    if current.get("propagateTags") != propagate_tags:
        changes["propagateTags"] = propagate_tags
    if balancing and (current.get("loadBalancers") != balancing["loadBalancers"]
                      or current.get("healthCheckGracePeriodSeconds") != health_check_grace):
        changes.update(balancing)
    if changes:
        ecs.update_service(cluster=cluster, service=service, **changes)
        return describe_service(ecs, cluster, service)
    return current


def _balancing(session: Any, task_definition: str | Mapping[str, Any], load_balancer: Any | None,
               container: str | None, grace: int) -> dict:
    """CreateService's ``loadBalancers`` and ``healthCheckGracePeriodSeconds`` for ``load_balancer`` ({} without)."""
    if load_balancer is None:
        return {}
    if not isinstance(grace, int) or isinstance(grace, bool) or not 0 <= grace <= 2147483647:
        raise InvalidParameter("health_check_grace", grace, "whole seconds, 0 or more")
    if container is None:
        if isinstance(task_definition, Mapping):
            containers = task_definition["containerDefinitions"]
        else:
            containers = session.client("ecs").describe_task_definition(
                taskDefinition=task_definition)["taskDefinition"]["containerDefinitions"]
        container = containers[0]["name"]
    return {"loadBalancers": [load_balancer.service_entry(container)], "healthCheckGracePeriodSeconds": grace}


def _capacity(capacity: str | Sequence[Mapping[str, Any]]) -> dict:
    """CreateService's ``launchType`` or ``capacityProviderStrategy`` for ``capacity``."""
    if capacity == "FARGATE":
        return {"launchType": "FARGATE"}
    strategy = [{"capacityProvider": "FARGATE_SPOT", "weight": 1}] if capacity == "FARGATE_SPOT" else capacity
    valid = ('"FARGATE", "FARGATE_SPOT", or a list of {"capacityProvider": "FARGATE" or "FARGATE_SPOT", '
             '"weight": int >= 0, "base": int >= 0}')
    if isinstance(strategy, str) or not strategy or not all(
            isinstance(i, Mapping) and i.get("capacityProvider") in ("FARGATE", "FARGATE_SPOT")
            and int(i.get("weight", 0)) >= 0 and int(i.get("base", 0)) >= 0 for i in strategy):
        raise InvalidParameter("capacity", capacity, valid)
    return {"capacityProviderStrategy": [dict(i) for i in strategy]}


def _config_differs(live: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    breaker = live.get("deploymentCircuitBreaker") or {}
    return (bool(breaker.get("enable")) != wanted["deploymentCircuitBreaker"]["enable"]
            or bool(breaker.get("rollback")) != wanted["deploymentCircuitBreaker"]["rollback"]
            or live.get("minimumHealthyPercent") != wanted["minimumHealthyPercent"]
            or live.get("maximumPercent") != wanted["maximumPercent"])


def _network_differs(live: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    a, b = live.get("awsvpcConfiguration") or {}, wanted["awsvpcConfiguration"]
    return (sorted(a.get("subnets") or []) != sorted(b.get("subnets") or [])
            or sorted(a.get("securityGroups") or []) != sorted(b.get("securityGroups") or [])
            or (a.get("assignPublicIp") or "DISABLED") != (b.get("assignPublicIp") or "DISABLED"))


# -- plan ---------------------------------------------------------------------------------------------


def with_image_tag(definition: Mapping[str, Any], image_tag: str, container: str | None = None) -> dict:
    """A RegisterTaskDefinition payload of ``definition`` with ``container``'s image (default: the first
    essential container's) retagged ``image_tag``."""
    if not isinstance(image_tag, str) or not image_tag or len(image_tag) > 128 or "/" in image_tag:
        raise InvalidParameter("image_tag", image_tag, "an image tag: 1-128 characters, no '/'")
    payload = {k: v for k, v in definition.items() if k not in taskdef.SERVICE_KEYS}
    containers = [dict(c) for c in payload.get("containerDefinitions") or []]
    names = [c["name"] for c in containers]
    name = container or next((c["name"] for c in containers if c.get("essential", True)), None)
    if name not in names:
        raise InvalidParameter("container", container, f"one of the task definition's containers: {names}")
    for c in containers:
        if c["name"] == name:
            c["image"] = f"{image_repository(c['image'])}:{image_tag}"
    payload["containerDefinitions"] = containers
    return payload


def image_repository(image: str) -> str:
    """``image`` without its tag and digest (registry host and port kept), as the Docker SDK reads references."""
    from docker.utils import parse_repository_tag

    repository, _ = parse_repository_tag(image)  # a digest first ("repo:tag@sha256:..."), then a tag
    return parse_repository_tag(repository)[0]


@dataclass
class Plan:
    """What ``deploy`` would change: the service's revision now, the task definition wanted, and their diff."""

    cluster: str
    service: str
    current: str  # the service's task definition ARN
    desired: dict | None  # a definition to register, or None when ``target`` names an existing revision
    target: str | None  # an existing revision to deploy (ARN or family:revision), or None
    diff: str
    rollout_state: str
    running: int
    desired_count: int

    @property
    def changes(self) -> bool:
        return bool(self.diff) or (self.target is not None and revision_name(self.target) != revision_name(
            self.current))

    def summary(self) -> str:
        if not self.changes:
            pending = "" if self.rollout_state == "COMPLETED" else " deploy waits for that deployment to finish."
            return (f"No change: service {self.service} already runs {revision_name(self.current)} "
                    f"(rollout {self.rollout_state}, {self.running} of {self.desired_count} running).{pending}")
        head = f"Service {self.service} runs {revision_name(self.current)}; the deployment will change:"
        return head + "\n" + (self.diff or f"task definition {revision_name(self.current)} -> {self.target}")


def plan(session: Any, cluster: str, service: str, *, image_tag: str | None = None,
         task_definition: str | Mapping[str, Any] | None = None, container: str | None = None) -> Plan:
    """What deploying ``image_tag`` (into the service's current definition) or ``task_definition`` would change."""
    if (image_tag is None) == (task_definition is None):
        raise InvalidParameter("image_tag/task_definition", (image_tag, task_definition),
                               "exactly one of them: an image tag to roll out, or a task definition")
    ecs = session.client("ecs")
    described = describe_service(ecs, cluster, service)
    current_arn = described["taskDefinition"]
    current = ecs.describe_task_definition(taskDefinition=current_arn)["taskDefinition"]
    primary = next((d for d in described.get("deployments") or [] if d.get("status") == "PRIMARY"), {})
    common = dict(cluster=cluster, service=service, current=current_arn,
                  rollout_state=primary.get("rolloutState", "?"), running=described.get("runningCount", 0),
                  desired_count=described.get("desiredCount", 0))
    if isinstance(task_definition, str):
        wanted = ecs.describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
        return Plan(desired=None, target=wanted["taskDefinitionArn"],
                    diff=taskdef.diff(current, wanted, revision_name(current_arn)), **common)
    desired = (with_image_tag(current, image_tag, container) if image_tag is not None
               else taskdef.with_session_region(session, task_definition))
    return Plan(desired=desired, target=None, diff=taskdef.diff(current, desired, revision_name(current_arn)),
                **common)


# -- deploy -------------------------------------------------------------------------------------------


@dataclass
class DeploymentResult:
    """What ``deploy`` did, as a runbook records it."""

    cluster: str
    service: str
    outcome: str  # "COMPLETED" or "UNCHANGED"
    deployment_id: str
    task_definition: str
    revision: int
    previous_task_definition: str
    registered: bool  # a new task definition revision was registered
    seconds: float
    started_at: str
    finished_at: str
    events: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.outcome != "UNCHANGED"

    def record(self) -> dict:
        """A JSON-ready summary (what a caller reads back from the output notebook)."""
        return {k: v for k, v in asdict(self).items() if k != "events"} | {"events": len(self.events)}


def _primary(described: dict) -> dict:
    return next((d for d in described.get("deployments") or [] if d.get("status") == "PRIMARY"), {})


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _stopped_tasks(session: Any, cluster: str, deployment_id: str, limit: int = 20) -> list[TaskResult]:
    """The deployment's stopped tasks as ``helpers.tasks.TaskResult`` (newest ECS keeps), at most ``limit``."""
    ecs = session.client("ecs")
    arns: list[str] = []
    for page in ecs.get_paginator("list_tasks").paginate(cluster=cluster, startedBy=deployment_id,
                                                          desiredStatus="STOPPED"):
        arns.extend(page.get("taskArns", []))
    return describe_tasks(session, cluster, arns[:limit]) if arns else []


def _reasons(stopped: Sequence[TaskResult]) -> list[str]:
    seen: dict[str, int] = {}
    for result in stopped:
        text = f"{result.stop_code}: {result.stopped_reason}"
        seen[text] = seen.get(text, 0) + 1
    return [f"{n} task(s) {text}" for text, n in seen.items()]


def _target_arn(session: Any, chosen: Plan) -> tuple[str, bool]:
    """The revision to deploy, and whether it was registered now (only when it differs from the live one)."""
    if chosen.target is not None:
        return chosen.target, False
    if not chosen.diff:
        return chosen.current, False
    registration = taskdef.register(session, chosen.desired)
    return registration.arn, registration.created


def deploy(session: Any, cluster: str, service: str, *, image_tag: str | None = None,
           task_definition: str | Mapping[str, Any] | None = None, timeout: float = 900,
           rollback_on_failure: bool = True, container: str | None = None, poll: float = DEFAULT_POLL,
           say: Say = print) -> DeploymentResult:
    """Roll ``image_tag`` (or ``task_definition``) out to ``service`` and wait for a true answer.

    Registers a new revision only when the definition changed, updates the service and
    follows the deployment (a line per change, each new service event once). Returns when
    the new deployment is PRIMARY, COMPLETED and runs every desired task. A FAILED rollout,
    a circuit-breaker rollback or the timeout raise DeploymentFailed with the events and the
    stopped tasks' reasons; with ``rollback_on_failure`` the service is first put back on the
    previous revision (the circuit breaker's rollback, else an update) and that is waited for.
    Deploying what already runs changes nothing and says so.
    """
    timeout = _check_timeout(timeout)
    started, clock = _now_iso(), time.monotonic()
    chosen = plan(session, cluster, service, image_tag=image_tag, task_definition=task_definition,
                  container=container)
    ecs = session.client("ecs")
    described = describe_service(ecs, cluster, service)
    primary = _primary(described)
    arn, registered = _target_arn(session, chosen)
    previous = chosen.current
    seen = {e["id"] for e in described.get("events") or []}
    if primary.get("taskDefinition") == arn and primary.get("rolloutState") == "COMPLETED":
        say(f"Nothing to deploy: service {service} already runs {revision_name(arn)} "
            f"(deployment {primary['id']}, {primary.get('runningCount')} of {primary.get('desiredCount')} running). "
            "No revision registered, no deployment started.")
        return _result(cluster, service, "UNCHANGED", primary["id"], arn, previous, False, started, clock, [])
    if primary.get("taskDefinition") == arn and primary.get("rolloutState") == "IN_PROGRESS":
        say(f"Service {service} is already deploying {revision_name(arn)} (deployment {primary['id']}): waiting for it.")
        deployment_id = primary["id"]
    else:
        say(f"{'Registered' if registered else 'Using'} {revision_name(arn)}; updating service {service} "
            f"(from {revision_name(previous)}).")
        deployment_id = _update(ecs, cluster, service, arn, described, rollback_on_failure)
        say(f"Deployment {deployment_id} started; waiting up to {timeout:.0f}s.")
    outcome = rollout.watch(session, cluster, service, deployment_id, timeout=timeout, poll=poll, seen_events=seen,
                            say=say)
    if outcome.ok:
        say(f"Deployment {deployment_id} COMPLETED: {revision_name(arn)} runs "
            f"{outcome.deployment.get('runningCount')} task(s), in {time.monotonic() - clock:.1f}s.")
        return _result(cluster, service, "COMPLETED", deployment_id, arn, previous, registered, started, clock,
                       outcome.events)
    raise _failed(session, cluster, service, outcome, previous, arn, rollback_on_failure, timeout, poll, say)


def _update(ecs: Any, cluster: str, service: str, arn: str, described: dict, rollback: bool) -> str:
    """UpdateService to ``arn``; the circuit breaker's rollback follows ``rollback`` for this deployment."""
    request: dict[str, Any] = {"cluster": cluster, "service": service, "taskDefinition": arn}
    config = dict(described.get("deploymentConfiguration") or {})
    breaker = config.get("deploymentCircuitBreaker") or {}
    if breaker.get("enable") and bool(breaker.get("rollback")) != rollback:
        config["deploymentCircuitBreaker"] = {"enable": True, "rollback": rollback}
        request["deploymentConfiguration"] = config
    answer = ecs.update_service(**request)["service"]
    primary = _primary(answer)
    if primary.get("taskDefinition") != arn:  # the API answers with the new PRIMARY deployment
        primary = _primary(describe_service(ecs, cluster, service))
    return primary["id"]


def _result(cluster: str, service: str, outcome: str, deployment_id: str, arn: str, previous: str, registered: bool,
            started: str, clock: float, events: list[str]) -> DeploymentResult:
    return DeploymentResult(
        cluster=cluster, service=service, outcome=outcome, deployment_id=deployment_id, task_definition=arn,
        revision=int(arn.rsplit(":", 1)[-1]), previous_task_definition=previous, registered=registered,
        seconds=round(time.monotonic() - clock, 1), started_at=started, finished_at=_now_iso(), events=events,
    )


def _failed(session: Any, cluster: str, service: str, outcome: Outcome, previous: str, arn: str, rollback: bool,
            timeout: float, poll: float, say: Say) -> DeploymentFailed:
    """Roll back when asked, then the DeploymentFailed that says what happened and why."""
    say(f"Deployment {outcome.deployment_id} {outcome.state}: {outcome.reason}")
    stopped = _stopped_tasks(session, cluster, outcome.deployment_id)
    events = list(outcome.events)
    rolled_back_to, note = None, "The service was left as it is (rollback_on_failure=False)."
    if rollback:
        rolled_back_to, note, more = _roll_back(session, cluster, service, outcome, previous, arn, timeout, poll, say)
        events += more
    reasons = _reasons(stopped)
    message = "\n".join([
        f"deployment {outcome.deployment_id} of {revision_name(arn)} to service {service} did not complete: "
        f"{outcome.state} ({outcome.reason}).",
        note,
        "stopped tasks: " + ("; ".join(reasons) if reasons else "none"),
        *(f"  hint: {h}" for h in dict.fromkeys(r.hint for r in stopped if r.hint)),
        "last service events:", *(f"  {e}" for e in events[-8:]),
    ])
    return DeploymentFailed(message, events=events, stopped_tasks=stopped, deployment_id=outcome.deployment_id,
                            task_definition=arn, rolled_back_to=rolled_back_to)


def _roll_back(session: Any, cluster: str, service: str, outcome: Outcome, previous: str, arn: str, timeout: float,
               poll: float, say: Say) -> tuple[str | None, str, list[str]]:
    """Put the service back on ``previous`` (or follow the circuit breaker's rollback) and wait for it."""
    ecs = session.client("ecs")
    described = describe_service(ecs, cluster, service)
    primary = _primary(described)
    if previous == arn:
        return None, f"No rollback: {revision_name(arn)} was already the service's revision.", []
    if primary.get("taskDefinition") == previous and primary.get("id") != outcome.deployment_id:
        say(f"The circuit breaker rolled back to {revision_name(previous)} (deployment {primary['id']}): waiting.")
        deployment_id = primary["id"]
    else:
        say(f"Rolling back: service {service} goes back to {revision_name(previous)}.")
        deployment_id = _update(ecs, cluster, service, previous, described, False)
    seen = {e["id"] for e in described.get("events") or []}
    back = rollout.watch(session, cluster, service, deployment_id, timeout=timeout, poll=poll, seen_events=seen,
                         say=say)
    if back.ok:
        return previous, f"Rolled back: the service runs {revision_name(previous)} again (deployment {deployment_id}).", \
            back.events
    return previous, (f"The rollback to {revision_name(previous)} did not complete either: {back.state} "
                      f"({back.reason})."), back.events


# -- scale, status, delete ----------------------------------------------------------------------------


def scale(session: Any, cluster: str, service: str, desired_count: int, *, timeout: float = 300,
          poll: float = DEFAULT_POLL, say: Say = print) -> dict:
    """Set the desired count and wait until the PRIMARY deployment runs exactly that many tasks."""
    _check_count("desired_count", desired_count)
    timeout = _check_timeout(timeout)
    ecs = session.client("ecs")
    describe_service(ecs, cluster, service)
    ecs.update_service(cluster=cluster, service=service, desiredCount=desired_count)
    deadline = time.monotonic() + timeout
    while True:
        described = describe_service(ecs, cluster, service)
        primary = _primary(described)
        if (described.get("runningCount") == desired_count and described.get("pendingCount") == 0
                and primary.get("runningCount") == desired_count):
            say(f"service {service}: {desired_count} task(s) running")
            return described
        if time.monotonic() >= deadline:
            raise DeploymentFailed(
                f"service {service} did not reach {desired_count} running task(s) within {timeout:.0f}s: "
                f"{described.get('runningCount')} running, {described.get('pendingCount')} pending")
        time.sleep(poll)


@dataclass
class ServiceStatus:
    """A service as four tables: the service, its deployments, its events (newest first), its tasks."""

    service: pd.DataFrame
    deployments: pd.DataFrame
    events: pd.DataFrame
    tasks: pd.DataFrame


def status(session: Any, cluster: str, service: str, *, events: int = 20) -> ServiceStatus:
    """The service's state now, as DataFrames."""
    ecs = session.client("ecs")
    described = describe_service(ecs, cluster, service)
    breaker = (described.get("deploymentConfiguration") or {}).get("deploymentCircuitBreaker") or {}
    row = {
        "service": described["serviceName"], "status": described["status"],
        "task definition": revision_name(described.get("taskDefinition")),
        "desired": described.get("desiredCount"), "running": described.get("runningCount"),
        "pending": described.get("pendingCount"), "launch type": described.get("launchType"),
        "circuit breaker": "on" + (" (rollback)" if breaker.get("rollback") else "") if breaker.get("enable")
        else "off",
    }
    deployments = pd.DataFrame([{
        "id": d["id"], "status": d.get("status"), "task definition": revision_name(d.get("taskDefinition")),
        "rollout": d.get("rolloutState"), "desired": d.get("desiredCount"), "running": d.get("runningCount"),
        "pending": d.get("pendingCount"), "failed": d.get("failedTasks"), "created": d.get("createdAt"),
        "reason": d.get("rolloutStateReason"),
    } for d in described.get("deployments") or []])
    event_rows = pd.DataFrame([{"at": e["createdAt"], "message": e["message"]}
                               for e in (described.get("events") or [])[:events]], columns=["at", "message"])
    arns: list[str] = []
    for page in ecs.get_paginator("list_tasks").paginate(cluster=cluster, serviceName=service):
        arns.extend(page.get("taskArns", []))
    tasks = results_table(describe_tasks(session, cluster, arns)) if arns else pd.DataFrame()
    return ServiceStatus(pd.DataFrame([row]), deployments, event_rows, tasks)


def delete(session: Any, cluster: str, service: str, *, timeout: float = 300, poll: float = DEFAULT_POLL,
           say: Say = print) -> bool:
    """Scale to 0, wait for the tasks to stop, delete the service and wait until it is INACTIVE.

    Returns False (and does nothing) when the service does not exist or was deleted already.
    """
    timeout = _check_timeout(timeout)
    ecs = session.client("ecs")
    try:
        described = describe_service(ecs, cluster, service)
    except ServiceNotFound:
        say(f"service {service} does not exist in {cluster}: nothing to delete")
        return False
    if described["status"] == "ACTIVE" and (described.get("desiredCount") or described.get("runningCount")):
        scale(session, cluster, service, 0, timeout=timeout, poll=poll, say=say)
    ecs.delete_service(cluster=cluster, service=service)
    waiter = ecs.get_waiter("services_inactive")
    waiter.wait(cluster=cluster, services=[service],
                WaiterConfig={"Delay": max(1, int(poll)), "MaxAttempts": max(1, int(timeout / max(1, int(poll))))})
    say(f"service {service} deleted")
    return True


# -- the runbook's record -----------------------------------------------------------------------------

RECORD_TAG = "record"


def read_record(notebook: str | Any) -> dict:
    """The deployment record an executed notebook 03 printed (its cell tagged ``record``), as a dict."""
    import json

    import nbformat

    nb = nbformat.read(str(notebook), as_version=4)
    for cell in nb.cells:
        if RECORD_TAG in cell.get("metadata", {}).get("tags", []):
            text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
            if text.strip():
                return json.loads(text)
    raise LookupError(f"{notebook} has no output in a cell tagged {RECORD_TAG!r}: the run stopped before it")
