"""ECS services as ECS runs them: a scheduler that starts the tasks, rolls deployments out in time, and fails them.

moto 5.2.5 keeps a service as a record only: it starts no task, reports ``runningCount``
equal to ``desiredCount`` at once, has one deployment that is COMPLETED from the start,
ignores ``deploymentConfiguration``, ``enableECSManagedTags`` and the circuit breaker,
writes no service events, and deletes a service without draining it.

Here a scheduler thread (and every DescribeServices) reconciles each service: it starts
the PRIMARY deployment's tasks through the same RunTask path and executor as one-off tasks
(``group`` "service:NAME", ``startedBy`` the deployment id, as ECS sets them), within
``maximumPercent``; it stops the older deployments' tasks only while ``minimumHealthyPercent``
stays running; it replaces a task that stops on its own; it moves ``rolloutState`` from
IN_PROGRESS to COMPLETED once the new tasks run and the old ones are gone; and it writes
service events with ECS's wording; launches of a deployment whose tasks keep failing are spaced out (``restart_delay``),
as ECS throttles them. The deployment circuit breaker fails a deployment after
``min(200, max(3, ceil(0.5 * desiredCount)))`` failed tasks and, with rollback on, starts a new
deployment of the last COMPLETED task definition. DeleteService drains (DRAINING, then INACTIVE).
CreateService keeps its ``capacityProviderStrategy`` (moto drops it and shows ``launchType: EC2``).
Beside each service event the scheduler sends ECS's EventBridge events (``emulator.ecs_events``): a deployment's
state changes and the service's actions (steady state, tasks stopped, start impaired, placement failure).

The fixes are ``ServicesBackend`` and ``ServicesResponse``, installed by ``emulator.extensions``; what the
scheduler knows of a service (``Scheduled``) lives in ``SCHEDULED``, by service ARN, beside moto's service.

Runs inside the embedded backend's server process.
"""

from __future__ import annotations

import logging
import math
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from moto.core.responses import ActionResult
from moto.ecs.exceptions import EcsClientException, InvalidParameterException

from emulator import clock, ecs_events, ecs_targets
from emulator.fidelity import ecs, ecs_fields

log = logging.getLogger("emulator.fidelity.services")

#: Seconds between two scheduler passes.
TICK_SECONDS = 0.25
#: ECS keeps the latest 100 service events.
MAX_EVENTS = 100
#: RunTask starts at most 10 tasks a call; ECS's scheduler starts tasks in batches too.
LAUNCH_BATCH = 10
DEFAULT_DEPLOYMENT_CONFIGURATION = {
    "deploymentCircuitBreaker": {"enable": False, "rollback": False},
    "maximumPercent": 200,
    "minimumHealthyPercent": 100,
}
HEALTH_CHECK_FAILED = "Task failed container health checks"
#: ECS's stoppedReason of a task whose target failed the target group's health checks.
ELB_HEALTH_FAILED = "Task failed ELB health checks in (target-group {arn})"
#: The longest wait between two launches of a service whose tasks keep failing (ECS's throttle goes further).
MAX_RESTART_DELAY = 30.0


def _check_grace(grace: Any, balancers: Any) -> None:
    """CreateService and UpdateService refuse a health check grace period for a service with no load balancer."""
    if grace is not None and not balancers:
        raise InvalidParameterException("Health check grace period is only valid for services configured to use "
                                        "load balancers")


_thread: dict[str, threading.Thread] = {}
_stop = threading.Event()


@dataclass
class _Run:
    """What the scheduler remembers of one deployment (the API's deployment dict holds the rest)."""

    counted: set[str] = field(default_factory=set)  # task ids whose failure was counted
    by_scheduler: set[str] = field(default_factory=set)  # task ids the scheduler stopped itself
    warned: bool = False
    last_launch: float | None = None  # clock.monotonic() of the last launch, for the restart back-off


def restart_delay(failed: int) -> float:
    """Seconds between launches once a deployment's tasks fail: ECS throttles restarts of a failing service
    (doubling, capped); 0 before the second failure."""
    return 0.0 if failed < 2 else min(MAX_RESTART_DELAY, 0.5 * 2 ** (failed - 1))


