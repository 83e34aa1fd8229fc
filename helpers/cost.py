"""Fargate cost: rates as data (helpers/data/fargate_prices.json, with source and date) and billing rules.

Billing: per second, rounded up, with a one-minute minimum on Linux; you pay for the
task's requested vCPU and memory, from image pull start to task stop.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from importlib import resources

from helpers.errors import InvalidParameter

INCLUDED_EPHEMERAL_GIB = 20


@lru_cache(maxsize=1)
def price_table() -> dict:
    return json.loads(resources.files("helpers.data").joinpath("fargate_prices.json").read_text())


def _rates(region: str) -> dict:
    regions = price_table()["regions"]
    if region not in regions:
        raise InvalidParameter("region", region, f"a region with shipped Fargate rates: {', '.join(sorted(regions))}")
    return regions[region]


def fargate_hourly_rate(cpu: int, memory: int, *, region: str = "us-east-1", arch: str = "X86_64",
                        os_family: str = "LINUX", spot: bool = False, ephemeral_gib: int = INCLUDED_EPHEMERAL_GIB,
                        spot_discount: float | None = None) -> float:
    """USD per hour for one task of ``cpu`` units and ``memory`` MiB."""
    rates = _rates(region)
    vcpu, gb = cpu / 1024, memory / 1024
    windows = os_family.upper().startswith("WINDOWS")
    key = "windows_x86" if windows else ("linux_arm" if arch.upper() == "ARM64" else "linux_x86")
    rate = vcpu * rates[key]["vcpu"] + gb * rates[key]["gb"]
    if windows:
        rate += vcpu * rates["windows_os_license"]
    if spot:
        rate *= 1 - (price_table()["spot_discount"] if spot_discount is None else spot_discount)
    rate += max(0, ephemeral_gib - INCLUDED_EPHEMERAL_GIB) * rates["ephemeral_storage"]
    return rate


def billed_seconds(seconds: float, os_family: str = "LINUX") -> int:
    """Seconds billed: rounded up to the second, at least 60 on Linux (Windows: at least 300)."""
    minimum = 300 if os_family.upper().startswith("WINDOWS") else 60
    return max(minimum, math.ceil(seconds))


def fargate_task_cost(cpu: int, memory: int, seconds: float, *, region: str = "us-east-1", arch: str = "X86_64",
                      os_family: str = "LINUX", spot: bool = False, ephemeral_gib: int = INCLUDED_EPHEMERAL_GIB) -> float:
    """USD for one task that ran ``seconds`` (cpu in CPU units, memory in MiB)."""
    hourly = fargate_hourly_rate(cpu, memory, region=region, arch=arch, os_family=os_family, spot=spot,
                                 ephemeral_gib=ephemeral_gib)
    return hourly * billed_seconds(seconds, os_family) / 3600
