"""RunTask to STOPPED for a trivial task on the embedded backend, beside a plain ``docker run`` of the same image.

    FARGATE_LAB_PORT=4613 .venv/bin/python benchmarks/runtask_benchmark.py [--runs 7] [--level ecs|executor]

``ecs`` (default) goes through the ECS API: RunTask, then DescribeTasks every 50 ms until
the task is STOPPED. ``executor`` measures the Docker executor alone (launch -> STOPPED).
The baseline is ``docker run --rm IMAGE true`` from the CLI, in the same run. Target:
the median RunTask-to-STOPPED is at most 1.1 times the median ``docker run``.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

IMAGE = "fargate-lab-bench/busybox:local"
TARGET = 1.1


def build_image() -> None:
    """The same kind of image the tests use: FROM scratch plus Debian's static busybox (nothing is pulled)."""
    import docker

    client = docker.from_env()
    with tempfile.TemporaryDirectory() as context:
        (Path(context) / "busybox").write_bytes(Path("/bin/busybox").read_bytes())
        (Path(context) / "busybox").chmod(0o755)
        (Path(context) / "Dockerfile").write_text(
            'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n')
        client.images.build(path=context, tag=IMAGE, rm=True)


def docker_run() -> float:
    began = time.perf_counter()
    subprocess.run(["docker", "run", "--rm", IMAGE, "true"], check=True, capture_output=True)
    return time.perf_counter() - began


def ecs_runner():
    """A function that runs the trivial task through the ECS API of the embedded backend; its seconds."""
    import helpers

    session = helpers.connect(backend="local")
    ecs = session.client("ecs")
    ecs.create_cluster(clusterName="bench")
    arn = ecs.register_task_definition(
        family="bench-trivial", requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256", memory="512",
        containerDefinitions=[{"name": "app", "image": IMAGE, "essential": True, "command": ["true"]}],
    )["taskDefinition"]["taskDefinitionArn"]
    ec2 = session.client("ec2")
    subnet = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"][0]
    group = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [subnet["VpcId"]]},
                                                  {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]
    network = {"awsvpcConfiguration": {"subnets": [subnet["SubnetId"]], "securityGroups": [group["GroupId"]]}}

    def run() -> float:
        began = time.perf_counter()
        task = ecs.run_task(cluster="bench", taskDefinition=arn, launchType="FARGATE",
                            networkConfiguration=network)["tasks"][0]["taskArn"]
        while True:
            described = ecs.describe_tasks(cluster="bench", tasks=[task])["tasks"][0]
            if described["lastStatus"] == "STOPPED":
                break
            time.sleep(0.05)
        seconds = time.perf_counter() - began
        exit_code = described["containers"][0].get("exitCode")
        if exit_code != 0:
            sys.exit(f"the task did not run for real (exitCode {exit_code!r}, {described.get('stoppedReason')}): "
                     "is the embedded backend's runtime the Docker one?")
        return seconds

    return run


def executor_runner():
    from emulator.docker_runtime import DockerExecutor
    from emulator.executor import LaunchRequest

    executor = DockerExecutor(port=f"bench-{uuid.uuid4().hex[:6]}", register_hooks=False)
    definition = {"cpu": "256", "memory": "512", "containerDefinitions": [{"name": "app", "image": IMAGE,
                                                                          "command": ["true"]}]}

    def run() -> float:
        task_id = uuid.uuid4().hex
        began = time.perf_counter()
        executor.launch(LaunchRequest(task_id=task_id, cluster="bench", task_definition=definition, overrides={},
                                      log_sink=lambda *a: None, resolve_secret=str, resolve_image=lambda r: r))
        executor.wait(task_id)
        seconds = time.perf_counter() - began
        executor.forget(task_id)
        return seconds

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--level", choices=("ecs", "executor"), default="ecs")
    args = parser.parse_args()
    build_image()
    runtask = ecs_runner() if args.level == "ecs" else executor_runner()
    runtask(), docker_run()  # warm up both paths
    ours, plain = [], []
    for _ in range(args.runs):  # interleaved, so both see the same machine load
        ours.append(runtask())
        plain.append(docker_run())
    ratio = statistics.median(ours) / statistics.median(plain)
    label = "RunTask -> STOPPED" if args.level == "ecs" else "executor launch -> STOPPED"
    print(f"{label:28s} median {statistics.median(ours):.3f} s  min {min(ours):.3f}  max {max(ours):.3f}")
    print(f"{'docker run --rm':28s} median {statistics.median(plain):.3f} s  min {min(plain):.3f}  max {max(plain):.3f}")
    print(f"ratio {ratio:.2f} (target <= {TARGET}): {'met' if ratio <= TARGET else 'NOT met'}")


if __name__ == "__main__":
    main()
