"""Push benchmark: helpers.ecr.push_image (ECR API, daemonless) against `docker push`, same image, same run.

Builds an image of about 200 MB in several layers (random bytes: incompressible, the worst case for gzip) on a
local base image, then measures

- the first push through the ECR API to the embedded backend (cold layer cache: every layer compressed),
- the re-push of the same image (nothing to upload),
- `docker push` of the same image to Debian's docker-registry on 127.0.0.1 (what Docker users do),
- `helpers.ecr.docker_push` to the embedded ECR's registry,

and prints MB/s (image bytes, uncompressed, per second, so both paths are measured on the same work) and ratios.
Targets: re-push under 2% of the first push's time; first push at least 1.5 times `docker push`'s throughput.

It also prints where the first push spent its time: the CPU seconds of each process involved (this client, the
embedded backend's server, the Docker engine, which streams the image out), and the client's busiest functions
over all its threads (compression, hashing, base64 and JSON of the parts, HTTP) from cProfile, in one more push
of the same image to another repository (the profiler slows what it watches, so it is not the measured push).

    python benchmarks/push_benchmark.py [--mb 200] [--layers 4] [--top 15]

On a shared machine the absolute figures swing with the load; compare the ratios, which are measured in one run.

Needs a Docker engine, /bin/busybox (busybox-static) and docker-registry. Removes what it creates.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BASE = "fargate-lab-bench/busybox:local"
IMAGE = "fargate-lab-bench/big:latest"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_images(client, work: Path, mb: int, layers: int) -> int:
    base = work / "base"
    base.mkdir()
    shutil.copy("/bin/busybox", base / "busybox")
    (base / "Dockerfile").write_text('FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n')
    client.images.build(path=str(base), tag=BASE, rm=True)
    big = work / "big"
    big.mkdir()
    lines = [f"FROM {BASE}"]
    for i in range(layers):
        (big / f"part{i}.bin").write_bytes(os.urandom(mb * 1024 * 1024 // layers))
        lines.append(f"COPY part{i}.bin /data/part{i}.bin")
    (big / "Dockerfile").write_text("\n".join(lines) + "\n")
    client.images.build(path=str(big), tag=IMAGE, rm=True)
    return int(client.api.inspect_image(IMAGE)["Size"])


def start_registry(work: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    config = work / "registry.yml"
    config.write_text(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {work / 'registry'}\n"
                      f"http:\n  addr: 127.0.0.1:{port}\n")
    process = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1)
            break
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    return process, f"127.0.0.1:{port}"


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (from /proc; 0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pid_of(name: str) -> int | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    return int(entry.name)
            except OSError:
                continue
    return None


class ThreadProfile:
    """cProfile over every thread started while it is on (cProfile alone sees only the thread that enabled it)."""

    def __init__(self) -> None:
        self.profiles: list[cProfile.Profile] = []
        self.lock = threading.Lock()

    def _start_in_thread(self, *_: object) -> None:
        profile = cProfile.Profile()
        with self.lock:
            self.profiles.append(profile)
        profile.enable()

    def __enter__(self) -> ThreadProfile:
        threading.setprofile(self._start_in_thread)
        self._start_in_thread()
        return self

    def __exit__(self, *exc: object) -> None:
        threading.setprofile(None)  # type: ignore[arg-type]
        for profile in self.profiles:
            profile.disable()  # only the calling thread's takes effect; the others' threads have ended

    def report(self, top: int) -> str:
        out = io.StringIO()
        stats = pstats.Stats(self.profiles[0], stream=out)
        for profile in self.profiles[1:]:
            stats.add(profile)
        stats.sort_stats("tottime").print_stats(top)
        lines = out.getvalue().splitlines()
        start = next(i for i, line in enumerate(lines) if line.strip().startswith("ncalls"))
        return "\n".join(lines[start:start + top + 1])


def timed_docker_push(client, ref: str) -> float:
    started = time.perf_counter()
    for event in client.api.push(ref, stream=True, decode=True):
        if "error" in event:
            raise RuntimeError(event["error"])
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="image payload in MB (default 200)")
    parser.add_argument("--layers", type=int, default=4, help="payload layers (default 4)")
    parser.add_argument("--top", type=int, default=15, help="functions to show in the profile (default 15)")
    args = parser.parse_args()

    load_at_start = " ".join(f"{x:.2f}" for x in os.getloadavg())  # a shared machine: the figures swing with it
    work = Path(tempfile.mkdtemp(prefix="fargate-lab-bench-"))
    os.environ["FARGATE_LAB_STATE_DIR"] = str(work / "state")  # a cold layer cache, and its own server state
    os.environ.setdefault("FARGATE_LAB_PORT", str(free_port()))
    import helpers
    from helpers import ecr, local
    from helpers.engine import docker_client

    client = docker_client(timeout=600)
    if client is None:
        print("no Docker engine answers: this benchmark needs one")
        return 2
    started_server = local.status() is None
    registry, host = start_registry(work)
    refs = [IMAGE, BASE]
    try:
        size = build_images(client, work, args.mb, args.layers)
        mb = size / 1e6
        session = helpers.connect()
        ecr.ensure_repository(session, "fargate-lab/bench")
        server, engine = local.status().pid, pid_of("dockerd")
        before = {"server": cpu_seconds(server), "engine": cpu_seconds(engine) if engine else 0.0,
                  "client": time.process_time()}
        first = ecr.push_image(session, IMAGE, "fargate-lab/bench", "v1", progress=False)
        cpu = {"client (this process, all threads)": time.process_time() - before["client"],
               "embedded backend's server": cpu_seconds(server) - before["server"],
               "Docker engine (docker save)": (cpu_seconds(engine) - before["engine"]) if engine else float("nan")}
        refs.append(first.image_uri)
        again = ecr.push_image(session, IMAGE, "fargate-lab/bench", "v1", progress=False)
        target = f"{host}/bench/big:v1"
        client.api.tag(IMAGE, f"{host}/bench/big", "v1")
        refs.append(target)
        docker_seconds = timed_docker_push(client, target)
        embedded = ecr.docker_push(session, IMAGE, "fargate-lab/bench", "docker", progress=False)
        refs.append(embedded.image_uri)
        ecr.ensure_repository(session, "fargate-lab/bench-profile")  # the same work again, under the profiler
        with ThreadProfile() as profile:
            profiled = ecr.push_image(session, IMAGE, "fargate-lab/bench-profile", "v1", progress=False)
        refs.append(profiled.image_uri)

        api_rate, docker_rate = mb / first.seconds, mb / docker_seconds
        print("load average (1, 5, 15 min) at the end: {:.2f} {:.2f} {:.2f} on {} cores, at the start: {}".format(
            *os.getloadavg(), os.cpu_count(), load_at_start))
        repush_share = again.seconds / first.seconds
        print(f"image: {mb:.1f} MB in {args.layers} payload layers + base ({first.layers_uploaded} blobs, "
              f"{first.bytes_uploaded / 1e6:.1f} MB compressed)")
        print(f"push_image, first push (ECR API):      {first.seconds:8.2f} s  {api_rate:8.1f} MB/s")
        print(f"push_image, re-push:                   {again.seconds:8.3f} s  uploaded {again.bytes_uploaded} bytes")
        print(f"docker push to docker-registry:        {docker_seconds:8.2f} s  {docker_rate:8.1f} MB/s")
        print(f"docker_push to the embedded registry:  {embedded.seconds:8.2f} s  {mb / embedded.seconds:8.1f} MB/s")
        print(f"re-push / first push:                  {repush_share:8.2%}   (target < 2%: "
              f"{'met' if repush_share < 0.02 else 'NOT met'})")
        print(f"first push / docker push throughput:   {api_rate / docker_rate:8.2f}x  (target >= 1.5x: "
              f"{'met' if api_rate / docker_rate >= 1.5 else 'NOT met'})")
        print(f"\nwhere the first push's {first.seconds:.2f} s went, CPU seconds by process (2 cores: at most "
              f"{2 * first.seconds:.1f}):")
        for name, seconds in cpu.items():
            print(f"  {name:38s} {seconds:7.2f} s")
        print(f"\nthe client's busiest functions over all its threads in a push of the same "
              f"image to another repository\n(cProfile, own time; {profiled.seconds:.2f} s under the profiler):\n{profile.report(args.top)}")
        return 0
    finally:
        for ref in [*refs[2:], IMAGE, BASE]:  # children before the base they build on
            try:
                client.images.remove(ref)
            except Exception:  # noqa: BLE001 - best effort, only what this run created
                pass
        registry.terminate()
        registry.wait(timeout=10)
        if started_server:
            local.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
