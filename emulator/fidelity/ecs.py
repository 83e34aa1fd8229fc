"""ECS as ECS answers: Fargate validation, RunTask that works, tasks that live in time.

moto 5.2.5 differs from ECS where the suite needs it not to: RunTask
answers HTTP 500 when a container omits ``memory`` or ``awsvpcConfiguration`` omits
``securityGroups``; invalid Fargate sizes are accepted; ``clientToken`` and ``propagateTags`` are ignored;
DescribeTasks lacks cpu, memory, timestamps, stop codes and platform version, moves a
task one state per call, and leaves ``launchType`` empty for capacity providers;
ListTasks ignores the default ``desiredStatus`` (RUNNING) and ``serviceName``.

Here a task's lifecycle comes from an executor (``emulator.executor``): the
simulated one, or the Docker one (``emulator.docker_runtime``) when a Docker
engine answers and the runtime is not "simulated". This module copies the executor's
``TaskState`` into moto's task on every DescribeTasks, ListTasks and StopTask.

The fixes are ``TasksBackend`` (before moto's ``EC2ContainerServiceBackend``), ``TasksResponse`` (before its
responses) and ``SyncedLogsBackend`` (before moto's ``LogsBackend``), installed by ``emulator.extensions``. What
the emulator knows of a task it launched (``Launched``: its ``TaskState``) lives in ``LAUNCHED``, by task id, beside
moto's task.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from moto.ecs.exceptions import EcsClientException, InvalidParameterException, TaskDefinitionNotFoundException
from moto.ecs.models import EC2ContainerServiceBackend
from moto.ecs.responses import EC2ContainerServiceResponse
from moto.logs.models import LogsBackend

from emulator import clock, containment, ecs_events, ecs_targets, hooks, settings
from emulator.executor import Executor, LaunchRequest, TaskState
from emulator.fidelity import ecs_fields
from emulator.fidelity import networking as task_network
from emulator.fidelity.ecs_stopped_expiry import forget_expired, visible

log = logging.getLogger("emulator.fidelity.ecs")

FARGATE_PROVIDERS = ("FARGATE", "FARGATE_SPOT")
PLATFORM_VERSION = "1.4.0"
DEFAULT_EPHEMERAL_GIB = 20
#: How long a task that fails to start (e.g. its log group is missing) takes to reach STOPPED.
FAILED_START_SECONDS = 0.6

_lock = threading.RLock()
_tokens: dict[tuple[str, str, str], list[str]] = {}
_executor: dict[str, Executor] = {}


@dataclass
class Launched:
    """A task launched here: moto's task (what the API shows) and the emulator's state of it (``TaskState``)."""

    task: Any  # moto's Task
    state: TaskState = field(default_factory=TaskState)  # the last state copied onto moto's task
    failed: bool = False  # it could not start, so no executor runs it: its state moves by time alone

    @property
    def final(self) -> bool:
        """STOPPED and recorded: its state no longer changes."""
        return self.state.last_status == "STOPPED"


#: Every task launched here, by task id.
LAUNCHED: dict[str, Launched] = {}
#: Ids of launched tasks changed since the state last pickled them (``emulator.ecs_part`` keeps the others' bytes).
CHANGED: set[str] = set()
#: Tasks launched here and not yet STOPPED: synced before CloudWatch Logs reads too (their log lines appear in time).
_live: dict[str, Any] = {}


def changed(task: Any) -> None:
    """``task`` changed outside a request that names it: the state pickles it again."""
    CHANGED.add(task.id)


def launched(task: Any) -> Launched | None:
    """The emulator's record of ``task``, or None for a task it did not launch (e.g. on EC2)."""
    return LAUNCHED.get(task.id)


# -- the executor -------------------------------------------------------------------------------------


def executor() -> Executor:
    """The executor for this server: chosen once, from the runtime setting and the engine."""
    with _lock:
        if "current" not in _executor:
            _executor["current"] = _choose_executor()
            log.info("task executor: %s", _executor["current"].name)
        return _executor["current"]


