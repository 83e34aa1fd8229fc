"""The embedded backend's resident memory idle and after pushing about 1 GB of images: layers live on disk.

    .venv/bin/python benchmarks/memory_benchmark.py [--images 8] [--mb 128]

Starts a backend in a fresh state directory (persistence on, tasks simulated), reads its resident set size
(``VmRSS`` in /proc) once it has answered a first call, pushes ``--images`` images of ``--mb`` MB of random
(incompressible) bytes each through the ECR API (``helpers.ecr.push_image``, no Docker needed), and reads it again,
then once more after a restart (the state is loaded, the blobs stay on disk). Goal: after the pushes, within 150 MB
of idle. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GOAL_MB = 150


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--mb", type=int, default=128)
    args = parser.parse_args()
    os.environ["FARGATE_LAB_STATE_DIR"] = tempfile.mkdtemp(prefix="fargate-lab-memory-bench-")
    from helpers import ecr, local
    from helpers.fleet import demo_image_layout
    from tests.backends import free_port, lab_session

    port = free_port()
    info = local.start(port, runtime="simulated")
    try:
        session = lab_session(info)
        session.client("ecr").describe_repositories()
        idle = rss_mb(info.pid)
        began = time.perf_counter()
        for n in range(args.images):
            repository = f"bench/memory-{n}"
            session.client("ecr").create_repository(repositoryName=repository)
            with tempfile.TemporaryDirectory(prefix="fargate-lab-memory-") as tmp:
                layout = demo_image_layout(Path(tmp), repository, "v1", args.mb * 1024 * 1024)
                ecr.push_image(session, layout, repository, "v1", progress=False)
        seconds = time.perf_counter() - began
        after = rss_mb(info.pid)
        local.stop(port)
        info = local.start(port, runtime="simulated")
        images = sum(len(lab_session(info).client("ecr").describe_images(repositoryName=f"bench/memory-{n}")[
            "imageDetails"]) for n in range(args.images))
        restarted = rss_mb(info.pid)
    finally:
        local.stop(port)
    pushed = args.images * args.mb
    print(f"pushed {args.images} images, {pushed} MB, in {seconds:.0f} s; {images} images there after a restart")
    print(f"server RSS idle {idle:.0f} MB, after the pushes {after:.0f} MB (+{after - idle:.0f} MB; goal within "
          f"{GOAL_MB} MB: {'met' if after - idle <= GOAL_MB else 'NOT met'}), after a restart {restarted:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