_runs: dict[str, _Run] = {}


@dataclass
class Scheduled:
    """What the scheduler knows of a service it runs (moto's service holds what the API shows)."""

    completed: str | None = None  # the task definition of the last COMPLETED deployment
    steady: bool = False  # "has reached a steady state" was said for the current state
    client_token: str | None = None  # CreateService's clientToken


#: Every service the scheduler runs, by service ARN.
SCHEDULED: dict[str, Scheduled] = {}


def failure_threshold(desired: int) -> int:
    """The circuit breaker's threshold: 0.5 * desired count, at least 3 and at most 200 (ECS's rule)."""
    return min(200, max(3, math.ceil(0.5 * desired)))


# -- events and deployments ----------------------------------------------------------------------------


def add_event(service: Any, message: str) -> None:
    """A service event, newest first as DescribeServices lists them."""
    service.events.insert(0, {"id": str(uuid.uuid4()), "createdAt": clock.now(), "message": f"(service {service.name}) "
                                                                                       f"{message}"})
    del service.events[MAX_EVENTS:]


def _deployment_id() -> str:
    from moto.moto_api._internal import mock_random

    return f"ecs-svc/{mock_random.randint(10**18, 10**19 - 1)}"


def new_deployment(service: Any, task_definition: str, rollback: bool = False) -> dict:
    """Make a new PRIMARY deployment of ``task_definition``; the others become ACTIVE (and drain).
    A ``rollback`` names itself as the deployment rolled back to in its in-progress event, as ECS's does."""
    for deployment in service.deployments:
        deployment["status"] = "ACTIVE"
    now = clock.now()
    deployment_id = _deployment_id()
    deployment = {
        "id": deployment_id,
        "status": "PRIMARY",
        "taskDefinition": task_definition,
        "desiredCount": service.desired_count,
        "pendingCount": 0,
        "runningCount": 0,
        "failedTasks": 0,
        "createdAt": now,
        "updatedAt": now,
        "launchType": service.launch_type,
        "platformVersion": service.platform_version or "LATEST",
        "platformFamily": "Linux",
        "capacityProviderStrategy": getattr(service, "capacity_provider_strategy", None) or None,
        "networkConfiguration": service.network_configuration or None,
        "rolloutState": "IN_PROGRESS",
        "rolloutStateReason": f"ECS deployment {deployment_id} in progress.",
    }
    service.deployments.insert(0, deployment)
    service.task_definition = task_definition
    _runs[deployment_id] = _Run()
    reason = (f"ECS deployment circuit breaker: rolling back to deploymentId {deployment_id}." if rollback
              else deployment["rolloutStateReason"])
    ecs_events.deployment_changed(service, deployment, "SERVICE_DEPLOYMENT_IN_PROGRESS", reason)
    return deployment


def adopt(backend: Any, service: Any, configuration: dict | None, managed_tags: bool) -> None:
    """Take a new moto service over: ECS's fields, no tasks yet, one IN_PROGRESS deployment."""
    SCHEDULED[service.arn] = Scheduled()
    service.deployment_configuration = deployment_configuration(configuration)
    service.enable_ecs_managed_tags = bool(managed_tags)
    service.created_at = clock.now()
    service.platform_version = service.platform_version or "LATEST"
    service.platform_family = "Linux"
    service.running_count = 0
    service.pending_count = 0
    service.events = []
    service.deployments = []
    new_deployment(service, service.task_definition)


def deployment_configuration(given: dict | None, current: dict | None = None) -> dict:
    """ECS's deploymentConfiguration: what was given over what there was, over ECS's defaults."""
    merged = {**DEFAULT_DEPLOYMENT_CONFIGURATION, **(current or {}), **(given or {})}
    breaker = {**DEFAULT_DEPLOYMENT_CONFIGURATION["deploymentCircuitBreaker"],
               **(merged.get("deploymentCircuitBreaker") or {})}
    merged["deploymentCircuitBreaker"] = {"enable": bool(breaker["enable"]), "rollback": bool(breaker["rollback"])}
    return merged