def _choose_executor() -> Executor:
    from emulator.simulated import SimulatedExecutor

    runtime = settings.current().runtime
    if runtime == "simulated":
        return SimulatedExecutor()
    if runtime == "docker" or hooks.docker_available():
        from emulator.docker_runtime import DockerExecutor

        try:
            return DockerExecutor()
        except Exception:  # noqa: BLE001 - runtime "docker" with no engine answering: say so, keep serving
            log.exception("the Docker runtime could not reach an engine: tasks are simulated")
    return SimulatedExecutor()


def resolve_image(image: str) -> str:
    """The reference to run for ``image``: an image of the embedded ECR must exist there, as on ECS.

    ``127.0.0.1:PORT/NAME:TAG`` and ``ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME:TAG`` of an account the
    embedded ECR knows name the embedded ECR: a missing repository, tag or digest raises LookupError (the
    task then stops with TaskFailedToStart and "CannotPullContainerError: ..."). Other images pass as they are.
    """
    from emulator.fidelity import ecr as embedded_ecr

    host, _, rest = image.partition("/")
    ours = host == embedded_ecr.registry_host()
    if not ours and _ECR_HOST.match(host):
        from moto.ecr.models import ecr_backends

        ours = host.split(".")[0] in dict.keys(ecr_backends)
    if not ours or not rest:
        return image
    name, reference = (rest.split("@", 1) if "@" in rest else
                       (rest.rsplit(":", 1) if ":" in rest.rsplit("/", 1)[-1] else (rest, "latest")))
    repository = embedded_ecr.find_repository(name)
    if repository is None:
        raise LookupError(f"{host}/{name}: not found: repository {name} does not exist in the registry")
    if embedded_ecr.find_image(repository, reference) is None:
        raise LookupError(f"{image}: not found: no image {reference} in repository {name}")
    separator = "@" if reference.startswith("sha256:") else ":"
    return f"{embedded_ecr.registry_host()}/{name}{separator}{reference}"


#: A private ECR registry host: ACCOUNT.dkr.ecr.REGION.amazonaws.com[.cn]
_ECR_HOST = re.compile(r"^\d{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")


def _log_sink(account: str, region: str):
    def sink(group: str, stream: str, events: list[tuple[int, str]]) -> None:
        from moto.logs.models import logs_backends

        backend = logs_backends[account][region]
        backend.ensure_log_stream(group, stream)
        backend.put_log_events(group, stream, [{"timestamp": t, "message": m} for t, m in events])

    return sink


def _secret_resolver(account: str, region: str):
    def resolve(value_from: str) -> str:
        if ":ssm:" in value_from or not value_from.startswith("arn:"):
            from moto.ssm.models import ssm_backends

            names = [value_from]
            if value_from.startswith("arn:"):  # ...:parameter/NAME is "NAME" or "/NAME" (hierarchical)
                rest = value_from.split(":parameter/", 1)[-1]
                names = [rest, f"/{rest}"]
            for name in names:
                parameter = ssm_backends[account][region].get_parameter(name)
                if parameter is not None:
                    return parameter.value
            raise LookupError(f"SSM parameter {value_from} not found")
        from moto.secretsmanager.models import secretsmanager_backends

        parts = value_from.split(":")  # arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME[:json-key:stage:version]
        secret_id = ":".join(parts[:7])
        json_key = parts[7] if len(parts) > 7 else ""
        answer = secretsmanager_backends[account][region].get_secret_value(secret_id, None, None)
        value = answer.get("SecretString") or ""
        if json_key:
            import json

            value = str(json.loads(value)[json_key])
        return value

    return resolve


def _file_resolver(account: str):
    """An environment file's text from the embedded S3, by its ARN (arn:aws:s3:::BUCKET/KEY)."""

    def read(arn: str) -> str:
        from moto.s3.models import s3_backends

        bucket, _, key = arn.split(":::", 1)[-1].partition("/")
        try:
            found = s3_backends[account]["global"].get_object(bucket, key)
        except Exception as error:  # noqa: BLE001 - moto raises its own "no such bucket"
            raise LookupError(f"{arn}: {error}") from None
        if found is None:
            raise LookupError(f"{arn}: no such object")
        return found.value.decode("utf-8")

    return read


