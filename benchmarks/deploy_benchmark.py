"""Deployment benchmark: how long the embedded scheduler takes to roll a service out, and to fail and roll back.

On a simulated embedded backend of its own (free port), for each desired count it creates a service on v1,
then measures with ``helpers.services.deploy`` (poll 0.2 s):

- a rolling deployment v1 -> v2 (until PRIMARY, COMPLETED, running == desired),
- a deployment of a missing image until the circuit breaker fails it and the rollback to v2 completes,
- the mean DescribeServices latency while the service runs (the scheduler reconciles on every call).

    python benchmarks/deploy_benchmark.py [--counts 1 4 10]

Simulated task phases are 0.3 s provisioning + 0.3 s pull, so a rollout cannot beat about 0.6 s.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    from helpers import ecr, images, local, prereqs, services, taskdef
    from helpers.errors import DeploymentFailed
    from helpers.session import LabSession

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 4, 10])
    args = parser.parse_args()
    port = free_port()
    info = local.start(port, runtime="simulated")
    quiet = lambda _: None  # noqa: E731
    try:
        session = LabSession(backend="local", endpoint_url=info.url, region_name="us-east-1", **local.CREDENTIALS)
        with tempfile.TemporaryDirectory() as tmp:
            source = images.assemble(images.DEFAULT_APP_DIR, "bench/app:v1", Path(tmp) / "oci", echo=quiet).source
            ecr.ensure_repository(session, "bench/app")
            for tag in ("v1", "v2"):
                ecr.push(session, source, "bench/app", tag, progress=False)
        prereqs.ensure_cluster(session, "bench")
        role = prereqs.ensure_execution_role(session, allow_create=True)
        uri, _ = taskdef.ecr_image_uri(session, "bench/app", "v1")
        print(f"{'desired':>7} {'rollout v1->v2 (s)':>19} {'fail+rollback (s)':>18} {'DescribeServices (ms)':>22}")
        for count in args.counts:
            name = f"svc-{count}"
            definition = taskdef.fargate_task_definition(name, uri, cpu=256, memory=512, awslogs=False,
                                                         execution_role_arn=role)
            services.ensure_service(session, "bench", name, definition, desired_count=count)
            services.deploy(session, "bench", name, image_tag="v1", timeout=120, poll=0.2, say=quiet)
            start = time.monotonic()
            services.deploy(session, "bench", name, image_tag="v2", timeout=120, poll=0.2, say=quiet)
            rollout = time.monotonic() - start
            start = time.monotonic()
            try:
                services.deploy(session, "bench", name, image_tag="missing", timeout=120, poll=0.2, say=quiet)
            except DeploymentFailed:
                pass
            failed = time.monotonic() - start
            ecs = session.client("ecs")
            start = time.monotonic()
            for _ in range(20):
                ecs.describe_services(cluster="bench", services=[name])
            latency = (time.monotonic() - start) / 20 * 1000
            print(f"{count:>7} {rollout:>19.2f} {failed:>18.2f} {latency:>22.1f}")
            services.delete(session, "bench", name, poll=0.5, say=quiet)
    finally:
        local.stop(port)


if __name__ == "__main__":
    main()