# -- the scheduler -------------------------------------------------------------------------------------


def _service_tasks(backend: Any, service: Any) -> list:
    group = f"service:{service.name}"
    return [t for t in backend.tasks.get(service.cluster_name, {}).values() if t.group == group]


def _launched(task: Any) -> bool:
    return ecs.launched(task) is not None


def _live(task: Any) -> bool:
    """Not STOPPED and not on its way there."""
    return task.last_status != "STOPPED" and task.desired_status != "STOPPED"


def _healthy(backend: Any, task: Any) -> bool | None:
    """True when every essential container with a health check is HEALTHY; False when one is UNHEALTHY."""
    try:
        td = backend.describe_task_definition(task.task_definition_arn)
    except Exception:  # noqa: BLE001 - a deleted revision: no health checks to wait for
        return True
    checked = {c["name"] for c in td.container_definitions if c.get("healthCheck") and c.get("essential", True)}
    if not checked or ecs.executor().name != "docker":  # the simulated executor runs no health check
        return True
    states = {c.name: c.health_status for c in task.containers if c.name in checked}
    if "UNHEALTHY" in states.values():
        return False
    return all(s == "HEALTHY" for s in states.values()) or None


def _running(backend: Any, task: Any) -> bool:
    return _live(task) and task.last_status == "RUNNING" and _healthy(backend, task) is True


def _stop_task(service: Any, task: Any, reason: str) -> None:
    run = _runs.get(task.started_by)
    if run is not None:
        run.by_scheduler.add(task.id)
    record = ecs.launched(task)
    groups = ecs_targets.registered_in(service, task)
    if record is not None and not record.final and not record.failed and \
            not ecs_targets.drain_first(service, task, reason, "ServiceSchedulerInitiated"):
        ecs.executor().stop(task.id, reason, "ServiceSchedulerInitiated")
    elif task.id in ecs_targets.DRAINING and task.desired_status != "STOPPED":
        add_event(service, "has begun draining connections on 1 tasks.")
    for arn in set(groups) - set(ecs_targets.registered_in(service, task)):
        add_event(service, f"deregistered 1 targets in (target-group {arn})")
    task.desired_status = "STOPPED"
    ecs.changed(task)
    ecs.sync(task)


def _tags_for(backend: Any, service: Any, task_definition: str) -> list[dict]:
    tags: list[dict] = []
    if service.propagate_tags == "SERVICE":
        tags = list(service.tags or [])
    elif service.propagate_tags == "TASK_DEFINITION":
        tags = list(backend.describe_task_definition(task_definition).tags or [])
    if service.enable_ecs_managed_tags:
        tags += [{"key": "aws:ecs:clusterName", "value": service.cluster_name},
                 {"key": "aws:ecs:serviceName", "value": service.name}]
    return tags


def provider_for(strategy: list[dict], counts: dict[str, int]) -> str:
    """The capacity provider of the next task: each provider's ``base`` first, then in proportion to ``weight``."""
    for item in strategy:
        if counts.get(item["capacityProvider"], 0) < int(item.get("base") or 0):
            return item["capacityProvider"]
    weighted = [i for i in strategy if int(i.get("weight") or 0) > 0] or strategy[:1]
    return min(weighted, key=lambda i: (counts.get(i["capacityProvider"], 0) - int(i.get("base") or 0) + 1)
               / max(1, int(i.get("weight") or 0)))["capacityProvider"]


def _launch_plan(service: Any, live: list, count: int) -> list[tuple[str | None, list | None]]:
    """(launch type, capacity provider strategy) of each task to start: the service's launch type, or its
    capacity provider strategy spread over the providers as ECS does."""
    strategy = getattr(service, "capacity_provider_strategy", None)
    if not strategy:
        return [("FARGATE", None)] * count
    counts: dict[str, int] = {}
    for task in live:
        name = task.capacity_provider_name or "FARGATE"
        counts[name] = counts.get(name, 0) + 1
    plan = []
    for _ in range(count):
        provider = provider_for(strategy, counts)
        counts[provider] = counts.get(provider, 0) + 1
        plan.append((None, [{"capacityProvider": provider, "weight": 1}]))
    return plan


