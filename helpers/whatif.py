"""What it would cost: on ARM, on Spot, at the right size (every figure an estimate from the rate table).

Rightsizing needs to know how much of the requested CPU and memory a workload really
uses at peak. The ECS APIs do not say (Container Insights does, on AWS); here the
peak is an input, ``peak_cpu`` and ``peak_memory`` as fractions of what is
requested, and the notebook labels it as an assumption.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from helpers.cost import fargate_hourly_rate, hourly_rate_frame, is_windows, price_table
from helpers.errors import InvalidParameter
from helpers.fargate import all_sizes, nearest_valid_size

#: Why a Windows service has no ARM and no Spot scenario (said beside the figures, never left blank).
WINDOWS_NOTE = ("Windows: no ARM (Fargate runs Windows on x86 only) and no Spot (Fargate Spot does not run "
                "Windows)")


def _fraction(name: str, value: float) -> float:
    if not 0 < value <= 1:
        raise InvalidParameter(name, value, "a fraction of the requested size, above 0 and at most 1, e.g. 0.4")
    return float(value)


def rightsize(cpu: int, memory: int, *, peak_cpu: float, peak_memory: float, headroom: float = 0.25,
              os_family: str = "LINUX") -> tuple[int, int]:
    """The smallest valid Fargate size that holds the peak plus ``headroom`` (never larger than requested)."""
    need_cpu = math.ceil(cpu * _fraction("peak_cpu", peak_cpu) * (1 + headroom))
    need_memory = math.ceil(memory * _fraction("peak_memory", peak_memory) * (1 + headroom))
    size = nearest_valid_size(need_cpu, need_memory, os_family)
    return (cpu, memory) if size[0] * size[1] > cpu * memory else size


def cheaper_sizes(cpu: int, memory: int, *, region: str = "us-east-1", arch: str = "X86_64",
                  os_family: str = "LINUX", table: Mapping | None = None) -> pd.DataFrame:
    """Every valid size cheaper per hour than (cpu, memory): cpu, memory, usd_per_hour, saving_pct."""
    current = fargate_hourly_rate(cpu, memory, region=region, arch=arch, os_family=os_family, table=table)
    sizes = pd.DataFrame(all_sizes(os_family), columns=["cpu", "memory"])
    sizes["usd_per_hour"] = hourly_rate_frame(sizes.assign(arch=arch, os_family=os_family), region=region,
                                              table=table)
    cheaper = sizes[sizes["usd_per_hour"] < current].copy()
    cheaper["saving_pct"] = 100 * (1 - cheaper["usd_per_hour"] / current)
    return cheaper.reset_index(drop=True)


def what_if(projection: pd.DataFrame, *, peak_cpu: float = 0.4, peak_memory: float = 0.5, headroom: float = 0.25,
            table: Mapping | None = None, spot_discount: float | None = None) -> pd.DataFrame:
    """Per service of ``helpers.cost.service_projection``: USD per month as is, on ARM, all on Spot, ARM and Spot
    (those three Linux only: empty for Windows, with the reason in ``note``), and at the right size for the
    assumed peak; with the right size's cpu and memory."""
    table = price_table() if table is None else table
    hours = table.get("hours_per_month", 730)
    frame = projection.copy()
    count = frame["desired_count"].astype(float)
    linux = pd.Series(~is_windows(frame), index=frame.index)

    share = frame["spot_share"].fillna(0).astype(float) if "spot_share" in frame else 0.0

    def monthly(**changes: object) -> pd.Series:
        return hourly_rate_frame(frame.assign(**changes), table=table, spot_discount=spot_discount) * count * hours

    def monthly_mixed(**changes: object) -> pd.Series:
        """As deployed (its on-demand/Spot mix), with ``changes``."""
        return monthly(**changes, spot=False) * (1 - share) + monthly(**changes, spot=linux) * share

    sizes = [rightsize(int(c), int(m), peak_cpu=peak_cpu, peak_memory=peak_memory, headroom=headroom,
                       os_family=str(o)) if pd.notna(c) and pd.notna(m) else (pd.NA, pd.NA)
             for c, m, o in zip(frame["cpu"], frame["memory"], frame["os_family"], strict=True)]
    frame["right_cpu"] = pd.array([s[0] for s in sizes], dtype="Int64")
    frame["right_memory"] = pd.array([s[1] for s in sizes], dtype="Int64")
    out = pd.DataFrame({
        "cluster": frame.get("cluster"), "service": frame["service"],
        "size": frame["cpu"].astype("string") + " / " + frame["memory"].astype("string"),
        "as_is": monthly_mixed(),
        "arm": monthly_mixed(arch=linux.map({True: "ARM64", False: "X86_64"})).where(linux),
        "spot": monthly(spot=linux).where(linux),
        "arm_spot": monthly(arch=linux.map({True: "ARM64", False: "X86_64"}), spot=linux).where(linux),
        "right_size": frame["right_cpu"].astype("string") + " / " + frame["right_memory"].astype("string"),
        "rightsized": monthly_mixed(cpu=frame["right_cpu"], memory=frame["right_memory"]),
    })
    out["note"] = linux.map({True: "", False: WINDOWS_NOTE})
    out.attrs["basis"] = (f"estimate: USD per month at desired count x 730 h; right size assumes a peak of "
                          f"{peak_cpu:.0%} CPU and {peak_memory:.0%} memory plus {headroom:.0%} headroom")
    return out


@dataclass(frozen=True)
class Rightsizing:
    """The service its right size saves most on: what it requests, the right size, the cheaper valid sizes."""

    service: str
    cpu: int
    memory: int
    right: tuple[int, int]
    saving_usd_per_month: float
    options: pd.DataFrame  # ``cheaper_sizes`` of the requested size

    def __str__(self) -> str:
        return (f"{self.service}: requested {self.cpu}/{self.memory}, right size {self.right[0]}/{self.right[1]} "
                f"(assumed peak), ${self.saving_usd_per_month:.2f} per month less (estimate)")


def biggest_rightsizing(projection: pd.DataFrame, scenarios: pd.DataFrame, *, peak_cpu: float, peak_memory: float,
                        headroom: float = 0.25, table: Mapping | None = None) -> Rightsizing | None:
    """Of ``what_if``'s ``scenarios`` (rows as in ``projection``), the service the right size saves most on.

    None when no service has both figures (unknown sizes) or none would be cheaper at its right size.
    """
    saving = (scenarios["as_is"] - scenarios["rightsized"]).astype(float).dropna()
    if saving.empty or saving.max() <= 0:
        return None
    top = projection.loc[saving.idxmax()]
    cpu, memory, os_family = int(top["cpu"]), int(top["memory"]), str(top["os_family"])
    options = cheaper_sizes(cpu, memory, region=top["region"], arch=top["arch"], os_family=os_family, table=table)
    right = rightsize(cpu, memory, peak_cpu=peak_cpu, peak_memory=peak_memory, headroom=headroom,
                      os_family=os_family)
    return Rightsizing(str(top["service"]), cpu, memory, right, float(saving.max()), options)
