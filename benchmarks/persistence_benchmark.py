"""What keeping the state costs each mutating call: two embedded backends in one run, persistence on and off.

    .venv/bin/python benchmarks/persistence_benchmark.py [--runs 30]

Both backends run in a fresh state directory of their own (simulated tasks). For each kind of mutating call
(ECS RegisterTaskDefinition and CreateCluster, CloudWatch Logs PutLogEvents, SSM PutParameter, Secrets Manager
PutSecretValue, EC2 CreateTags, ECR CreateRepository, IAM CreateRole, S3 PutObject, ECS RunTask) it prints the median latency with
persistence on and off and the difference: what a request pays to be on disk before it is answered (pickling the
service it touched, one fsynced write). The goal: a few milliseconds per call, EC2 (moto's largest backend) the
most. Then RunTask (count=10) on a cluster filling up to 2,000 tasks (``--fleet``): its latency at 100 and at
2,000 tasks held, on beside off, so a per-call cost that grows with the state shows. Prints figures; asserts
nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _start(persist: bool):
    from helpers import local
    from tests.backends import free_port

    os.environ["FARGATE_LAB_PERSIST"] = "1" if persist else "0"
    try:
        return local.start(free_port(), runtime="simulated")
    finally:
        os.environ.pop("FARGATE_LAB_PERSIST", None)


def _calls(session) -> dict:
    """name -> a function making one mutating call (a new resource or a new value each time)."""
    ecs, logs, ssm = session.client("ecs"), session.client("logs"), session.client("ssm")
    secrets, ec2, ecr = session.client("secretsmanager"), session.client("ec2"), session.client("ecr")
    logs.create_log_group(logGroupName="bench")
    logs.create_log_stream(logGroupName="bench", logStreamName="s")
    secrets.create_secret(Name="bench", SecretString="0")
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    counter = iter(range(10**9))
    iam, s3 = session.client("iam"), session.client("s3")
    trust = '{"Version": "2012-10-17", "Statement": []}'
    s3.create_bucket(Bucket="bench")
    ecs.create_cluster(clusterName="bench")
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]]
    network = {"subnets": subnets[:1]}
    return {
        "ecs RegisterTaskDefinition": lambda: ecs.register_task_definition(
            family="bench", requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256", memory="512",
            containerDefinitions=[{"name": "app", "image": "busybox", "essential": True}]),
        "ecs CreateCluster": lambda: ecs.create_cluster(clusterName=f"bench-{next(counter)}"),
        "logs PutLogEvents": lambda: logs.put_log_events(
            logGroupName="bench", logStreamName="s",
            logEvents=[{"timestamp": int(time.time() * 1000), "message": "line " * 20}]),
        "ssm PutParameter": lambda: ssm.put_parameter(Name="/bench/p", Value=str(next(counter)), Type="String",
                                                      Overwrite=True),
        "secretsmanager PutSecretValue": lambda: secrets.put_secret_value(SecretId="bench",
                                                                          SecretString=str(next(counter))),
        "ec2 CreateTags": lambda: ec2.create_tags(Resources=[vpc], Tags=[{"Key": "n", "Value": str(next(counter))}]),
        "ecr CreateRepository": lambda: ecr.create_repository(repositoryName=f"bench/r{next(counter)}"),
        "iam CreateRole": lambda: iam.create_role(RoleName=f"bench-{next(counter)}", AssumeRolePolicyDocument=trust),
        "s3 PutObject (1 KiB)": lambda: s3.put_object(Bucket="bench", Key=f"k{next(counter)}", Body=b"x" * 1024),
        "ecs RunTask": lambda: ecs.run_task(cluster="bench", taskDefinition="bench", launchType="FARGATE",
                                            networkConfiguration={"awsvpcConfiguration": network}),
        "ecs ListClusters (a read)": lambda: ecs.list_clusters(),
    }


def _median_ms(call, runs: int) -> float:
    call()  # the first call builds clients' caches and moto's regions
    seconds = []
    for _ in range(runs):
        began = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - began)
    return statistics.median(seconds) * 1000


def _fleet(session, tasks_at: list[int], runs: int) -> dict[int, float]:
    """Median ms of RunTask (count=10) once the cluster holds each of ``tasks_at`` tasks (filled by RunTask first)."""
    ecs, ec2 = session.client("ecs"), session.client("ec2")
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]]
    ecs.create_cluster(clusterName="fleet")
    definition = ecs.register_task_definition(
        family="fleet", requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256", memory="512",
        containerDefinitions=[{"name": "app", "image": "busybox", "essential": True}])["taskDefinition"]["taskDefinitionArn"]

    def run() -> None:
        ecs.run_task(cluster="fleet", taskDefinition=definition, launchType="FARGATE", count=10,
                     networkConfiguration={"awsvpcConfiguration": {"subnets": subnets[:1]}})

    held, medians = 0, {}
    for target in tasks_at:
        while held < target:
            run()
            held += 10
        seconds = []
        for _ in range(runs):
            began = time.perf_counter()
            run()
            seconds.append(time.perf_counter() - began)
            held += 10
        medians[target] = statistics.median(seconds) * 1000
    return medians


def fleet_figure(servers: dict, tasks_at: list[int], runs: int) -> None:
    """RunTask's latency as the state grows, persistence on beside off: a per-call cost that grows with the
    tasks held would make creating a fleet quadratic."""
    from tests.backends import lab_session

    medians = {mode: _fleet(lab_session(info), tasks_at, runs) for mode, info in servers.items()}
    print(f"\nRunTask (count=10) median of {runs} calls, as the cluster fills:")
    print(f"{'tasks held':>10} {'on (ms)':>9} {'off (ms)':>9} {'added (ms)':>11}")
    for target in tasks_at:
        on, off = medians["on"][target], medians["off"][target]
        print(f"{target:10d} {on:9.1f} {off:9.1f} {on - off:11.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--fleet", type=int, nargs="*", default=[100, 2000],
                        help="RunTask's latency once this many tasks are held (none: skip)")
    args = parser.parse_args()
    os.environ["FARGATE_LAB_STATE_DIR"] = tempfile.mkdtemp(prefix="fargate-lab-persist-bench-")
    from helpers import local
    from tests.backends import lab_session

    servers = {"on": _start(True), "off": _start(False)}
    try:
        calls = {mode: _calls(lab_session(info)) for mode, info in servers.items()}
        print(f"{'call':34} {'on (ms)':>9} {'off (ms)':>9} {'added (ms)':>11}   ({args.runs} runs, medians)")
        for name in calls["on"]:
            off = _median_ms(calls["off"][name], args.runs)  # interleaved: the same machine load for both
            on = _median_ms(calls["on"][name], args.runs)
            print(f"{name:34} {on:9.2f} {off:9.2f} {on - off:11.2f}")
        if args.fleet:
            fleet_figure(servers, args.fleet, runs=10)
        state = Path(os.environ["FARGATE_LAB_STATE_DIR"]) / f"state-{servers['on'].port}"
        sizes = ", ".join(f"{p.name} {p.stat().st_size / 1024:.0f} KiB" for p in sorted(state.glob("*.state")))
        print(f"state files: {sizes}")
    finally:
        for info in servers.values():
            local.stop(info.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