def _launch(backend: Any, service: Any, deployment: dict, count: int, live: list) -> None:
    networking = ecs._default_security_groups(backend, service.network_configuration or None)
    started = []
    for launch_type, strategy in _launch_plan(service, live, count):
        try:
            started += backend.run_task(
                service.cluster_name, deployment["taskDefinition"], 1, None, deployment["id"],
                _tags_for(backend, service, deployment["taskDefinition"]), launch_type, networking,
                f"service:{service.name}", service.platform_version, strategy)
        except Exception as error:  # noqa: BLE001 - ECS reports what stops it from placing tasks as an event
            message = getattr(error, "message", None) or str(error)
            add_event(service, f"was unable to place a task. Reason: {message}.")
            ecs_events.service_action(service, "SERVICE_TASK_PLACEMENT_FAILURE", message)
            _count_failure(service, deployment, f"placement-{uuid.uuid4()}")
            break
    if started:
        add_event(service, f"has started {len(started)} tasks: {' '.join(f'(task {t.id})' for t in started)}.")


def _count_failure(service: Any, deployment: dict, task_id: str) -> None:
    run = _runs.setdefault(deployment["id"], _Run())
    if task_id in run.counted:
        return
    run.counted.add(task_id)
    deployment["failedTasks"] += 1
    if deployment["failedTasks"] >= 2 and not run.warned and deployment["rolloutState"] == "IN_PROGRESS":
        run.warned = True
        add_event(service, "is unable to consistently start tasks successfully. For more information, see the "
                           "Troubleshooting section of the Amazon ECS Developer Guide.")
        ecs_events.service_action(service, "SERVICE_TASK_START_IMPAIRED")


def _note_failures(backend: Any, service: Any, tasks: list, deployments: dict[str, dict]) -> None:
    """Count each task that stopped without the scheduler stopping it (or failed its health checks)."""
    for task in tasks:
        deployment = deployments.get(task.started_by)
        if deployment is None:
            continue
        run = _runs.setdefault(deployment["id"], _Run())
        if task.id in run.by_scheduler or task.id in run.counted:
            continue
        if _live(task) and _healthy(backend, task) is False:
            _stop_task(service, task, HEALTH_CHECK_FAILED)
            run.by_scheduler.discard(task.id)
        failing = ecs_targets.unhealthy(service, task) if _live(task) else None
        if failing is not None:  # after the grace period: an unhealthy target's task is replaced
            entry, health = failing
            add_event(service, f"(port {entry['containerPort']}) is unhealthy in (target-group "
                               f"{entry['targetGroupArn']}) due to (reason {health.description}).")
            _stop_task(service, task, ELB_HEALTH_FAILED.format(arn=entry["targetGroupArn"]))
            add_event(service, f"has stopped 1 running tasks: (task {task.id}).")
            run.by_scheduler.discard(task.id)
        if _live(task) or task.stop_code == "UserInitiated":
            continue
        _count_failure(service, deployment, task.id)


def _circuit_breaker(service: Any, primary: dict) -> None:
    breaker = service.deployment_configuration["deploymentCircuitBreaker"]
    if not breaker["enable"] or primary["rolloutState"] != "IN_PROGRESS":
        return
    if primary["failedTasks"] < failure_threshold(service.desired_count):
        return
    primary["rolloutState"] = "FAILED"
    primary["updatedAt"] = clock.now()
    add_event(service, f"(deployment {primary['id']}) deployment failed: tasks failed to start.")
    ecs_events.deployment_changed(service, primary, "SERVICE_DEPLOYMENT_FAILED",
                                  "ECS deployment circuit breaker: task failed to start.")
    target = SCHEDULED[service.arn].completed
    if breaker["rollback"] and target and target != primary["taskDefinition"]:
        rollback = new_deployment(service, target, rollback=True)
        primary["rolloutStateReason"] = f"ECS deployment circuit breaker: rolling back to deploymentId {rollback['id']}."
        add_event(service, f"rolling back to deployment {rollback['id']}.")
    else:
        primary["rolloutStateReason"] = "ECS deployment circuit breaker: tasks failed to start."


