"""Fargate's valid task sizes, as data (helpers/data/fargate_sizes.json, with its source and date)."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources


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


def is_valid_size(cpu: int, memory: int, os_family: str = "LINUX") -> bool:
    """Whether Fargate accepts ``cpu`` units with ``memory`` MiB on ``os_family``."""
    if os_family.upper().startswith("WINDOWS") and cpu not in size_table()["windows_cpu"]:
        return False  # Windows: 1, 2 or 4 vCPU only
    return memory in valid_sizes().get(cpu, ())


def all_sizes(os_family: str = "LINUX") -> list[tuple[int, int]]:
    """Every valid (cpu, memory) pair, smallest first."""
    return [(c, m) for c, mems in sorted(valid_sizes().items()) for m in mems if is_valid_size(c, m, os_family)]


def nearest_valid_size(cpu: int, memory: int, os_family: str = "LINUX") -> tuple[int, int]:
    """The smallest valid size with at least the requested cpu and memory (else the largest size)."""
    candidates = [(c, m) for c, m in all_sizes(os_family) if c >= cpu and m >= memory]
    return candidates[0] if candidates else all_sizes(os_family)[-1]
