"""Fargate cost: rates as data (helpers/data/fargate_prices.json, with source and date) and billing rules.

Billing: per second, rounded up, with a one-minute minimum on Linux (Windows: see
``minimum_billed_seconds`` in the table); you pay for the task's requested vCPU,
memory and extra ephemeral storage, from the start of the image pull
(``pullStartedAt``, else ``startedAt``, else ``createdAt``) until the task stops
(``stoppedAt``; now for a task still running).

Everything here is an *estimate from state*: what the APIs say ran, priced with a
rate table. What was billed comes from Cost Explorer (``helpers.billing``).
Scalar functions price one task; the ``*_frame`` functions do the same arithmetic
vectorized over a DataFrame (a million rows in well under a second).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

from helpers.errors import InvalidParameter
from helpers.fargate import INCLUDED_EPHEMERAL_GIB

PLATFORMS = ("linux_x86", "linux_arm", "windows_x86")
ESTIMATE = "estimate from task state"
UNKNOWN = "unknown (no timestamps or size)"


@lru_cache(maxsize=1)
def price_table() -> dict:
    """The shipped rate table: source, retrieval date, what is verified, per-region rates."""
    return json.loads(resources.files("helpers.data").joinpath("fargate_prices.json").read_text())


def _table(table: Mapping | None) -> Mapping:
    return price_table() if table is None else table


def _rates(region: str, table: Mapping | None = None) -> dict:
    regions = _table(table)["regions"]
    if region not in regions:
        raise InvalidParameter("region", region, f"a region with Fargate rates: {', '.join(sorted(regions))}")
    return regions[region]


def _is_windows(os_family: str) -> bool:
    return str(os_family).upper().startswith("WINDOWS")


def platform_key(arch: str = "X86_64", os_family: str = "LINUX") -> str:
    """The rate table's key: "linux_x86", "linux_arm" or "windows_x86" (Windows on Fargate is x86 only)."""
    if _is_windows(os_family):
        return "windows_x86"
    return "linux_arm" if str(arch).upper() == "ARM64" else "linux_x86"


def windows_rules(table: Mapping | None = None) -> dict:
    """Fargate's Windows rules from the table: the CPU sizes it takes, and that Spot does not run it."""
    return dict(_table(table).get("windows", {"cpu": [1024, 2048, 4096], "spot": False, "arch": ["X86_64"]}))


def check_platform(cpu: int | None, *, arch: str = "X86_64", os_family: str = "LINUX", spot: bool = False,
                   table: Mapping | None = None) -> None:
    """Refuse what Fargate does not run, before anything is priced: Windows on Spot, on ARM, or at a CPU size
    other than 1, 2 or 4 vCPU."""
    if not _is_windows(os_family):
        return
    rules = windows_rules(table)
    if spot and not rules.get("spot", False):
        raise InvalidParameter("spot", spot, f"False for {os_family}: Fargate Spot does not run Windows "
                                             "containers, so there is no Spot price for them")
    if str(arch).upper() not in rules.get("arch", ["X86_64"]):
        raise InvalidParameter("arch", arch, f"X86_64 for {os_family}: Fargate runs Windows on x86 only")
    if cpu is not None and int(cpu) not in rules["cpu"]:
        sizes = ", ".join(f"{c} ({c // 1024} vCPU)" for c in rules["cpu"])
        raise InvalidParameter("cpu", cpu, f"one of {sizes}: Fargate runs Windows with 1, 2 or 4 vCPU only")


def _spot_discount(spot_discount: float | None, table: Mapping | None) -> float:
    value = _table(table).get("spot_discount", 0.7) if spot_discount is None else spot_discount
    if not 0 <= value < 1:
        raise InvalidParameter("spot_discount", value, "a fraction from 0 (no discount) to below 1, e.g. 0.7")
    return float(value)