def reconcile(backend: Any, service: Any) -> None:
    """One scheduler pass over ``service`` (call with ecs._lock held)."""
    if service.arn not in SCHEDULED or service.status == "INACTIVE":
        return
    tasks = [t for t in _service_tasks(backend, service) if _launched(t)]
    for task in tasks:
        ecs.sync(task)
    deployments = {d["id"]: d for d in service.deployments}
    _note_failures(backend, service, tasks, deployments)
    primary = service.deployments[0] if service.deployments else None
    draining = service.status == "DRAINING"
    desired = 0 if draining else service.desired_count
    config = service.deployment_configuration
    if primary is not None and not draining:
        _circuit_breaker(service, primary)
        primary = service.deployments[0]
    live = {d["id"]: [t for t in tasks if t.started_by == d["id"] and _live(t)] for d in service.deployments}
    # Behind a load balancer a task counts towards minimumHealthyPercent once its targets are healthy, as on ECS.
    running = [t for t in tasks if _running(backend, t) and ecs_targets.in_service(service, t)]

    # Start the PRIMARY deployment's missing tasks, within maximumPercent.
    if primary is not None and not draining and primary["rolloutState"] != "FAILED":
        ceiling = max(desired, math.floor(desired * config["maximumPercent"] / 100))
        room = ceiling - sum(len(v) for v in live.values())
        count = min(desired - len(live[primary["id"]]), room, LAUNCH_BATCH)
        run = _runs.setdefault(primary["id"], _Run())
        if count > 0 and (run.last_launch is None
                          or clock.monotonic() - run.last_launch >= restart_delay(primary["failedTasks"])):
            run.last_launch = clock.monotonic()
            _launch(backend, service, primary, count, live[primary["id"]])
            tasks = [t for t in _service_tasks(backend, service) if _launched(t)]
            live[primary["id"]] = [t for t in tasks if t.started_by == primary["id"] and _live(t)]

    # Stop what is too many: the PRIMARY's extra tasks, and older deployments' tasks while enough run.
    stopped: list[str] = []
    if primary is not None and len(live[primary["id"]]) > desired:
        extra = sorted(live[primary["id"]], key=lambda t: t.last_status == "RUNNING")[: len(live[primary["id"]]) - desired]
        for task in extra:
            _stop_task(service, task, f"Scaling activity initiated by (deployment {primary['id']})")
            stopped.append(task.id)
    floor = 0 if draining else math.ceil(desired * config["minimumHealthyPercent"] / 100)
    spare = len([t for t in running if t.id not in stopped]) - floor
    for deployment in service.deployments[1:] if primary is not None and not draining else service.deployments:
        for task in sorted(live.get(deployment["id"], []), key=lambda t: t.last_status == "RUNNING"):
            if task.id in stopped:
                continue
            is_running = task in running
            if is_running and spare <= 0:
                continue
            _stop_task(service, task, f"Scaling activity initiated by (deployment {deployment['id']})")
            stopped.append(task.id)
            spare -= 1 if is_running else 0
    if stopped:
        add_event(service, f"has stopped {len(stopped)} running tasks: {' '.join(f'(task {i})' for i in stopped)}.")
        ecs_events.service_action(service, "TASKS_STOPPED")

    _count(backend, service, tasks)
    for message in ecs_targets.sync(backend, service, tasks, ecs.executor()):  # loadBalancers: tasks are targets
        add_event(service, message)
    in_service = primary is None or all(ecs_targets.in_service(service, t) for t in live.get(primary["id"], []))
    _finish(service, draining, {t.started_by for t in tasks if t.last_status != "STOPPED"}, in_service)