# -- what DescribeTasks shows ------------------------------------------------------------------------


class LabContainer:
    """A task's container as DescribeTasks shows it (attributes named as the API's, in snake_case)."""

    def __init__(self, task: Any, definition: dict, attachment: dict | None) -> None:
        from moto.moto_api._internal import mock_random

        self.container_arn = (
            f"arn:aws:ecs:{task.region_name}:{task._account_id}:container/{task.cluster_name}/{task.id}/"
            f"{mock_random.uuid4()}"
        )
        self.task_arn = task.task_arn
        self.name = definition["name"]
        self.image = definition.get("image")
        self.last_status = "PENDING"
        self.exit_code: int | None = None
        self.reason: str | None = None
        self.runtime_id: str | None = None
        self.health_status = "UNKNOWN"
        self.cpu = str(definition.get("cpu") or 0)
        self.memory = str(definition["memory"]) if definition.get("memory") else None
        self.memory_reservation = str(definition["memoryReservation"]) if definition.get("memoryReservation") else None
        self.network_bindings: list = []
        self.network_interfaces = []
        if attachment:
            details = {d["name"]: d["value"] for d in attachment.get("details", [])}
            self.network_interfaces = [
                {"attachmentId": attachment["id"], "privateIpv4Address": details.get("privateIPv4Address")}
            ]


def _task_definition_document(td: Any) -> dict:
    """DescribeTaskDefinition's ``taskDefinition`` for a moto TaskDefinition (what executors read)."""
    doc = {
        "taskDefinitionArn": td.arn,
        "family": td.family,
        "revision": td.revision,
        "containerDefinitions": td.container_definitions,
        "networkMode": td.network_mode,
        "requiresCompatibilities": td.requires_compatibilities or [],
        "cpu": td.cpu,
        "memory": td.memory,
        "runtimePlatform": td.runtime_platform,
        "ephemeralStorage": td.ephemeral_storage,
        "volumes": td.volumes,
        "executionRoleArn": getattr(td, "execution_role_arn", None),
        "taskRoleArn": getattr(td, "task_role_arn", None),
    }
    return {k: v for k, v in doc.items() if v is not None}


def _enrich(backend: Any, task: Any, td: Any, networking: dict | None) -> None:
    """Set what ECS shows on a new Fargate task, then launch it through the executor."""
    overrides = task.overrides or {}
    task.cpu = str(overrides.get("cpu") or td.cpu or "") or None
    task.memory = str(overrides.get("memory") or td.memory or "") or None
    task.created_at = clock.now()
    task.platform_version = PLATFORM_VERSION if task.platform_version in (None, "", "LATEST") else task.platform_version
    family = ((td.runtime_platform or {}).get("operatingSystemFamily") or "LINUX").upper()
    task.platform_family = "Linux" if family == "LINUX" else "Windows"
    if task.capacity_provider_name in FARGATE_PROVIDERS or task.launch_type == "FARGATE":
        task.launch_type = "FARGATE"
    task.desired_status = "RUNNING"
    task.connectivity = "CONNECTED"
    task.connectivity_at = task.created_at
    task.version = 1
    task.enable_execute_command = False
    ephemeral = (overrides.get("ephemeralStorage") or td.ephemeral_storage or {}).get("sizeInGiB")
    task.ephemeral_storage = {"sizeInGiB": int(ephemeral or DEFAULT_EPHEMERAL_GIB)}
    task.availability_zone = _availability_zone(backend, networking)
    task.stopped_reason = None
    task.stop_code = None
    for name in ("pull_started_at", "pull_stopped_at", "started_at", "stopping_at", "execution_stopped_at",
                 "stopped_at"):
        setattr(task, name, None)
    task_network.attached(task, networking)
    attachment = task.attachments[0] if task.attachments else None
    task.containers = [LabContainer(task, c, attachment) for c in td.container_definitions]
    ecs_fields.new_task(task, td, task.ephemeral_storage["sizeInGiB"])
    task.last_status = "PROVISIONING"
    record = LAUNCHED[task.id] = Launched(task)
    _live[task.id] = task
    ecs_events.task_changed(task, None)

    document = _task_definition_document(td)
    failure = _initialization_failure(task, document)
    if failure:
        _failed_to_start(record, failure)
        return
    request = LaunchRequest(
        task_id=task.id,
        cluster=task.cluster_name,
        task_definition=document,
        overrides=overrides,
        log_sink=_log_sink(task._account_id, task.region_name),
        resolve_secret=_secret_resolver(task._account_id, task.region_name),
        resolve_image=resolve_image,
        group=task.group or "",
        resolve_file=_file_resolver(task._account_id),
        task_arn=task.task_arn,
        region=task.region_name,
        availability_zone=task.availability_zone or "",
        credentials=_role_credentials(task.id, document.get("taskRoleArn"), task._account_id, task.region_name),
    )
    try:
        executor().launch(request)
    except LookupError as exc:  # the image cannot be found: what ECS reports after its pull retries
        _failed_to_start(record, f"CannotPullContainerError: pull image manifest has been retried 1 time(s): {exc}")
    except Exception as exc:  # noqa: BLE001 - the task fails to start; RunTask itself still answers
        log.exception("launch of task %s failed", task.id)
        _failed_to_start(record, f"TaskFailedToStart: the embedded backend could not start the task: {exc}")


