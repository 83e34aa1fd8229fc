"""How fast the embedded backend runs simulated Fargate tasks, and what waiting costs in API calls.

Starts its own simulated backend on a free port, runs batches of one-off tasks and prints,
per batch size: RunTask latency, wall time until wait_for_tasks returns, how long after the
last task's stoppedAt the wait noticed (poll latency), and how many DescribeTasks polls it made.

    python benchmarks/task_lifecycle.py [--sizes 1 5 10] [--seconds 1]
"""

from __future__ import annotations

import argparse
import os
import socket
import time
from datetime import UTC, datetime


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 5, 10])
    parser.add_argument("--seconds", type=float, default=1.0, help="simulated run time of each task")
    args = parser.parse_args()
    os.environ["FARGATE_LAB_SIMULATED_SECONDS"] = str(args.seconds)

    from helpers import local, prereqs, taskdef, tasks
    from helpers.session import LabSession

    port = free_port()
    info = local.start(port, runtime="simulated")
    try:
        session = LabSession(backend="local", endpoint_url=info.url, region_name="us-east-1", **local.CREDENTIALS)
        prereqs.ensure_cluster(session, "bench")
        prereqs.ensure_log_group(session, taskdef.default_log_group("bench"))
        role = prereqs.ensure_execution_role(session, allow_create=True)
        td = taskdef.fargate_task_definition("bench", "busybox", cpu=256, memory=512, command="true",
                                             execution_role_arn=role)
        arn = taskdef.register(session, td).arn
        network = prereqs.network(session)
        print(f"simulated run time {args.seconds:g} s per task")
        print(f"{'tasks':>5} {'RunTask s':>10} {'wait s':>8} {'noticed after stop s':>21} {'polls':>6}")
        for size in args.sizes:
            polls: list = []
            started = time.perf_counter()
            arns = tasks.run_task(session, "bench", arn, count=size, network=network)
            launched = time.perf_counter()
            results = tasks.wait_for_tasks(session, "bench", arns, progress=False,
                                           on_poll=polls.append)
            waited = time.perf_counter() - launched
            last_stop = max(r.stopped_at for r in results)
            lag = (datetime.now(UTC) - last_stop).total_seconds()
            print(f"{size:>5} {launched - started:>10.3f} {waited:>8.2f} {lag:>21.2f} {len(polls):>6}")
    finally:
        local.stop(port)


if __name__ == "__main__":
    main()