def _count(backend: Any, service: Any, tasks: list) -> None:
    now = clock.now()
    for index, deployment in enumerate(service.deployments):
        mine = [t for t in tasks if t.started_by == deployment["id"] and _live(t)]
        counts = {
            "runningCount": len([t for t in mine if _running(backend, t)]),
            "pendingCount": len([t for t in mine if not _running(backend, t)]),
            "desiredCount": service.desired_count if index == 0 and service.status == "ACTIVE" else len(mine),
        }
        if any(deployment[k] != v for k, v in counts.items()):
            deployment.update(counts, updatedAt=now)
    service.running_count = sum(d["runningCount"] for d in service.deployments)
    service.pending_count = sum(d["pendingCount"] for d in service.deployments)


def _finish(service: Any, draining: bool, lingering: set[str], in_service: bool = True) -> None:
    """Drop drained deployments; complete the PRIMARY one; a drained DRAINING service becomes INACTIVE.

    ``lingering``: the deployments (ids) with a task not yet STOPPED. As on ECS, a task being stopped still
    counts: its deployment stays listed, and the service DRAINING, until the task has stopped (behind a load
    balancer: until its target has drained). ``in_service``: the PRIMARY's tasks are healthy targets of the
    service's target groups; a deployment is not COMPLETED before."""
    if draining:
        if service.running_count == 0 and service.pending_count == 0 and not lingering:
            service.status = "INACTIVE"
        return
    primary, older = service.deployments[0], service.deployments[1:]
    service.deployments[1:] = [d for d in older if d["runningCount"] or d["pendingCount"] or d["id"] in lingering]
    done = (primary["runningCount"] == service.desired_count and primary["pendingCount"] == 0
            and len(service.deployments) == 1 and in_service)
    if primary["rolloutState"] == "IN_PROGRESS" and done:
        primary["rolloutState"] = "COMPLETED"
        primary["rolloutStateReason"] = f"ECS deployment {primary['id']} completed."
        primary["updatedAt"] = clock.now()
        SCHEDULED[service.arn].completed = primary["taskDefinition"]
        add_event(service, f"(deployment {primary['id']}) deployment completed.")
        ecs_events.deployment_changed(service, primary, "SERVICE_DEPLOYMENT_COMPLETED", primary["rolloutStateReason"])
    steady = done and primary["rolloutState"] == "COMPLETED"
    record = SCHEDULED[service.arn]
    if steady and not record.steady:
        add_event(service, "has reached a steady state.")
        ecs_events.service_action(service, "SERVICE_STEADY_STATE")
    record.steady = steady


def tick() -> None:
    """One pass over every service of every account and region."""
    from moto.ecs.models import ecs_backends

    with ecs._lock:
        for account in list(dict.values(ecs_backends)):
            for backend in list(dict.values(account)):
                for service in list(backend.services.values()):
                    try:
                        reconcile(backend, service)
                    except Exception:  # noqa: BLE001 - one broken service must not stop the others
                        log.exception("scheduler pass over service %s failed", service.name)


def _loop() -> None:
    while not _stop.wait(TICK_SECONDS):
        try:
            tick()
        except Exception:  # noqa: BLE001 - e.g. moto resetting its backends under us: the next pass is fine
            log.exception("scheduler pass failed")


def ensure_scheduler() -> None:
    """Start the scheduler thread once (at the first service, not at import)."""
    if "thread" in _thread and _thread["thread"].is_alive():
        return
    _stop.clear()
    thread = threading.Thread(target=_loop, name="ecs-service-scheduler", daemon=True)
    _thread["thread"] = thread
    thread.start()


# -- the fixes, as subclasses (installed by emulator.extensions) --------------------------------------