def _role_credentials(task_id: str, role_arn: str | None, account: str, region: str) -> Any:
    """The task role's credentials for its containers' endpoint (None without a taskRoleArn)."""
    if not role_arn:
        return None
    from emulator import task_credentials

    return lambda: task_credentials.for_task(task_id, role_arn, account, region).document()


def _availability_zone(backend: Any, networking: dict | None) -> str | None:
    try:
        from moto.ec2 import ec2_backends

        subnet_id = networking["awsvpcConfiguration"]["subnets"][0]
        return ec2_backends[backend.account_id][backend.region_name].get_subnet(subnet_id).availability_zone
    except Exception:  # noqa: BLE001 - an unknown subnet leaves the zone out, as moto did
        return None


def _initialization_failure(task: Any, document: dict) -> str | None:
    """Why ECS could not start the task: a missing log group, image (of the embedded ECR) or secret; else None."""
    missing = _missing_log_group(task, document)
    if missing:
        return ("ResourceInitializationError: failed to validate logger args: create stream has been retried 1 "
                "times: failed to create Cloudwatch log stream: ResourceNotFoundException: The specified log group "
                f"does not exist. (log group {missing}) : exit status 1")
    for container in document.get("containerDefinitions") or []:
        try:
            resolve_image(container.get("image") or "")
        except LookupError as error:
            return ("CannotPullContainerError: pull image manifest has been retried 1 time(s): failed to resolve ref "
                    f"{container.get('image')}: {error}")
    resolve = _secret_resolver(task._account_id, task.region_name)
    for container in document.get("containerDefinitions") or []:
        for secret in container.get("secrets") or []:
            try:
                resolve(secret["valueFrom"])
            except Exception:  # noqa: BLE001 - any failure to read it is what ECS reports
                return ("ResourceInitializationError: unable to pull secrets or registry auth: execution resource "
                        "retrieval failed: unable to retrieve secret from asm: service call has been retried 1 "
                        f"time(s): failed to fetch secret {secret['valueFrom']} from secrets manager: "
                        "ResourceNotFoundException: Secrets Manager can't find the specified secret.")
    return None


def _missing_log_group(task: Any, document: dict) -> str | None:
    """The awslogs group a container logs to that does not exist (created when awslogs-create-group is true)."""
    from moto.logs.models import logs_backends

    logs = logs_backends[task._account_id][task.region_name]
    for container in document.get("containerDefinitions") or []:
        config = container.get("logConfiguration") or {}
        if config.get("logDriver") != "awslogs":
            continue
        options = config.get("options") or {}
        group = options.get("awslogs-group")
        if not group or group in logs.groups:
            continue
        if str(options.get("awslogs-create-group", "")).lower() == "true":
            logs.create_log_group(group, {})
            continue
        return group
    return None


