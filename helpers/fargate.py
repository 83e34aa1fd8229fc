"""What Fargate and ECS accept, written once for the client side: task sizes (helpers/data/fargate_sizes.json,
with its source and date), the platform choices, ephemeral storage, capacity providers, the units
RegisterTaskDefinition reads, and the awslogs stream name.

The embedded backend keeps its own record of these rules, so a mistake here cannot hide behind it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

#: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_definition_parameters.html#runtime-platform
ARCHITECTURES = ("X86_64", "ARM64")
OS_FAMILIES = (
    "LINUX", "WINDOWS_SERVER_2019_FULL", "WINDOWS_SERVER_2019_CORE", "WINDOWS_SERVER_2022_FULL",
    "WINDOWS_SERVER_2022_CORE", "WINDOWS_SERVER_2025_FULL", "WINDOWS_SERVER_2025_CORE",
)
#: Ephemeral storage a task gets without asking, and what it may ask for instead (GiB).
#: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-task-storage.html
INCLUDED_EPHEMERAL_GIB = 20
EPHEMERAL_GIB_RANGE = (21, 200)
CAPACITY_PROVIDERS = ("FARGATE", "FARGATE_SPOT")
#: CPU units in one vCPU, MiB in one GB: RegisterTaskDefinition turns "1 vCPU" into 1024 and "2 GB" into 2048.
UNITS_PER_VCPU = 1024
MIB_PER_GB = 1024


@lru_cache(maxsize=1)
def size_table() -> dict:
    """The raw table: source, retrieval date, and per-CPU memory choices."""
    return json.loads(resources.files("helpers.data").joinpath("fargate_sizes.json").read_text())


@lru_cache(maxsize=1)
def valid_sizes() -> dict[int, tuple[int, ...]]:
    """CPU units to every valid memory size in MiB, for Linux."""
    table: dict[int, tuple[int, ...]] = {}
    for row in size_table()["sizes"]:
        if "memory" in row:
            table[row["cpu"]] = tuple(row["memory"])
        else:
            table[row["cpu"]] = tuple(range(row["min"], row["max"] + 1, row["step"]))
    return table


def is_windows(os_family: Any) -> bool:
    """Whether ``os_family`` is one of Fargate's Windows Server families."""
    return str(os_family or "").upper().startswith("WINDOWS")


def is_valid_size(cpu: int, memory: int, os_family: str = "LINUX") -> bool:
    """Whether Fargate accepts ``cpu`` units with ``memory`` MiB on ``os_family``."""
    if is_windows(os_family) and cpu not in size_table()["windows_cpu"]:
        return False  # Windows: 1, 2 or 4 vCPU only
    return memory in valid_sizes().get(cpu, ())


def all_sizes(os_family: str = "LINUX") -> list[tuple[int, int]]:
    """Every valid (cpu, memory) pair, smallest first."""
    return [(c, m) for c, mems in sorted(valid_sizes().items()) for m in mems if is_valid_size(c, m, os_family)]


def nearest_valid_size(cpu: int, memory: int, os_family: str = "LINUX") -> tuple[int, int]:
    """The smallest valid size with at least the requested cpu and memory (else the largest size)."""
    candidates = [(c, m) for c, m in all_sizes(os_family) if c >= cpu and m >= memory]
    return candidates[0] if candidates else all_sizes(os_family)[-1]


def _units(value: Any, suffix: str, per_unit: int) -> int | None:
    """A whole number of units from an integer, its text, or a number of ``suffix`` (vCPU, GB); else None."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    text = str(value).strip().lower()
    try:
        if not text.endswith(suffix):
            return int(text)
        units = float(text[: -len(suffix)].strip()) * per_unit
    except ValueError:
        return None
    return int(units) if units.is_integer() else None


def cpu_units(value: Any) -> int | None:
    """CPU units from what ECS accepts: 1024, "1024" or "1 vCPU"; None when absent or unreadable."""
    return _units(value, "vcpu", UNITS_PER_VCPU)


def memory_mib(value: Any) -> int | None:
    """MiB from what ECS accepts: 2048, "2048" or "2 GB"; None when absent or unreadable."""
    return _units(value, "gb", MIB_PER_GB)


def ephemeral_gib(task_or_definition: Any) -> int:
    """The ephemeral storage (GiB) a task or task definition gets: its ``ephemeralStorage`` or the included 20."""
    return int(((task_or_definition or {}).get("ephemeralStorage") or {}).get("sizeInGiB") or INCLUDED_EPHEMERAL_GIB)


def awslogs_stream(prefix: str | None, container: str, task_id: str) -> str:
    """The stream a container's awslogs driver writes to: ``prefix/container/task-id``.

    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/using_awslogs.html (Fargate requires the prefix;
    without one the name is the task id alone).
    """
    return f"{prefix}/{container}/{task_id}" if prefix else task_id
