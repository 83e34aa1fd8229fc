"""From an ECS task definition (plus RunTask overrides) to what the Docker engine is asked to run.

Pure functions, no engine: the Docker executor turns each ``ContainerPlan`` into a
container. Fargate's rules map to Docker like this:

- task ``cpu`` (units) -> ``nano_cpus`` on every container (a per-container cap at the task size,
  Docker having no pod-level cgroup); container ``cpu`` -> ``cpu_shares`` (a relative weight, as on ECS);
- container ``memory`` (else the task's) -> hard ``mem_limit`` without swap; ``memoryReservation`` -> soft limit;
- ``healthCheck`` -> Docker healthcheck (ECS uses the same ``CMD``/``CMD-SHELL`` forms);
- ``portMappings`` -> published on 127.0.0.1 only, by the container that owns the task's network namespace;
- ``volumes`` without a host path (Fargate's task storage) -> one Docker volume per task and volume, mounted at each
  ``mountPoints`` entry; ``volumesFrom`` -> Docker's ``volumes_from`` of the task's other container.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from emulator import containment

DEFAULT_STOP_TIMEOUT = 30
MAX_STOP_TIMEOUT = 120
#: How long a container waits for its dependencies when the dependency sets no startTimeout.
DEFAULT_START_TIMEOUT = 180
_NS = 1_000_000_000


@dataclass
class PortMapping:
    container_port: int
    host_port: int
    protocol: str = "tcp"


@dataclass
class ContainerPlan:
    """One container of a task, ready to create once its image and secrets are resolved."""

    name: str
    image: str
    essential: bool = True
    depends_on: list[tuple[str, str]] = field(default_factory=list)  # (containerName, condition)
    stop_timeout: int = DEFAULT_STOP_TIMEOUT
    start_timeout: int = DEFAULT_START_TIMEOUT
    environment: dict[str, str] = field(default_factory=dict)
    environment_files: list[str] = field(default_factory=list)  # S3 ARNs, in order
    secrets: list[tuple[str, str]] = field(default_factory=list)  # (env name, valueFrom)
    port_mappings: list[PortMapping] = field(default_factory=list)
    log_group: str | None = None
    log_stream: str | None = None
    has_health_check: bool = False
    mount_points: list[tuple[str, str, bool]] = field(default_factory=list)  # (sourceVolume, containerPath, readOnly)
    volumes_from: list[tuple[str, bool]] = field(default_factory=list)  # (sourceContainer, readOnly)
    create_kwargs: dict[str, Any] = field(default_factory=dict)  # for DockerClient.containers.create


def _pairs(items: list[dict] | None) -> dict[str, str]:
    return {item["name"]: str(item.get("value", "")) for item in items or []}


def _int(value: Any) -> int | None:
    return None if value in (None, "") else int(value)


def _units(value: Any, unit: str) -> int | None:
    """Task cpu/memory as ECS accepts them: "1024", "1 vCPU", "2 GB" -> CPU units or MiB."""
    if value in (None, ""):
        return None
    text = str(value).strip().lower()
    if text.endswith(unit):
        return int(float(text[: -len(unit)]) * 1024)
    return int(float(text))


def merged_definitions(task_definition: dict, overrides: dict | None) -> list[dict]:
    """The container definitions with RunTask's containerOverrides applied (by container name)."""
    by_name = {o.get("name"): o for o in (overrides or {}).get("containerOverrides", []) or []}
    merged = []
    for definition in task_definition.get("containerDefinitions", []):
        result = dict(definition)
        override = by_name.get(definition.get("name"), {})
        for key in ("command", "cpu", "memory", "memoryReservation"):
            if key in override:
                result[key] = override[key]
        if override.get("environment"):
            env = _pairs(definition.get("environment"))
            env.update(_pairs(override["environment"]))
            result["environment"] = [{"name": k, "value": v} for k, v in env.items()]
        if override.get("environmentFiles"):
            result["environmentFiles"] = list(definition.get("environmentFiles") or []) + override["environmentFiles"]
        merged.append(result)
    return merged


def health_check(spec: dict) -> dict:
    """ECS healthCheck -> Docker healthcheck (ECS defaults: 30 s interval, 5 s timeout, 3 retries)."""
    return {
        "test": list(spec["command"]),
        "interval": int(float(spec.get("interval", 30)) * _NS),
        "timeout": int(float(spec.get("timeout", 5)) * _NS),
        "retries": int(spec.get("retries", 3)),
        "start_period": int(float(spec.get("startPeriod", 0)) * _NS),
    }


def log_destination(definition: dict, task_id: str) -> tuple[str | None, str | None]:
    """The awslogs group and stream ECS writes to: ``prefix/container-name/task-id``."""
    config = definition.get("logConfiguration") or {}
    if config.get("logDriver") != "awslogs":
        return None, None
    options = config.get("options") or {}
    group = options.get("awslogs-group")
    prefix = options.get("awslogs-stream-prefix")
    name = definition["name"]
    return group, (f"{prefix}/{name}/{task_id}" if prefix else task_id)  # Fargate requires the prefix