def _failed_to_start(record: Launched, reason: str) -> None:
    """The task could not start: PENDING, on its way to STOPPED with stop code TaskFailedToStart and ``reason``."""
    record.failed = True
    record.state = TaskState(last_status="PENDING", stop_code="TaskFailedToStart", stopped_reason=reason,
                             stopping_at=clock.now() + timedelta(seconds=FAILED_START_SECONDS / 2))


def _failed_start_now(state: TaskState) -> TaskState:
    """A task that could not start is STOPPED FAILED_START_SECONDS after it was launched."""
    stopped_at = state.stopping_at + timedelta(seconds=FAILED_START_SECONDS / 2)
    if clock.now() < stopped_at:
        return state
    return replace(state, last_status="STOPPED", execution_stopped_at=state.stopping_at, stopped_at=stopped_at)


def sync(task: Any) -> None:
    """Copy the executor's state of ``task`` onto moto's task (no-op for tasks this module did not launch)."""
    record = LAUNCHED.get(task.id)
    if record is None or record.final:
        return
    if record.failed:
        state = _failed_start_now(record.state)
    else:
        try:
            state = executor().state(task.id)
        except KeyError:
            return
        except Exception:  # noqa: BLE001 - an executor's hiccup keeps the last state, DescribeTasks still answers
            log.exception("state of task %s failed", task.id)
            return
    drain = None if record.failed else ecs_targets.held(task, state.last_status)  # its targets draining
    if record.failed or drain or state != record.state:
        CHANGED.add(task.id)
    record.state = state
    previous, task.last_status = task.last_status, "DEACTIVATING" if drain else state.last_status
    for name in ("pull_started_at", "pull_stopped_at", "started_at", "stopping_at", "execution_stopped_at",
                 "stopped_at", "stop_code", "stopped_reason"):
        setattr(task, name, getattr(state, name))
    if drain:
        task.stop_code, task.stopped_reason, task.desired_status = drain.stop_code, drain.reason, "STOPPED"
    for container in task.containers:
        seen = state.containers.get(container.name)
        if seen is None:
            if state.last_status == "STOPPED":
                container.last_status = "STOPPED"
            continue
        container.last_status = seen.last_status
        container.exit_code = seen.exit_code
        container.reason = seen.reason
        container.runtime_id = seen.runtime_id
        container.health_status = seen.health_status
    ecs_fields.synced(task, state.stopped_reason if record.failed else None)
    if state.stopping_at is not None or state.last_status in ("DEACTIVATING", "STOPPING", "DEPROVISIONING",
                                                                 "STOPPED"):
        task.desired_status = "STOPPED"
    if state.last_status == "STOPPED":
        task_network.released(task)
        task.version = 2
        _live.pop(task.id, None)
        if not record.failed:
            try:
                executor().forget(task.id)
            except Exception:  # noqa: BLE001 - leftovers are removed at reset/shutdown
                log.exception("forget %s failed", task.id)
    if previous != task.last_status:
        ecs_events.task_changed(task, previous)  # EventBridge's task state change, the CUR record


# -- Fargate validation (RegisterTaskDefinition) -----------------------------------------------------


