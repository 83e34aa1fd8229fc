"""Pricing 1,000,000 task rows: the vectorized model (helpers.cost.price_tasks) against a row-by-row loop.

    .venv/bin/python benchmarks/pricing_benchmark.py [--rows 1000000] [--loop-rows 100000]

Prints seconds for each and the speed-up. The loop prices ``--loop-rows`` rows with
``fargate_task_cost`` and is scaled to the full row count (say ``--loop-rows`` equal to
``--rows`` to time it all). Target: the vectorized pricing of 1,000,000 rows in at most 0.05 s, with the same
figures as the loop.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from helpers import cost
from helpers.fargate import all_sizes

REGIONS = ["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1"]


def synthetic_tasks(rows: int, seed: int = 7) -> pd.DataFrame:
    """Tasks of valid sizes, mixed platforms and Spot (never Windows on Spot), some running, realistic timestamps."""
    rng = np.random.default_rng(seed)
    sizes = np.array(all_sizes())
    pick = sizes[rng.integers(0, len(sizes), rows)]
    now = pd.Timestamp(datetime(2026, 11, 28, tzinfo=UTC))
    start = now - pd.to_timedelta(rng.integers(60, 7 * 86400, rows), unit="s")
    run = pd.to_timedelta(rng.exponential(900, rows), unit="s")
    stopped = pd.Series(start + run).where(rng.random(rows) > 0.1)
    windows = rng.random(rows) < 0.05
    windows_sizes = sizes[np.isin(sizes[:, 0], [1024, 2048, 4096])]  # Fargate runs Windows at 1, 2 or 4 vCPU
    pick = np.where(windows[:, None], windows_sizes[rng.integers(0, len(windows_sizes), rows)], pick)
    frame = pd.DataFrame({
        "region": pd.Categorical(np.array(REGIONS)[rng.integers(0, len(REGIONS), rows)]),
        "cpu": pick[:, 0],
        "memory": pick[:, 1],
        "arch": pd.Categorical(np.where(~windows & (rng.random(rows) < 0.3), "ARM64", "X86_64")),
        "os_family": pd.Categorical(np.where(windows, "WINDOWS_SERVER_2022_CORE", "LINUX")),
        "spot": ~windows & (rng.random(rows) < 0.25),  # Fargate Spot does not run Windows
        "ephemeral_gib": np.where(rng.random(rows) < 0.1, 50, 20),
        "pull_started_at": start,
        "stopped_at": stopped,
        "last_status": pd.Categorical(np.where(stopped.isna(), "RUNNING", "STOPPED")),
    })
    frame.attrs["now"] = now
    return frame


def loop(frame: pd.DataFrame, now: pd.Timestamp) -> list[float]:
    out = []
    for row in frame.itertuples(index=False):
        end = now if pd.isna(row.stopped_at) else row.stopped_at
        seconds = (end - row.pull_started_at).total_seconds()
        out.append(cost.fargate_task_cost(row.cpu, row.memory, seconds, region=row.region, arch=row.arch,
                                          os_family=row.os_family, spot=row.spot, ephemeral_gib=row.ephemeral_gib))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--loop-rows", type=int, default=100_000)
    args = parser.parse_args()
    frame = synthetic_tasks(args.rows)
    now = frame.attrs["now"]
    cost.price_tasks(frame.head(1000), now=now)  # warm up (imports, table load)

    t = time.perf_counter()
    priced = cost.price_tasks(frame, now=now)
    vectorized = time.perf_counter() - t

    sample = frame.head(min(args.loop_rows, args.rows))
    t = time.perf_counter()
    expected = loop(sample, now)
    looped = (time.perf_counter() - t) * args.rows / len(sample)

    agree = np.allclose(priced["cost_usd"].head(len(sample)).to_numpy(), np.array(expected), rtol=1e-12)
    print(f"rows priced:                 {args.rows:,}")
    print(f"vectorized price_tasks:      {vectorized:.3f} s  (target <= 0.05 s for 1,000,000 rows)")
    scaled = "" if len(sample) == args.rows else f", scaled from {len(sample):,} rows"
    print(f"row-by-row fargate_task_cost: {looped:.1f} s{scaled}")
    print(f"speed-up:                    {looped / vectorized:.0f}x")
    print(f"same figures on the loop's rows: {agree}; total ${priced['cost_usd'].sum():,.2f}")


if __name__ == "__main__":
    main()
