"""Fargate task definitions: build one, check it against Fargate's rules, register it only when it changed.

``validate`` runs before any call and lists every problem at once, each with what
would be valid (for sizes: the nearest valid size and what it costs more per hour).
``register`` compares the normalized definition with the family's latest ACTIVE
revision and registers a new revision only when they differ, so re-running a
notebook does not pile up revisions.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from helpers.errors import InvalidTaskDefinition
from helpers.fargate import (
    ARCHITECTURES,
    EPHEMERAL_GIB_RANGE,
    INCLUDED_EPHEMERAL_GIB,
    OS_FAMILIES,
    cpu_units,
    is_valid_size,
    is_windows,
    memory_mib,
    nearest_valid_size,
    size_table,
    valid_sizes,
)
from helpers.tags import as_aws, suite_tags

DEFAULT_STREAM_PREFIX = "ecs"
#: A private ECR image: ACCOUNT.dkr.ecr.REGION.amazonaws.com[.cn]/repository[:tag|@digest]
PRIVATE_ECR = re.compile(r"^\d{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/")

#: Keys DescribeTaskDefinition adds that a RegisterTaskDefinition payload does not have.
SERVICE_KEYS = (
    "taskDefinitionArn", "revision", "status", "requiresAttributes", "compatibilities", "registeredAt",
    "registeredBy", "deregisteredAt", "deleteRequestedAt", "tags",
)
#: Defaults ECS fills in (task and container level); equal to "absent" for comparison.
TASK_DEFAULTS: dict[str, Any] = {"enableFaultInjection": False}
CONTAINER_DEFAULTS: dict[str, Any] = {"cpu": 0, "essential": True, "versionConsistency": "enabled"}


def default_log_group(family: str) -> str:
    """The awslogs group a family's containers write to unless another is given."""
    return f"/fargate-lab/{family}"


def _name_values(values: Mapping[str, Any] | None, value_key: str) -> list[dict[str, str]]:
    return [{"name": k, value_key: str(v)} for k, v in sorted((values or {}).items())]