def _units(value: Any, unit: str) -> int | None:
    """ECS accepts "1024", "1 vCPU", "2 GB": CPU units or MiB as an int (None when absent)."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    lowered = text.lower()
    if lowered.endswith(unit):
        return int(float(lowered[: -len(unit)].strip()) * 1024)
    return int(text)


def fargate_problem(cpu: Any, memory: Any, network_mode: str | None, runtime_platform: dict | None) -> str | None:
    """ECS's ClientException message for a Fargate task definition it would reject, or None."""
    from emulator.facts import FARGATE_WINDOWS_CPU, fargate_size_is_valid

    if network_mode != "awsvpc":
        return "Fargate only supports network mode 'awsvpc'."
    if cpu in (None, ""):
        return "Fargate requires that 'cpu' be defined at the task level."
    if memory in (None, ""):
        return "Fargate requires that 'memory' be defined at the task level."
    try:
        cpu_units, mib = _units(cpu, "vcpu"), _units(memory, "gb")
    except ValueError:
        return f"Invalid 'cpu' or 'memory' value: {cpu}, {memory}."
    os_family = ((runtime_platform or {}).get("operatingSystemFamily") or "LINUX").upper()
    if os_family != "LINUX" and cpu_units not in FARGATE_WINDOWS_CPU:
        return "Fargate Windows tasks take 1, 2 or 4 vCPU (1024, 2048 or 4096 CPU units)."
    if not fargate_size_is_valid(cpu_units, mib, os_family):
        return (f"No Fargate configuration exists for given values: {cpu} CPU, {memory} memory. "
                "See the Amazon ECS documentation for the valid values.")
    return None


# -- the fixes, as subclasses (installed by emulator.extensions) --------------------------------------


def _default_security_groups(backend: Any, networking: dict | None) -> dict | None:
    """ECS uses the VPC's default security group when ``securityGroups`` is omitted."""
    if not networking or "awsvpcConfiguration" not in networking:
        return networking
    config = dict(networking["awsvpcConfiguration"])
    if config.get("securityGroups"):
        return networking
    from moto.ec2 import ec2_backends

    ec2 = ec2_backends[backend.account_id][backend.region_name]
    subnets = config.get("subnets") or []
    vpc_id = ec2.get_subnet(subnets[0]).vpc_id if subnets else None
    group = ec2.get_default_security_group(vpc_id)
    config["securityGroups"] = [group.id] if group else []
    return {**networking, "awsvpcConfiguration": config}


def _find_tasks(backend: Any, arn: str) -> list:
    return [t for tasks in backend.tasks.values() for a, t in tasks.items() if a == arn]