def fargate_hourly_rate(cpu: int, memory: int, *, region: str = "us-east-1", arch: str = "X86_64",
                        os_family: str = "LINUX", spot: bool = False, ephemeral_gib: int = INCLUDED_EPHEMERAL_GIB,
                        spot_discount: float | None = None, table: Mapping | None = None) -> float:
    """USD per hour for one task of ``cpu`` units and ``memory`` MiB.

    Spot discounts compute and memory; extra ephemeral storage is charged at the on-demand rate. Windows on
    Spot, on ARM or at a size other than 1, 2 or 4 vCPU is refused (:func:`check_platform`).
    """
    check_platform(cpu, arch=arch, os_family=os_family, spot=spot, table=table)
    rates = _rates(region, table)
    vcpu, gb = cpu / 1024, memory / 1024
    key = platform_key(arch, os_family)
    rate = vcpu * rates[key]["vcpu"] + gb * rates[key]["gb"]
    if key == "windows_x86":
        rate += vcpu * rates["windows_os_license"]
    if spot:
        rate *= 1 - _spot_discount(spot_discount, table)
    rate += max(0, ephemeral_gib - INCLUDED_EPHEMERAL_GIB) * rates["ephemeral_storage"]
    return rate


def minimum_billed_seconds(os_family: str = "LINUX", table: Mapping | None = None) -> int:
    """The minimum billing period: 60 s on Linux; the table's Windows figure otherwise."""
    minimums = _table(table).get("minimum_billed_seconds", {"LINUX": 60, "WINDOWS": 900})
    return int(minimums["WINDOWS" if _is_windows(os_family) else "LINUX"])


def billed_seconds(seconds: float, os_family: str = "LINUX") -> int:
    """Seconds billed: rounded up to the second, at least the minimum (60 on Linux)."""
    return max(minimum_billed_seconds(os_family), math.ceil(seconds))


def fargate_task_cost(cpu: int, memory: int, seconds: float, *, region: str = "us-east-1", arch: str = "X86_64",
                      os_family: str = "LINUX", spot: bool = False, ephemeral_gib: int = INCLUDED_EPHEMERAL_GIB,
                      spot_discount: float | None = None, table: Mapping | None = None) -> float:
    """USD for one task that ran ``seconds`` (cpu in CPU units, memory in MiB)."""
    hourly = fargate_hourly_rate(cpu, memory, region=region, arch=arch, os_family=os_family, spot=spot,
                                 ephemeral_gib=ephemeral_gib, spot_discount=spot_discount, table=table)
    minimum = minimum_billed_seconds(os_family, table)
    return hourly * max(minimum, math.ceil(seconds)) / 3600


# --- vectorized ------------------------------------------------------------------------------------------------


def _codes(series: pd.Series, categories: list[str]) -> np.ndarray:
    """Integer codes of ``series`` in ``categories`` (-1 where absent or NA), computed once per distinct value."""
    cat = series if isinstance(series.dtype, pd.CategoricalDtype) else series.astype("category")
    lookup = np.array([categories.index(c) if c in categories else -1 for c in cat.cat.categories] + [-1],
                      dtype=np.int64)
    return lookup[cat.cat.codes.to_numpy()]  # code -1 (NA) picks the trailing -1


def _matches(series: pd.Series, predicate) -> np.ndarray:
    """``predicate(value)`` for each row as a bool array, evaluated once per distinct value (NA is False)."""
    cat = series if isinstance(series.dtype, pd.CategoricalDtype) else series.astype("category")
    lookup = np.array([bool(predicate(c)) for c in cat.cat.categories] + [False], dtype=bool)
    return lookup[cat.cat.codes.to_numpy()]


def _column(frame: pd.DataFrame, name: str, default: object) -> pd.Series:
    if name in frame:
        return frame[name]
    return pd.Series(default, index=frame.index)


def is_windows(frame: pd.DataFrame) -> np.ndarray:
    """For each row, whether its ``os_family`` is Windows (a missing OS is Linux)."""
    return _matches(_column(frame, "os_family", "LINUX"), _is_windows)


def _platform_codes(frame: pd.DataFrame) -> np.ndarray:
    """0 linux_x86, 1 linux_arm, 2 windows_x86 for each row (missing arch: x86; missing OS: Linux)."""
    windows = _matches(_column(frame, "os_family", "LINUX"), _is_windows)
    arm = _matches(_column(frame, "arch", "X86_64"), lambda a: str(a).upper() == "ARM64")
    return np.where(windows, np.int8(2), arm.view(np.int8))


