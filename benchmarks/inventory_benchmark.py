"""An inventory of 2,000 tasks across 4 clusters on the embedded backend: API calls and seconds, beside a naive
per-task describe loop in the same run.

    .venv/bin/python benchmarks/inventory_benchmark.py [--tasks 2000] [--clusters 4]

Starts its own embedded backend on a free port (simulated runtime: no containers) and stops it at the end, so a
running lab is left alone. Target: at least 20 times fewer calls, and faster.
"""

from __future__ import annotations

import argparse
import os
import socket
import time

from tqdm import tqdm


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def populate(session, tasks: int, clusters: int) -> list[str]:
    """``tasks`` Fargate tasks spread over ``clusters`` clusters and 5 task definitions."""
    from helpers.prereqs import network as awsvpc

    ecs = session.client("ecs")
    network = {"awsvpcConfiguration": awsvpc(session)}
    definitions = [ecs.register_task_definition(
        family=f"bench-{i}", requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256", memory="512",
        containerDefinitions=[{"name": "app", "image": "busybox", "memory": 512}],
    )["taskDefinition"]["taskDefinitionArn"] for i in range(5)]
    names = [f"bench-{i}" for i in range(clusters)]
    for name in names:
        ecs.create_cluster(clusterName=name)
    with tqdm(total=tasks, desc="run_task", leave=False) as bar:
        started = 0
        while started < tasks:
            n = min(10, tasks - started)
            cluster = names[(started // 10) % clusters]
            ecs.run_task(cluster=cluster, taskDefinition=definitions[(started // 10) % 5], count=n,
                         launchType="FARGATE", networkConfiguration=network)
            started += n
            bar.update(n)
    return names


def naive(session, clusters: list[str]) -> int:
    """What a first script does: list, then describe each task and its task definition one by one."""
    ecs = session.client("ecs")
    rows = 0
    for cluster in clusters:
        for status in ("RUNNING", "STOPPED"):
            for page in ecs.get_paginator("list_tasks").paginate(cluster=cluster, desiredStatus=status):
                for arn in page["taskArns"]:
                    task = ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"][0]
                    ecs.describe_task_definition(taskDefinition=task["taskDefinitionArn"])
                    rows += 1
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--clusters", type=int, default=4)
    args = parser.parse_args()
    os.environ["FARGATE_LAB_PORT"] = str(free_port())

    import helpers
    from helpers import inventory, local
    from helpers.apicalls import count_calls

    local.start(runtime="simulated")
    try:
        session = helpers.connect()
        t = time.perf_counter()
        names = populate(session, args.tasks, args.clusters)
        print(f"created {args.tasks} tasks in {args.clusters} clusters in {time.perf_counter() - t:.1f} s")

        with count_calls(session) as calls:
            t = time.perf_counter()
            frame = inventory.tasks(session, clusters=names)
            fast = time.perf_counter() - t
        with count_calls(session) as slow_calls:
            t = time.perf_counter()
            rows = naive(session, names)
            slow = time.perf_counter() - t

        print(f"inventory.tasks: {len(frame):5d} tasks, {calls.total:5d} API calls, {fast:6.2f} s  {dict(calls)}")
        print(f"naive loop:      {rows:5d} tasks, {slow_calls.total:5d} API calls, {slow:6.2f} s")
        print(f"fewer calls: {slow_calls.total / calls.total:.0f}x (target >= 20x); faster: {slow / fast:.1f}x")
    finally:
        local.stop()


if __name__ == "__main__":
    main()