class TasksBackend(EC2ContainerServiceBackend):
    """Task definitions validated as Fargate does, RunTask that works, tasks whose state is their executor's."""

    def __init__(self, region_name: str, account_id: str) -> None:
        from emulator.fidelity.ecs_task_answers import AnswerCache

        super().__init__(region_name, account_id)
        self.task_answers = AnswerCache()  # DescribeTasks' serialized tasks, by task ARN

    def register_task_definition(self, family: str, container_definitions: list, *args: Any, **kwargs: Any) -> Any:
        compat = kwargs.get("requires_compatibilities") or []
        if "FARGATE" in compat:
            problem = fargate_problem(kwargs.get("cpu"), kwargs.get("memory"), kwargs.get("network_mode"),
                                      kwargs.get("runtime_platform")) or containment.registration_problem(
                container_definitions, kwargs.get("volumes"), kwargs.get("ipc_mode"), kwargs.get("pid_mode"))
            if problem:
                raise EcsClientException(problem)
        td = super().register_task_definition(family, container_definitions, *args, **kwargs)
        td.registered_at = clock.now()
        ecs_fields.registered(td, self.account_id)
        return td

    def describe_task_definition(self, task_definition_str: str) -> Any:
        """A family without a revision means its latest ACTIVE revision (moto takes the latest of any status)."""
        name = task_definition_str.split("/")[-1]
        if ":" in name:
            return super().describe_task_definition(task_definition_str)
        active = [r for r, td in self.task_definitions.get(name, {}).items() if td.status == "ACTIVE"]
        if not active:
            raise TaskDefinitionNotFoundException()
        return self.task_definitions[name][max(active)]

    @staticmethod
    def _calculate_task_resource_requirements(task_definition: Any) -> dict[str, Any]:
        """A container without ``memory`` (valid on Fargate) must not crash the resource arithmetic."""
        requirements: dict[str, Any] = {"CPU": 0, "MEMORY": 0, "PORTS": [], "PORTS_UDP": []}
        for container in task_definition.container_definitions:
            requirements["CPU"] += int(container.get("cpu", container.get("Cpu", 0)) or 0)
            memory = (container.get("memory") or container.get("Memory") or container.get("memoryReservation")
                      or container.get("MemoryReservation") or 0)
            requirements["MEMORY"] += int(memory)
            for mapping in container.get("portMappings", container.get("PortMappings", [])) or []:
                port = mapping.get("hostPort", mapping.get("HostPort"))
                if port is not None:
                    requirements["PORTS"].append(port)
        return requirements

    def run_task(self, cluster_str: str, task_definition_str: str, count: int, overrides: Any, started_by: str,
                 tags: Any, launch_type: str | None, networking_configuration: Any = None, group: str | None = None,
                 platform_version: str | None = None, capacity_provider_strategy: Any = None, *,
                 client_token: str | None = None, propagate_tags: str | None = None) -> list:
        """moto's RunTask, checked first as ECS checks it, idempotent by ``client_token``, then launched."""
        with _lock:
            key = (self.account_id, self.region_name, client_token) if client_token else None
            if key and key in _tokens:
                return [t for arn in _tokens[key] for t in _find_tasks(self, arn)]
            td = self.describe_task_definition(task_definition_str)
            strategy = capacity_provider_strategy
            if not launch_type and not strategy:
                strategy = self._get_cluster(cluster_str).default_capacity_provider_strategy
            providers = [s.get("capacityProvider") for s in strategy or []]
            associated = self._get_cluster(cluster_str).capacity_providers or []
            if capacity_provider_strategy and any(p not in associated for p in providers):
                raise InvalidParameterException(
                    "The specified capacity provider strategy cannot contain a capacity provider that is not "
                    "associated with the cluster. Associate the capacity provider with the cluster or specify a "
                    "valid capacity provider and try again.")
            wants_fargate = launch_type == "FARGATE" or any(p in FARGATE_PROVIDERS for p in providers)
            if wants_fargate and "FARGATE" not in (td.requires_compatibilities or []):
                raise InvalidParameterException("Task definition does not support launch_type FARGATE.")
            if wants_fargate and td.network_mode == "awsvpc" and not networking_configuration:
                raise InvalidParameterException(
                    "Network Configuration must be provided when networkMode 'awsvpc' is specified.")
            if count is not None and not 1 <= int(count) <= 10:
                raise EcsClientException("count must be between 1 and 10.")
            networking = _default_security_groups(self, networking_configuration)
            if propagate_tags == "TASK_DEFINITION" and td.tags:
                given = {t["key"] for t in tags or []}
                tags = [*(tags or []), *[t for t in td.tags if t["key"] not in given]]
            tasks = super().run_task(cluster_str, task_definition_str, count, overrides, started_by, tags,
                                     launch_type, networking, group, platform_version, capacity_provider_strategy)
            for task in tasks:
                if task.launch_type == "FARGATE" or task.capacity_provider_name in FARGATE_PROVIDERS:
                    _enrich(self, task, td, networking)
            if key:
                _tokens[key] = [t.task_arn for t in tasks]
            return tasks

    def describe_tasks(self, cluster_str: str, tasks: list[str]) -> list:
        """Every task named, brought up to date; stopped ones leave an hour after they stop (moto keeps them)."""
        forget_expired(self)
        cluster = self._get_cluster(cluster_str)
        if not tasks:
            raise InvalidParameterException("Tasks cannot be empty.")
        if len(tasks) > 100:
            raise InvalidParameterException("Tasks cannot have more than 100 elements.")
        wanted = {t.split("/")[-1] for t in tasks}
        found = []
        with _lock:
            for task in self.tasks.get(cluster.name, {}).values():
                if task.id in wanted:
                    sync(task)
                    found.append(task)
        return visible(found)

    def list_tasks(self, cluster_str: str | None = None, container_instance: str | None = None,
                   family: str | None = None, started_by: str | None = None, service_name: str | None = None,
                   desiredStatus: str | None = None) -> list:  # noqa: N803 - moto's parameter name
        """Every task brought up to date first; ``serviceName`` filters (moto ignores it); stopped ones expire."""
        forget_expired(self)
        with _lock:
            for cluster_tasks in self.tasks.values():
                for task in cluster_tasks.values():
                    sync(task)
            found = super().list_tasks(cluster_str, container_instance, family, started_by, None, desiredStatus)
        if service_name:
            found = [t for t in found if t.group == f"service:{service_name.split('/')[-1]}"]
        return visible(found)

    def stop_task(self, cluster_str: str, task_str: str, reason: str) -> Any:
        cluster = self._get_cluster(cluster_str)
        task_id = task_str.split("/")[-1]
        with _lock:
            task = next((t for t in self.tasks.get(cluster.name, {}).values() if t.id == task_id), None)
            record = LAUNCHED.get(task_id) if task is not None else None
            if record is None:
                return super().stop_task(cluster_str, task_str, reason)
            sync(task)
            if not record.final:
                reason = reason or "Task stopped by user"
                service = self.services.get(f"{cluster.name}:{(task.group or '').removeprefix('service:')}")
                if not record.failed and not ecs_targets.drain_first(service, task, reason, "UserInitiated"):
                    executor().stop(task.id, reason, "UserInitiated")
                task.desired_status = "STOPPED"
                CHANGED.add(task.id)
                sync(task)
            return task