def fargate_task_definition(
    family: str,
    image: str,
    *,
    cpu: int | str,
    memory: int | str,
    command: str | Sequence[str] | None = None,
    environment: Mapping[str, Any] | None = None,
    secrets: Mapping[str, str] | None = None,
    port: int | None = None,
    arch: str = "X86_64",
    os_family: str = "LINUX",
    ephemeral_gib: int | None = None,
    execution_role_arn: str | None = None,
    task_role_arn: str | None = None,
    log_group: str | None = None,
    log_stream_prefix: str = DEFAULT_STREAM_PREFIX,
    region: str | None = None,
    awslogs: bool = True,
    container_name: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> dict:
    """A RegisterTaskDefinition payload for one essential container on Fargate, logging to awslogs.

    ``command``: a list (arguments to the image's ENTRYPOINT, if it has one), or a string run
    by the shell (``entryPoint`` ``["sh", "-c"]``, so the image's ENTRYPOINT is replaced). ``environment``: name to value.
    ``secrets``: name to a Secrets Manager or SSM ARN (``valueFrom``). ``region`` is the
    awslogs region; ``register`` fills in the session's when it is None.
    """
    container: dict[str, Any] = {"name": container_name or family, "image": image, "essential": True}
    if isinstance(command, str):  # run by the shell, whatever the image's ENTRYPOINT (as the ECS docs show)
        container["entryPoint"] = ["sh", "-c"]
        container["command"] = [command]
    elif command is not None:
        container["command"] = [str(part) for part in command]
    if environment:
        container["environment"] = _name_values(environment, "value")
    if secrets:
        container["secrets"] = _name_values(secrets, "valueFrom")
    if port is not None:
        container["portMappings"] = [{"containerPort": int(port), "hostPort": int(port), "protocol": "tcp"}]
    if awslogs:
        options = {"awslogs-group": log_group or default_log_group(family), "awslogs-stream-prefix": log_stream_prefix}
        if region:
            options["awslogs-region"] = region
        container["logConfiguration"] = {"logDriver": "awslogs", "options": options}
    td: dict[str, Any] = {
        "family": family,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": str(cpu),
        "memory": str(memory),
        "runtimePlatform": {"cpuArchitecture": str(arch).upper(), "operatingSystemFamily": str(os_family).upper()},
        "containerDefinitions": [container],
        "tags": as_aws(suite_tags(tags), "key"),
    }
    if ephemeral_gib is not None:
        td["ephemeralStorage"] = {"sizeInGiB": int(ephemeral_gib)}
    if execution_role_arn:
        td["executionRoleArn"] = execution_role_arn
    if task_role_arn:
        td["taskRoleArn"] = task_role_arn
    return td


# -- validation ---------------------------------------------------------------------------------------


def _price_note(cpu: int, memory: int, nearest: tuple[int, int], arch: str, os_family: str) -> str:
    try:
        from helpers.cost import fargate_hourly_rate

        wanted = fargate_hourly_rate(cpu, memory, arch=arch, os_family=os_family)
        best = fargate_hourly_rate(*nearest, arch=arch, os_family=os_family)
    except Exception:  # noqa: BLE001 - a price we cannot compute leaves the note out, not the problem
        return ""
    delta = best - wanted
    sign = "+" if delta >= 0 else "-"
    return f" (${best:.5f}/hour in us-east-1, {sign}${abs(delta):.5f}/hour compared with what was asked)"


def _size_problems(td: Mapping[str, Any], arch: str, os_family: str) -> list[str]:
    raw_cpu, raw_memory = td.get("cpu"), td.get("memory")
    cpus = ", ".join(str(c) for c in sorted(valid_sizes()))
    if raw_cpu in (None, ""):
        return [f"cpu is missing: Fargate needs the task's cpu, one of {cpus} (CPU units; 1024 = 1 vCPU)"]
    if raw_memory in (None, ""):
        return ["memory is missing: Fargate needs the task's memory in MiB (e.g. 512 with 256 cpu)"]
    cpu, memory = cpu_units(raw_cpu), memory_mib(raw_memory)
    if cpu is None or memory is None:
        return [f"cpu {raw_cpu!r} / memory {raw_memory!r} are not numbers: give CPU units (e.g. 256) and MiB (e.g. 512)"]
    windows = is_windows(os_family)
    windows_cpu = size_table()["windows_cpu"]
    if windows and cpu not in windows_cpu:
        nearest = nearest_valid_size(cpu, memory, os_family)
        return [f"cpu {cpu} is not valid for Windows: Fargate Windows tasks take {', '.join(map(str, windows_cpu))} "
                f"CPU units only (1, 2 or 4 vCPU); "
                f"nearest valid size: cpu {nearest[0]} / memory {nearest[1]} MiB"
                + _price_note(cpu, memory, nearest, arch, os_family)]
    if is_valid_size(cpu, memory, os_family):
        return []
    nearest = nearest_valid_size(cpu, memory, os_family)
    note = _price_note(cpu, memory, nearest, arch, os_family)
    if cpu not in valid_sizes():
        return [f"cpu {cpu} is not a Fargate CPU value: valid values are {cpus}; "
                f"nearest valid size: cpu {nearest[0]} / memory {nearest[1]} MiB{note}"]
    choices = _memory_choices(cpu)
    return [f"memory {memory} MiB is not valid with cpu {cpu}: valid memory is {choices}; "
            f"nearest valid size: cpu {nearest[0]} / memory {nearest[1]} MiB{note}"]


def _memory_choices(cpu: int) -> str:
    memories = valid_sizes()[cpu]
    if len(memories) <= 4:
        return ", ".join(str(m) for m in memories) + " MiB"
    step = memories[1] - memories[0]
    return f"{memories[0]} to {memories[-1]} MiB in steps of {step}"


def _needs_execution_role(td: Mapping[str, Any]) -> list[str]:
    reasons = []
    for container in td.get("containerDefinitions") or []:
        name = container.get("name", "?")
        if PRIVATE_ECR.match(str(container.get("image", ""))):
            reasons.append(f"container {name!r} pulls from a private ECR repository")
        if (container.get("logConfiguration") or {}).get("logDriver") == "awslogs":
            reasons.append(f"container {name!r} logs with awslogs")
        if container.get("secrets"):
            reasons.append(f"container {name!r} references secrets")
        if container.get("repositoryCredentials"):
            reasons.append(f"container {name!r} uses private registry credentials")
    return reasons


def _container_problems(td: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    containers = td.get("containerDefinitions") or []
    if not containers:
        return ["containerDefinitions is empty: a task needs at least one container (with name and image)"]
    names = [c.get("name") for c in containers]
    if any(not n for n in names):
        problems.append("every container needs a name")
    duplicates = sorted({n for n in names if n and names.count(n) > 1})
    if duplicates:
        problems.append(f"container names must be unique in a task: {', '.join(duplicates)} appear more than once")
    for container in containers:
        if not container.get("image"):
            problems.append(f"container {container.get('name')!r} has no image")
    if not any(c.get("essential", True) for c in containers):
        problems.append("no container is essential: mark at least one container essential=True "
                        "(the task stops when an essential container exits)")
    task_cpu, task_memory = cpu_units(td.get("cpu")), memory_mib(td.get("memory"))
    cpu_sum = sum(int(c.get("cpu") or 0) for c in containers)
    if task_cpu is not None and cpu_sum > task_cpu:
        problems.append(f"the containers' cpu adds up to {cpu_sum}, more than the task's {task_cpu}: "
                        f"lower the containers' cpu or raise the task's")
    memory_sum = sum(int(c.get("memory") or c.get("memoryReservation") or 0) for c in containers)
    if task_memory is not None and memory_sum > task_memory:
        problems.append(f"the containers' memory adds up to {memory_sum} MiB, more than the task's {task_memory} "
                        f"MiB: lower the containers' memory (or memoryReservation) or raise the task's")
    for container in containers:
        for mapping in container.get("portMappings") or []:
            host, port = mapping.get("hostPort"), mapping.get("containerPort")
            if host is not None and host != port:
                problems.append(f"container {container.get('name')!r}: hostPort {host} differs from containerPort "
                                f"{port}; with awsvpc, hostPort must equal containerPort (or be left out)")
    return problems


def _platform(td: Mapping[str, Any]) -> tuple[str, str, list[str]]:
    platform = td.get("runtimePlatform") or {}
    arch = str(platform.get("cpuArchitecture") or "X86_64").upper()
    os_family = str(platform.get("operatingSystemFamily") or "LINUX").upper()
    problems = []
    if arch not in ARCHITECTURES:
        problems.append(f"runtimePlatform.cpuArchitecture {arch!r} is not valid: choose {' or '.join(ARCHITECTURES)}")
    if os_family not in OS_FAMILIES:
        problems.append(f"runtimePlatform.operatingSystemFamily {os_family!r} is not valid on Fargate: choose one of "
                        f"{', '.join(OS_FAMILIES)}")
    if is_windows(os_family) and arch == "ARM64":
        problems.append("Windows tasks on Fargate run on X86_64 only: set cpuArchitecture to X86_64")
    return arch, os_family, problems


def size_problems(cpu: Any, memory: Any, arch: str = "X86_64", os_family: str = "LINUX") -> list[str]:
    """Why Fargate would refuse ``cpu`` units with ``memory`` MiB (empty when it accepts them); makes no call."""
    return _size_problems({"cpu": cpu, "memory": memory}, arch, os_family)


def problems(td: Mapping[str, Any]) -> list[str]:
    """Every reason Fargate would reject ``td`` (empty when it is valid); makes no call."""
    found: list[str] = []
    if not td.get("family"):
        found.append("family is missing: name the task definition family (letters, digits, - and _)")
    elif not re.fullmatch(r"[A-Za-z0-9_-]{1,255}", str(td["family"])):
        found.append(f"family {td['family']!r} is not valid: up to 255 letters, digits, hyphens and underscores")
    arch, os_family, platform_problems = _platform(td)
    found += _size_problems(td, arch, os_family)
    if td.get("networkMode") != "awsvpc":
        found.append(f"networkMode is {td.get('networkMode')!r}: Fargate supports only 'awsvpc'")
    if "FARGATE" not in (td.get("requiresCompatibilities") or []):
        found.append(f"requiresCompatibilities is {td.get('requiresCompatibilities')!r}: it must include 'FARGATE'")
    reasons = _needs_execution_role(td)
    if reasons and not td.get("executionRoleArn"):
        found.append("executionRoleArn is missing, and it is needed because "
                     + "; ".join(reasons)
                     + ": pass execution_role_arn (see helpers.prereqs.ensure_execution_role)")
    found += _container_problems(td)
    ephemeral = (td.get("ephemeralStorage") or {}).get("sizeInGiB")
    low, high = EPHEMERAL_GIB_RANGE
    if ephemeral is not None and not (isinstance(ephemeral, int) and low <= ephemeral <= high):
        found.append(f"ephemeralStorage.sizeInGiB is {ephemeral!r}: give {low} to {high} GiB "
                     f"(or leave it out for the {INCLUDED_EPHEMERAL_GIB} GiB included)")
    found += platform_problems
    return found


def validate(td: Mapping[str, Any]) -> Mapping[str, Any]:
    """Return ``td`` when Fargate would accept it; else raise InvalidTaskDefinition listing every problem."""
    found = problems(td)
    if found:
        raise InvalidTaskDefinition(found)
    return td


# -- normalization and diff ---------------------------------------------------------------------------


def _prune(value: Any) -> Any:
    """Drop None and empty lists/dicts, recursively: ECS adds empty ones, absent means the same."""
    if isinstance(value, Mapping):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, [], {}, "")}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def _normalize_container(container: Mapping[str, Any]) -> dict:
    c = dict(container)
    for key, default in CONTAINER_DEFAULTS.items():
        if c.get(key) == default:
            c.pop(key)
    for key in ("environment", "secrets"):
        if c.get(key):
            c[key] = sorted(c[key], key=lambda item: item.get("name", ""))
    if c.get("portMappings"):
        c["portMappings"] = [
            {"protocol": "tcp", **m, "hostPort": m.get("hostPort", m.get("containerPort"))} for m in c["portMappings"]
        ]
    return _prune(c)