def _floats(series: pd.Series) -> np.ndarray:
    """``series`` as float64 (NaN for what is not a number), without a copy when it is numeric already."""
    if pd.api.types.is_numeric_dtype(series.dtype) and not isinstance(series.dtype, pd.CategoricalDtype):
        return series.to_numpy(dtype=float, na_value=np.nan)
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _rate_arrays(table: Mapping) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    regions = sorted(table["regions"])
    vcpu = np.array([[table["regions"][r][p]["vcpu"] for p in PLATFORMS] for r in regions], dtype=float)
    gb = np.array([[table["regions"][r][p]["gb"] for p in PLATFORMS] for r in regions], dtype=float)
    lic = np.array([table["regions"][r]["windows_os_license"] for r in regions], dtype=float)
    eph = np.array([table["regions"][r]["ephemeral_storage"] for r in regions], dtype=float)
    return regions, vcpu, gb, lic, eph


def hourly_rate_frame(frame: pd.DataFrame, *, region: str | None = None, table: Mapping | None = None,
                      spot_discount: float | None = None) -> pd.Series:
    """USD per hour of each row, vectorized: columns ``cpu`` (units), ``memory`` (MiB), and optionally
    ``region``, ``arch``, ``os_family``, ``spot``, ``ephemeral_gib``. NaN where the size or region is unknown.

    Rows Fargate cannot run (Windows on Spot, Windows at a size other than 1, 2 or 4 vCPU) are refused."""
    table = _table(table)
    regions, vcpu_rates, gb_rates, lic_rates, eph_rates = _rate_arrays(table)
    region_series = pd.Series(region, index=frame.index) if region else _column(frame, "region", "us-east-1")
    r = _codes(region_series, regions)
    p = _platform_codes(frame)
    vcpu = _floats(frame["cpu"]) / 1024
    gb = _floats(frame["memory"]) / 1024
    spot = _column(frame, "spot", False).fillna(False).to_numpy(dtype=bool)
    _check_windows_rows(frame, p == 2, spot, vcpu, table)
    # Per (region, platform, on-demand or Spot): USD per vCPU-hour (with Windows' licence) and per GB-hour, in a
    # small table with a last row of NaN for an unknown region; each row then needs two look-ups, not a dozen passes.
    discount = np.array([1.0, 1 - _spot_discount(spot_discount, table)])
    per_vcpu = (vcpu_rates + np.outer(lic_rates, [0.0, 0.0, 1.0]))[:, :, None] * discount
    per_gb = gb_rates[:, :, None] * discount
    nan_row = np.full((1, len(PLATFORMS), 2), np.nan)
    per_vcpu, per_gb = np.concatenate([per_vcpu, nan_row]).ravel(), np.concatenate([per_gb, nan_row]).ravel()
    row = np.where(r >= 0, r, len(regions))
    key = (row * len(PLATFORMS) + p) * 2 + spot
    rate = vcpu * per_vcpu[key] + gb * per_gb[key]
    if "ephemeral_gib" in frame:
        extra = np.clip(_floats(frame["ephemeral_gib"]) - INCLUDED_EPHEMERAL_GIB, 0, None)
        extra[np.isnan(extra)] = 0.0
        rate += extra * np.append(eph_rates, 0.0)[row]
    return pd.Series(rate, index=frame.index, name="usd_per_hour")


def _utc_ns(times: pd.Series) -> np.ndarray:
    """Timestamps (tz-aware, UTC) as a numpy datetime64[ns] array (NaT stays NaT), for arithmetic without pandas."""
    return times.to_numpy(dtype="datetime64[ns]")


def _check_windows_rows(frame: pd.DataFrame, windows: np.ndarray, spot: np.ndarray, vcpu: np.ndarray,
                        table: Mapping) -> None:
    """The vectorized :func:`check_platform`: one error for every row Fargate cannot run."""
    if not windows.any():
        return
    on_spot = windows & spot
    if on_spot.any():
        raise InvalidParameter("spot", True, f"False for the {int(on_spot.sum())} Windows row(s): Fargate Spot does "
                                             "not run Windows containers, so there is no Spot price for them")
    allowed = np.array(windows_rules(table)["cpu"], dtype=float) / 1024
    bad = windows & ~np.isnan(vcpu) & ~np.isin(vcpu, allowed)
    if bad.any():
        cpus = sorted({int(c * 1024) for c in vcpu[bad]})
        raise InvalidParameter("cpu", cpus, "1024, 2048 or 4096 for Windows rows: Fargate runs Windows with 1, 2 "
                                            "or 4 vCPU only")