class TasksResponse(EC2ContainerServiceResponse):
    """RunTask's ``clientToken`` and ``propagateTags`` reach the backend; ListTasks lists RUNNING by default."""

    def run_task(self) -> Any:
        from moto.core.responses import ActionResult

        tasks = self.ecs_backend.run_task(
            self._get_param("cluster", "default"), self._get_param("taskDefinition"), self._get_int_param("count", 1),
            self._get_param("overrides"), self._get_param("startedBy"), self._get_param("tags"),
            self._get_param("launchType"), self._get_param("networkConfiguration"), self._get_param("group"),
            self._get_param("platformVersion"), self._get_param("capacityProviderStrategy"),
            client_token=self._get_param("clientToken"), propagate_tags=self._get_param("propagateTags"))
        return ActionResult({"tasks": tasks, "failures": []})

    def list_tasks(self) -> Any:
        from moto.core.responses import ActionResult

        tasks = self.ecs_backend.list_tasks(
            self._get_param("cluster", "default"), self._get_param("containerInstance"), self._get_param("family"),
            self._get_param("startedBy"), self._get_param("serviceName"),
            self._get_param("desiredStatus") or "RUNNING")  # ECS's default; moto lists every status
        return ActionResult({"taskArns": [t.task_arn for t in tasks]})

    def describe_tasks(self) -> Any:  # each task serialized once per state of it (moto: ~1 ms a task, every call)
        from emulator.fidelity import ecs_task_answers

        return ecs_task_answers.cached_answer(super().describe_tasks(), "TAGS" in (self._get_param("include") or []),
                                              self.ecs_backend.task_answers)

    @staticmethod
    def _enrich_response(headers: dict, body: Any) -> tuple[dict, Any]:  # no XML RequestId scan of a JSON body
        from emulator.fidelity import ecs_task_answers

        return ecs_task_answers.enrich_response(headers, body)


class SyncedLogsBackend(LogsBackend):
    """Reading a log stream first brings every live task up to date, so its log lines are there."""

    def get_log_events(self, *args: Any, **kwargs: Any) -> Any:
        _sync_live()
        return super().get_log_events(*args, **kwargs)

    def filter_log_events(self, *args: Any, **kwargs: Any) -> Any:
        _sync_live()
        return super().filter_log_events(*args, **kwargs)


def _sync_live() -> None:
    with _lock:
        for task in list(_live.values()):
            sync(task)


def hold_task_states() -> None:
    """moto moves a task one state per DescribeTasks; here a task's state is set, never advanced by a read."""
    from moto.moto_api import state_manager

    state_manager.set_transition("ecs::task", {"progression": "manual", "times": 2**62})


def _reset() -> None:
    with _lock:
        _tokens.clear()
        _live.clear()
        LAUNCHED.clear()
        current = _executor.get("current")
        if current is not None:
            current.cleanup()


def _shutdown() -> None:
    _reset()