def normalize(td: Mapping[str, Any]) -> dict:
    """``td`` without what the service adds (ARN, revision, status, defaults, tags), for comparing revisions."""
    doc = {k: v for k, v in td.items() if k not in SERVICE_KEYS and TASK_DEFAULTS.get(k, object()) != v}
    for key, parse in (("cpu", cpu_units), ("memory", memory_mib)):
        if doc.get(key) is not None:
            number = parse(doc[key])
            doc[key] = str(number) if number is not None else str(doc[key])
    doc["containerDefinitions"] = [_normalize_container(c) for c in doc.get("containerDefinitions") or []]
    platform = doc.get("runtimePlatform") or {}
    doc["runtimePlatform"] = {
        "cpuArchitecture": str(platform.get("cpuArchitecture") or "X86_64").upper(),
        "operatingSystemFamily": str(platform.get("operatingSystemFamily") or "LINUX").upper(),
    }
    if doc.get("requiresCompatibilities"):
        doc["requiresCompatibilities"] = sorted(doc["requiresCompatibilities"])
    return _prune(doc)


def diff(live: Mapping[str, Any] | None, desired: Mapping[str, Any], live_name: str = "live") -> str:
    """A unified diff of the normalized definitions; empty when they are the same."""
    new = json.dumps(normalize(desired), indent=2, sort_keys=True, default=str).splitlines()
    old = json.dumps(normalize(live), indent=2, sort_keys=True, default=str).splitlines() if live else []
    if old == new:
        return ""
    return "\n".join(difflib.unified_diff(old, new, fromfile=live_name if live else "(none)", tofile="desired",
                                          lineterm=""))