class ServicesBackend(ecs.TasksBackend):
    """CreateService that checks as ECS does, DeleteService that drains, DescribeServices that reconciles."""

    def create_service(self, cluster_str: str, service_name: str, desired_count: int, *args: Any,
                       **kwargs: Any) -> Any:
        with ecs._lock:
            cluster = self._get_cluster(cluster_str)
            existing = self.services.get(f"{cluster.name}:{service_name}")
            if existing is not None and existing.status != "INACTIVE":
                raise InvalidParameterException("Creation of service was not idempotent.")
            if kwargs.get("network_configuration"):
                kwargs["network_configuration"] = ecs._default_security_groups(self, kwargs["network_configuration"])
            task_definition = args[0] if args else kwargs.get("task_definition_str")
            if task_definition:
                td = self.describe_task_definition(task_definition)
                if td.network_mode == "awsvpc" and not kwargs.get("network_configuration"):
                    raise InvalidParameterException(
                        "Network Configuration must be provided when networkMode 'awsvpc' is specified.")
                balancers = args[1] if len(args) > 1 else kwargs.get("load_balancers")
                ecs_targets.check_entries(td, balancers, self.account_id, self.region_name)
            service = super().create_service(cluster_str, service_name, desired_count, *args, **kwargs)
            if task_definition:
                service.task_definition = self.describe_task_definition(task_definition).arn
            return service

    def delete_service(self, cluster_name: str, service_name: str, force: bool) -> Any:
        with ecs._lock:
            service = super().delete_service(cluster_name, service_name, force)
            if service.arn in SCHEDULED:
                service.status = "DRAINING"
                service.desired_count = 0
                reconcile(self, service)
            return service

    def list_services(self, *args: Any, **kwargs: Any) -> list[str]:
        arns = super().list_services(*args, **kwargs)
        inactive = {s.arn for s in self.services.values() if s.status == "INACTIVE"}
        return [a for a in arns if a not in inactive]

    def describe_services(self, cluster_str: str, names: list[str]) -> Any:
        with ecs._lock:
            found, failures = super().describe_services(cluster_str, names)
            for service in found:
                reconcile(self, service)
            return found, failures

    def describe_clusters(self, *args: Any, **kwargs: Any) -> Any:
        """The counts of what each cluster holds now (moto keeps what its EC2 placement last set)."""
        clusters, failures = super().describe_clusters(*args, **kwargs)
        for cluster in clusters:
            _count_cluster(self, cluster)
        return clusters, failures


#: The task states ECS counts as pending in a cluster's ``pendingTasksCount``.
PENDING_STATES = ("PROVISIONING", "PENDING", "ACTIVATING")


def _count_cluster(backend: Any, cluster: Any) -> None:
    with ecs._lock:
        tasks = list(backend.tasks.get(cluster.name, {}).values())
        for task in tasks:
            ecs.sync(task)
        statuses = [task.last_status for task in tasks]
    cluster.running_tasks_count = statuses.count("RUNNING")
    cluster.pending_tasks_count = sum(statuses.count(s) for s in PENDING_STATES)
    cluster.active_services_count = sum(
        1 for service in backend.services.values()
        if service.cluster_name == cluster.name and service.status == "ACTIVE"
    )