def billing_window(tasks: pd.DataFrame, now: datetime | pd.Timestamp | None = None) -> pd.DataFrame:
    """``billing_start`` (pull start, else start, else creation) and ``billing_end`` (stop, else now for a
    task not STOPPED; NaT for a STOPPED task without ``stopped_at``)."""
    now = pd.Timestamp(now or datetime.now(UTC))
    nat = pd.Series(pd.NaT, index=tasks.index, dtype="datetime64[ns, UTC]")
    start = nat.copy()
    for column in ("pull_started_at", "started_at", "created_at"):
        if column in tasks:
            start = start.fillna(pd.to_datetime(tasks[column], utc=True))
    end = pd.to_datetime(tasks["stopped_at"], utc=True) if "stopped_at" in tasks else nat.copy()
    stopped = _matches(_column(tasks, "last_status", ""), lambda s: s == "STOPPED")
    end = end.where(end.notna() | stopped, now)
    return pd.DataFrame({"billing_start": start, "billing_end": end}, index=tasks.index)


def billed_seconds_frame(run_seconds: pd.Series, os_family: pd.Series | str = "LINUX",
                         table: Mapping | None = None) -> pd.Series:
    """Vectorized :func:`billed_seconds`: rounded up, at least the OS's minimum; NaN stays NaN."""
    if isinstance(os_family, str):
        minimum = np.full(len(run_seconds), minimum_billed_seconds(os_family, table), dtype=float)
    else:
        windows = _matches(os_family, _is_windows)
        minimum = np.where(windows, minimum_billed_seconds("WINDOWS", table), minimum_billed_seconds("LINUX", table))
    seconds = np.ceil(np.clip(run_seconds.to_numpy(dtype=float, na_value=np.nan), 0, None))
    return pd.Series(np.maximum(seconds, minimum), index=run_seconds.index, name="billed_seconds")  # NaN stays NaN


def price_tasks(tasks: pd.DataFrame, *, now: datetime | pd.Timestamp | None = None, table: Mapping | None = None,
                spot_discount: float | None = None) -> pd.DataFrame:
    """``tasks`` (as from ``helpers.inventory.tasks``) plus the columns ``billing_start``, ``billing_end``,
    ``run_seconds``, ``billed_seconds``, ``usd_per_hour``, ``cost_usd`` and ``cost_basis``.

    A task whose size or timestamps are unknown gets NaN and the basis "unknown", never a guess.
    """
    priced = tasks.copy(deep=False)
    window = billing_window(tasks, now)
    priced["billing_start"] = window["billing_start"]
    priced["billing_end"] = window["billing_end"]
    span = _utc_ns(window["billing_end"]) - _utc_ns(window["billing_start"])  # NaT where either end is unknown
    priced["run_seconds"] = pd.Series(span / np.timedelta64(1, "s"), index=tasks.index)
    priced["billed_seconds"] = billed_seconds_frame(priced["run_seconds"], _column(tasks, "os_family", "LINUX"),
                                                    table)
    priced["usd_per_hour"] = hourly_rate_frame(tasks, table=table, spot_discount=spot_discount)
    cost = priced["usd_per_hour"].to_numpy() * priced["billed_seconds"].to_numpy() / 3600
    priced["cost_usd"] = pd.Series(cost, index=tasks.index)
    codes = np.isnan(cost).view(np.int8)
    priced["cost_basis"] = pd.Categorical.from_codes(codes, categories=[ESTIMATE, UNKNOWN])
    return priced


def running_cost_rate(priced: pd.DataFrame) -> float:
    """USD per hour of every task not STOPPED (an estimate from state)."""
    running = ~_matches(priced["last_status"], lambda s: s == "STOPPED")
    return float(priced.loc[running, "usd_per_hour"].sum())


def cost_rate_timeline(priced: pd.DataFrame) -> pd.DataFrame:
    """The running cost rate over time, a step function: ``time`` and ``usd_per_hour`` after each change."""
    ok = priced.dropna(subset=["billing_start", "billing_end", "usd_per_hour"])
    events = pd.concat([
        pd.DataFrame({"time": ok["billing_start"], "delta": ok["usd_per_hour"]}),
        pd.DataFrame({"time": ok["billing_end"], "delta": -ok["usd_per_hour"]}),
    ]).sort_values("time", kind="stable")
    timeline = events.groupby("time", sort=True)["delta"].sum().cumsum().clip(lower=0)
    return timeline.rename("usd_per_hour").reset_index()