# -- the live revision and registration ---------------------------------------------------------------


@dataclass(frozen=True)
class Registration:
    """What ``register`` did: the revision to use, whether it is new, and how it differs from the last one."""

    arn: str
    family: str
    revision: int
    created: bool
    diff: str
    task_definition: dict


class DefinitionCache:
    """Task definitions by ARN, each described once (a revision never changes): what tasks, services and
    cleanup need of a task's size, platform, containers and (with ``tags=True``) tags."""

    def __init__(self, ecs: Any, *, tags: bool = False) -> None:
        self.ecs = ecs
        self.tags = tags
        self.seen: dict[str, dict] = {}

    def get(self, arn: str) -> dict:
        """DescribeTaskDefinition's ``taskDefinition`` (plus its ``tags`` when asked for)."""
        if arn not in self.seen:
            if self.tags:
                answer = self.ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])
                self.seen[arn] = dict(answer["taskDefinition"], tags=answer.get("tags", []))
            else:
                self.seen[arn] = self.ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        return self.seen[arn]


def with_session_region(session: Any, td: Mapping[str, Any]) -> dict:
    """``td`` with ``awslogs-region`` set to the session's region where the caller left it out."""
    out = json.loads(json.dumps(td, default=str))
    for container in out.get("containerDefinitions") or []:
        config = container.get("logConfiguration") or {}
        if config.get("logDriver") == "awslogs":
            config.setdefault("options", {}).setdefault("awslogs-region", session.region_name)
    return out