def update_service(backend: Any, cluster_str: str, name: str, params: dict) -> Any:
    """UpdateService as ECS does it: a new deployment only when the task definition, the network, the platform
    version change, or ``forceNewDeployment``; a desired count alone changes the PRIMARY deployment's target."""
    with ecs._lock:
        service = backend._get_service(cluster_str, name.split("/")[-1])
        if service.status != "ACTIVE":
            raise EcsClientException("Service was not ACTIVE.")  # ServiceNotActiveException on ECS
        if service.arn not in SCHEDULED:
            adopt(backend, service, None, False)
        changed = bool(params.get("forceNewDeployment"))
        _check_grace(params.get("healthCheckGracePeriodSeconds"), params.get("loadBalancers") or service.load_balancers)
        if params.get("taskDefinition") or params.get("loadBalancers") is not None:
            td = backend.describe_task_definition(params.get("taskDefinition") or service.task_definition)
            balancers = params["loadBalancers"] if params.get("loadBalancers") is not None \
                else service.load_balancers
            ecs_targets.check_entries(td, balancers, backend.account_id, backend.region_name)
        if params.get("loadBalancers") is not None:
            changed = changed or params["loadBalancers"] != service.load_balancers
            service.load_balancers = params["loadBalancers"]
        if params.get("taskDefinition"):
            arn = backend.describe_task_definition(params["taskDefinition"]).arn
            changed = changed or arn != service.deployments[0]["taskDefinition"]
            service.task_definition = arn
        if params.get("networkConfiguration"):
            network = ecs._default_security_groups(backend, params["networkConfiguration"])
            changed = changed or network != service.network_configuration
            service.network_configuration = network
        if params.get("platformVersion") and params["platformVersion"] != service.platform_version:
            service.platform_version = params["platformVersion"]
            changed = True
        if params.get("deploymentConfiguration") is not None:
            service.deployment_configuration = deployment_configuration(params["deploymentConfiguration"],
                                                                        service.deployment_configuration)
        if params.get("enableECSManagedTags") is not None:
            service.enable_ecs_managed_tags = bool(params["enableECSManagedTags"])
        if params.get("enableExecuteCommand") is not None:
            service.enable_execute_command = bool(params["enableExecuteCommand"])
        if params.get("propagateTags") is not None:
            service.propagate_tags = params["propagateTags"]
        if params.get("desiredCount") is not None:
            service.desired_count = int(params["desiredCount"])
        if params.get("healthCheckGracePeriodSeconds") is not None:
            service.health_check_grace_period_seconds = int(params["healthCheckGracePeriodSeconds"])
        if changed:
            new_deployment(service, service.task_definition)
        reconcile(backend, service)
        return service


class ServicesResponse(ecs.TasksResponse):
    """CreateService by ``clientToken``, with its capacity provider strategy, handed to the scheduler;
    UpdateService as ECS does it."""

    def create_service(self) -> Any:
        # ECS's clientToken: a retried CreateService (its answer lost) gets the service the first call created.
        token = self._get_param("clientToken")
        cluster, name = self._get_param("cluster", "default"), self._get_param("serviceName")
        if token:
            try:
                existing = self.ecs_backend._get_service(cluster, name)
            except Exception:  # noqa: BLE001 - no such service (or cluster): create it below, or fail there
                existing = None
            if existing is not None and existing.status != "INACTIVE" and \
                    SCHEDULED.get(existing.arn, Scheduled()).client_token == token:
                return ActionResult({"service": existing})
        grace = self._get_param("healthCheckGracePeriodSeconds")
        _check_grace(grace, self._get_param("loadBalancers"))
        answer = super().create_service()
        service = self.ecs_backend._get_service(cluster, name)
        if grace is not None:
            service.health_check_grace_period_seconds = int(grace)
        ecs_fields.created_service(service, self.ecs_backend.account_id, self._get_param("enableExecuteCommand"))
        strategy = self._get_param("capacityProviderStrategy")
        if strategy:  # ECS shows the strategy, and no launch type unless one was given
            service.capacity_provider_strategy = strategy
            if not self._get_param("launchType"):
                service.launch_type = None
        with ecs._lock:
            adopt(self.ecs_backend, service, self._get_param("deploymentConfiguration"),
                  self._get_param("enableECSManagedTags") or False)
            SCHEDULED[service.arn].client_token = token
            reconcile(self.ecs_backend, service)
        ensure_scheduler()
        return answer

    def update_service(self) -> Any:
        params = {k: self._get_param(k) for k in (
            "taskDefinition", "desiredCount", "forceNewDeployment", "networkConfiguration", "platformVersion",
            "deploymentConfiguration", "enableECSManagedTags", "propagateTags", "enableExecuteCommand",
            "loadBalancers", "healthCheckGracePeriodSeconds")}
        service = update_service(self.ecs_backend, self._get_param("cluster", "default"), self._get_param("service"),
                                 params)
        ensure_scheduler()
        return ActionResult({"service": service})


def _reset() -> None:
    """Before the executor and moto forget everything: no scheduler pass may start tasks for the old services."""
    with ecs._lock:
        SCHEDULED.clear()
        _runs.clear()
        ecs_targets.DRAINING.clear()


def _shutdown() -> None:
    _stop.set()
    _reset()