def cost_by(priced: pd.DataFrame, by: list[str] | str = ("cluster", "service")) -> pd.DataFrame:
    """Per group: tasks, estimated ``cost_usd`` so far, and ``usd_per_hour_now`` (tasks not STOPPED only);
    tasks outside a service count as "(standalone)"."""
    keys = [by] if isinstance(by, str) else list(by)
    frame = priced.copy(deep=False)
    if "service" in keys:
        frame["service"] = frame["service"].astype("string").fillna("(standalone)")
    running = ~_matches(frame["last_status"], lambda s: s == "STOPPED")
    frame["usd_per_hour_now"] = frame["usd_per_hour"].where(running, 0.0)
    return (frame.groupby(keys, observed=True, dropna=False)
            .agg(tasks=("task_arn", "size"), cost_usd=("cost_usd", "sum"),
                 usd_per_hour_now=("usd_per_hour_now", "sum"))
            .reset_index().sort_values("cost_usd", ascending=False, ignore_index=True))


def service_projection(services: pd.DataFrame, task_definitions: pd.DataFrame, *, table: Mapping | None = None,
                       spot_discount: float | None = None) -> pd.DataFrame:
    """Monthly projection per service: desired count x the task definition's size x the table's hours a month
    (730). A capacity-provider strategy weighs on-demand and Spot by its weights."""
    table = _table(table)
    sizes = task_definitions[["task_definition_arn", "cpu", "memory", "arch", "os_family", "ephemeral_gib"]]
    frame = services.merge(sizes, on="task_definition_arn", how="left")
    windows = pd.Series(is_windows(frame), index=frame.index)
    on_demand = hourly_rate_frame(frame.assign(spot=False), table=table)
    spot = hourly_rate_frame(frame.assign(spot=~windows), table=table, spot_discount=spot_discount)
    share = frame["spot_share"].fillna(0).astype(float) if "spot_share" in frame else pd.Series(0.0, frame.index)
    # Fargate Spot does not run Windows: a Windows service's Spot weight places no task, so it is priced on demand.
    frame["note"] = np.where(windows & (share > 0), "Windows: Fargate Spot does not run Windows; its Spot "
                             "weight places no task, priced on demand", "")
    frame["usd_per_hour_per_task"] = on_demand * (1 - share) + spot * share
    frame["usd_per_hour"] = frame["usd_per_hour_per_task"] * frame["desired_count"]
    frame["usd_per_month"] = frame["usd_per_hour"] * table.get("hours_per_month", 730)
    frame["cost_basis"] = "projection: desired count x size x 730 h"
    return frame


def ecr_storage(layers: pd.DataFrame, *, table: Mapping | None = None) -> pd.DataFrame:
    """ECR storage per repository from unique layer bytes (a layer shared by images is counted once).

    ``layers``: one row per (repository, image, layer) as from ``helpers.inventory.layers``. The last row,
    repository "(registry total)", counts a layer shared across repositories once as well.
    """
    rate = _table(table).get("ecr_storage_gb_month", 0.10)
    unique = layers.drop_duplicates(["region", "repository", "layer_digest"])
    per_repo = (unique.groupby(["region", "repository"], observed=True)
                .agg(layers=("layer_digest", "size"), stored_bytes=("size_bytes", "sum")).reset_index())
    images = layers.groupby(["region", "repository"], observed=True)["image_digest"].nunique()
    per_repo = per_repo.merge(images.rename("images").reset_index(), on=["region", "repository"])
    registry = layers.drop_duplicates(["region", "layer_digest"])
    total = pd.DataFrame({"region": ["(all)"], "repository": ["(registry total)"], "layers": [len(registry)],
                          "stored_bytes": [int(registry["size_bytes"].sum())],
                          "images": [layers["image_digest"].nunique()]})
    out = pd.concat([per_repo, total], ignore_index=True)
    out["stored_gb"] = out["stored_bytes"] / 2**30  # AWS storage "GB" is 2^30 bytes
    out["usd_per_month"] = out["stored_gb"] * rate
    out["cost_basis"] = f"estimate: unique layer bytes x ${rate} per GB-month"
    return out