def plan_task(task_definition: dict, overrides: dict | None, task_id: str, labels: dict[str, str],
              name_prefix: str) -> list[ContainerPlan]:
    """One plan per container, in task-definition order."""
    overrides = overrides or {}
    task_cpu = _units(overrides.get("cpu") or task_definition.get("cpu"), "vcpu")
    task_memory = _units(overrides.get("memory") or task_definition.get("memory"), "gb")
    plans = []
    for definition in merged_definitions(task_definition, overrides):
        name = definition["name"]
        group, stream = log_destination(definition, task_id)
        memory = _int(definition.get("memory")) or task_memory
        reservation = _int(definition.get("memoryReservation"))
        kwargs: dict[str, Any] = {
            "name": f"{name_prefix}-{name}",
            "labels": {**{str(k): str(v) for k, v in (definition.get("dockerLabels") or {}).items()},
                       **labels, "fargate-lab.container-name": name},
        }
        for ecs_key, docker_key in (("entryPoint", "entrypoint"), ("command", "command"),
                                    ("workingDirectory", "working_dir"), ("user", "user")):
            if definition.get(ecs_key):
                kwargs[docker_key] = definition[ecs_key]
        if memory:
            kwargs["mem_limit"] = f"{memory}m"
            kwargs["memswap_limit"] = f"{memory}m"
        if reservation and (not memory or reservation < memory):
            kwargs["mem_reservation"] = f"{reservation}m"
        if task_cpu:
            # Docker refuses a limit above the host's CPUs; a 4-vCPU task on a 2-core machine gets all 2.
            kwargs["nano_cpus"] = int(min(task_cpu / 1024, os.cpu_count() or 1) * _NS)
        if _int(definition.get("cpu")):
            kwargs["cpu_shares"] = max(2, int(definition["cpu"]))
        if definition.get("healthCheck"):
            kwargs["healthcheck"] = health_check(definition["healthCheck"])
        if definition.get("readonlyRootFilesystem"):
            kwargs["read_only"] = True
        if (definition.get("linuxParameters") or {}).get("initProcessEnabled"):
            kwargs["init"] = True
        kwargs.update(containment.capability_args(definition))  # only SYS_PTRACE added, as Fargate
        if definition.get("ulimits"):
            from docker.types import Ulimit

            kwargs["ulimits"] = [Ulimit(name=u["name"], soft=u["softLimit"], hard=u["hardLimit"])
                                 for u in definition["ulimits"]]
        stop_timeout = _int(definition.get("stopTimeout"))
        start_timeout = _int(definition.get("startTimeout"))
        plans.append(ContainerPlan(
            name=name,
            image=definition["image"],
            essential=definition.get("essential", True) is not False,
            depends_on=[(d["containerName"], d["condition"]) for d in definition.get("dependsOn") or []],
            stop_timeout=min(MAX_STOP_TIMEOUT, DEFAULT_STOP_TIMEOUT if stop_timeout is None else stop_timeout),
            start_timeout=DEFAULT_START_TIMEOUT if start_timeout is None else start_timeout,
            environment=_pairs(definition.get("environment")),
            environment_files=[f["value"] for f in definition.get("environmentFiles") or []],
            secrets=[(s["name"], s["valueFrom"]) for s in definition.get("secrets") or []],
            port_mappings=[PortMapping(int(p["containerPort"]), int(p.get("hostPort") or p["containerPort"]),
                                       p.get("protocol", "tcp")) for p in definition.get("portMappings") or []],
            log_group=group,
            log_stream=stream,
            has_health_check=bool(definition.get("healthCheck")),
            mount_points=[(m.get("sourceVolume", ""), m.get("containerPath", ""), bool(m.get("readOnly")))
                          for m in definition.get("mountPoints") or []],
            volumes_from=[(v.get("sourceContainer", ""), bool(v.get("readOnly")))
                          for v in definition.get("volumesFrom") or []],
            create_kwargs=kwargs,
        ))
    return plans


def volume_problem(task_definition: dict, plans: list[ContainerPlan]) -> str | None:
    """Why the task's volumes cannot be mounted as asked (ECS's start failure), or None."""
    names = {v.get("name") for v in task_definition.get("volumes") or []}
    containers = {plan.name for plan in plans}
    for plan in plans:
        for volume, path, _ in plan.mount_points:
            if volume not in names:
                return f"mount point of container {plan.name} names volume {volume!r}, not a volume of the task"
            if not path.startswith("/"):
                return f"mount point of container {plan.name} has containerPath {path!r}: it must be absolute"
        for source, _ in plan.volumes_from:
            if source not in containers or source == plan.name:
                return f"volumesFrom of container {plan.name} names {source!r}, not another container of the task"
    return None


def creation_order(plans: list[ContainerPlan]) -> list[ContainerPlan]:
    """Plans ordered so a ``volumesFrom`` source is created before the container that mounts its volumes."""
    done: list[ContainerPlan] = []
    pending = list(plans)
    while pending:
        ready = [p for p in pending if all(s in {d.name for d in done} for s, _ in p.volumes_from)]
        if not ready:
            raise ValueError("volumesFrom forms a cycle between " + ", ".join(p.name for p in pending))
        done += ready
        pending = [p for p in pending if p not in ready]
    return done


def parse_env_file(text: str) -> dict[str, str]:
    """An ECS environment file: ``NAME=value`` lines; blank lines and ``#`` comments are skipped."""
    env = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        env[key.strip()] = value
    return env