def latest_active(session: Any, family: str) -> dict | None:
    """The family's latest ACTIVE revision as DescribeTaskDefinition gives it, or None when it has none."""
    ecs = session.client("ecs")
    try:
        answer = ecs.describe_task_definition(taskDefinition=family, include=["TAGS"])
    except ecs.exceptions.ClientException:
        return None
    return answer["taskDefinition"]


def diff_against_live(session: Any, td: Mapping[str, Any]) -> str:
    """The diff between ``td`` and its family's latest ACTIVE revision (everything, when there is none)."""
    desired = with_session_region(session, td)
    live = latest_active(session, desired["family"])
    name = f"{desired['family']}:{live['revision']}" if live else "(none)"
    return diff(live, desired, name)


def register(session: Any, td: Mapping[str, Any]) -> Registration:
    """Register ``td`` unless the family's latest ACTIVE revision already says the same; validate first."""
    validate(td)
    desired = with_session_region(session, td)
    family = desired["family"]
    live = latest_active(session, family)
    text = diff(live, desired, f"{family}:{live['revision']}" if live else "(none)")
    if live and not text:
        return Registration(live["taskDefinitionArn"], family, int(live["revision"]), False, "", live)
    payload = {k: v for k, v in desired.items() if v is not None}
    if not payload.get("tags"):
        payload["tags"] = as_aws(suite_tags(), "key")
    registered = session.client("ecs").register_task_definition(**payload)["taskDefinition"]
    return Registration(registered["taskDefinitionArn"], family, int(registered["revision"]), True, text, registered)


def ecr_image_uri(session: Any, repository: str, tag: str = "latest") -> tuple[str, bool]:
    """``(URI:tag, exists)`` of an ECR repository of the session's account and region.

    When the repository does not exist the URI follows ECR's pattern
    (ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME) and ``exists`` is False, so a caller can say so.
    """
    ecr = session.client("ecr")
    try:
        found = ecr.describe_repositories(repositoryNames=[repository])["repositories"][0]
        return f"{found['repositoryUri']}:{tag}", True
    except ecr.exceptions.RepositoryNotFoundException:
        account = session.client("sts").get_caller_identity()["Account"]
        return f"{account}.dkr.ecr.{session.region_name}.amazonaws.com/{repository}:{tag}", False

