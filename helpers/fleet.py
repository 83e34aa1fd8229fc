"""A demo fleet for notebook 04 on the embedded backend: several clusters, services and tasks to analyze.

Clusters "demo-web" (services: x86 on-demand, ARM half on Spot, Windows), "demo-batch"
(one-off tasks of varied sizes, some on Spot, some with 50 GiB of ephemeral storage,
several already stopped) and, when a second region is given, "demo-analytics" there.
Three ECR repositories, pushed through ``helpers.ecr``, share a base layer, so ECR
storage counts it once.

Everything goes through the suite's helpers (``prereqs``, ``taskdef``, ``tasks``) or the
ECS and ECR APIs of the session given, carries the suite's tags, and is idempotent: a
second call adds nothing. ECS (and the embedded backend's service scheduler) starts each
service's tasks, spread over its capacity provider strategy; one-off tasks run for a few simulated seconds (the
"nightly" ones for two minutes), so the fleet has running and stopped tasks.
"""

from __future__ import annotations

import io
import json
import random
import tarfile
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import boto3

from helpers import progress
from helpers.fargate import INCLUDED_EPHEMERAL_GIB
from helpers.tags import as_aws, suite_tags

STARTED_BY = "fargate-lab-demo-fleet"
DEMO_TAG = {"fargate-lab:demo": "fleet"}
#: A container's own FARGATE_LAB_SIMULATED_SECONDS sets how long the embedded backend simulates it running.
SIMULATED_SECONDS = "FARGATE_LAB_SIMULATED_SECONDS"


@dataclass(frozen=True)
class Definition:
    family: str
    cpu: int
    memory: int
    arch: str = "X86_64"
    os_family: str = "LINUX"
    ephemeral_gib: int = INCLUDED_EPHEMERAL_GIB


@dataclass(frozen=True)
class ServicePlan:
    cluster: str
    name: str
    definition: Definition
    desired: int
    spot_weight: int = 0  # FARGATE_SPOT's weight beside FARGATE's 1; 0 means on-demand only


@dataclass(frozen=True)
class BatchPlan:
    cluster: str
    definition: Definition
    count: int
    spot: bool = False
    stop: int = 0  # how many of them the fleet stops right away
    run_seconds: float | None = None  # how long the embedded backend simulates each one running


WEB_DEFS = {
    "frontend": Definition("demo-frontend", 512, 2048),
    "api": Definition("demo-api", 1024, 3072, arch="ARM64"),
    "reports": Definition("demo-reports", 1024, 2048, os_family="WINDOWS_SERVER_2022_CORE"),
}
BATCH_DEFS = {
    "etl": Definition("demo-etl", 2048, 8192, ephemeral_gib=50),
    "thumbnails": Definition("demo-thumbnails", 256, 512, arch="ARM64"),
    "nightly": Definition("demo-nightly", 4096, 16384),
}
ANALYTICS_DEF = Definition("demo-analytics", 2048, 4096, arch="ARM64", ephemeral_gib=100)


def plan(regions: list[str]) -> tuple[list[ServicePlan], list[BatchPlan], dict[str, str]]:
    """Services, one-off batches, and the region of each cluster."""
    services = [
        ServicePlan("demo-web", "frontend", WEB_DEFS["frontend"], desired=3),
        ServicePlan("demo-web", "api", WEB_DEFS["api"], desired=2, spot_weight=1),
        ServicePlan("demo-web", "reports", WEB_DEFS["reports"], desired=1),
    ]
    batches = [
        BatchPlan("demo-batch", BATCH_DEFS["etl"], count=3, stop=1, run_seconds=3),
        BatchPlan("demo-batch", BATCH_DEFS["thumbnails"], count=6, spot=True, stop=2, run_seconds=1),
        BatchPlan("demo-batch", BATCH_DEFS["nightly"], count=2, spot=True, run_seconds=120),
    ]
    where = {"demo-web": regions[0], "demo-batch": regions[0]}
    if len(regions) > 1:
        batches.append(BatchPlan("demo-analytics", ANALYTICS_DEF, count=4, stop=1, run_seconds=2))
        where["demo-analytics"] = regions[1]
    return services, batches, where


# --- through the suite's helpers ---------------------------------------------------------------------------------


#: How long a service's task runs: until it is stopped (a reset of the embedded backend stops it).
SERVICE_SECONDS = 86400


def _register(session: boto3.Session, d: Definition, image: str, run_seconds: float | None = None) -> str:
    """The family's revision for ``d`` (a new one only when it changed), through ``helpers.taskdef``.

    The command really runs where the embedded backend has a Docker engine (a one-off task for
    ``run_seconds``, a service's task until stopped); without one, the same duration is simulated.
    """
    from helpers import taskdef

    environment = {SIMULATED_SECONDS: run_seconds} if run_seconds else None
    command = f"echo demo fleet: {d.family}; sleep {int(run_seconds or SERVICE_SECONDS)}"
    td = taskdef.fargate_task_definition(
        d.family, image, cpu=d.cpu, memory=d.memory, arch=d.arch, os_family=d.os_family, command=command,
        environment=environment, ephemeral_gib=d.ephemeral_gib if d.ephemeral_gib > INCLUDED_EPHEMERAL_GIB else None, awslogs=False,
        tags=DEMO_TAG)
    return taskdef.register(session, td).arn


def _ensure_service(ecs, s: ServicePlan, td_arn: str, network: dict) -> bool:
    """Create the service unless it exists; True when this call created it."""
    found = ecs.describe_services(cluster=s.cluster, services=[s.name])["services"]
    if found and found[0]["status"] == "ACTIVE":
        return False
    strategy = [{"capacityProvider": "FARGATE", "weight": 1, "base": 0}]
    if s.spot_weight:
        strategy.append({"capacityProvider": "FARGATE_SPOT", "weight": s.spot_weight, "base": 0})
    ecs.create_service(cluster=s.cluster, serviceName=s.name, taskDefinition=td_arn, desiredCount=s.desired,
                       capacityProviderStrategy=strategy, networkConfiguration={"awsvpcConfiguration": network},
                       tags=as_aws(suite_tags(DEMO_TAG), "key"), propagateTags="SERVICE",
                       clientToken=str(uuid.uuid4()))  # a retried call creates one service
    return True


def _already_started(ecs, cluster: str) -> bool:
    return any(ecs.list_tasks(cluster=cluster, startedBy=STARTED_BY, desiredStatus=status)["taskArns"]
               for status in ("RUNNING", "STOPPED"))


@dataclass
class FleetReport:
    """What the demo fleet holds and what this call added."""

    clusters: dict[str, str]
    services: int
    tasks_started: int
    tasks_stopped: int
    images: int


def build_demo_fleet(session: boto3.Session, regions: list[str] | None = None,
                     image: str | None = None, settle_seconds: float = 0) -> FleetReport:
    """Create (once) the demo fleet in ``regions`` (the session's region when None; a second region gets the
    "demo-analytics" cluster) through ``helpers.prereqs``, ``helpers.taskdef`` and ``helpers.tasks``.

    ``image``: what every task runs; by default the sample app of notebook 01, pushed to each region's ECR
    when missing, so the tasks can really run where the embedded backend has a Docker engine.
    ``settle_seconds``: wait that long after starting tasks, so that short one-off tasks have finished.
    """
    from helpers import prereqs, sample_image, tasks

    regions = list(regions or [session.region_name])
    services, batches, where = plan(regions)
    started = stopped = 0
    sessions = {r: session.in_region(r) for r in set(where.values())}
    with progress.bar(len(where) + len(services) + len(batches) + 1, desc="demo fleet") as bar:
        images = {r: image or sample_image.ensure_pushed(s, echo=lambda _: None) for r, s in sessions.items()}
        networks = {r: prereqs.network(s) for r, s in sessions.items()}
        fresh = {}
        for cluster, region in where.items():
            prereqs.ensure_cluster(sessions[region], cluster, tags=DEMO_TAG)
            fresh[cluster] = not _already_started(sessions[region].client("ecs"), cluster)
            bar.update()
        for s in services:
            region = where[s.cluster]
            ecs = sessions[region].client("ecs")
            td = _register(sessions[region], s.definition, images[region])
            started += s.desired if _ensure_service(ecs, s, td, networks[region]) else 0  # ECS starts them
            bar.update()
        for b in batches:
            region = where[b.cluster]
            td = _register(sessions[region], b.definition, images[region], b.run_seconds)
            if fresh[b.cluster]:
                arns = []
                for n in (min(10, b.count - i) for i in range(0, b.count, 10)):
                    arns += tasks.run_task(sessions[region], b.cluster, td, count=n, network=networks[region],
                                           capacity="FARGATE_SPOT" if b.spot else "FARGATE", started_by=STARTED_BY,
                                           tags=DEMO_TAG)
                started += len(arns)
                tasks.stop_tasks(sessions[region], b.cluster, arns[: b.stop], reason="demo fleet: stopped early")
                stopped += len(arns[: b.stop])
            bar.update()
        pushed = push_demo_images(session, regions[0])
        bar.update()
    if started and settle_seconds > 0:
        time.sleep(settle_seconds)
    return FleetReport(clusters=where, services=len(services), tasks_started=started, tasks_stopped=stopped,
                       images=pushed)


# --- ECR: images sharing a base layer --------------------------------------------------------------------------------

#: repository -> [(tag, bytes of the image's own layer)]; every image also holds the shared base layer.
DEMO_REPOSITORIES = {
    "demo/frontend": [("v1", 1_400_000), ("v2", 1_600_000)],
    "demo/api": [("v1", 700_000)],
    "demo/etl": [("v1", 4_000_000)],
}
BASE_LAYER_BYTES = 2_000_000


def _layer_tar(name: str, size: int) -> bytes:
    """A tar with one file of ``size`` random bytes, the same for the same name (so digests repeat)."""
    data = random.Random(name).randbytes(size)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(f"demo/{name.replace('/', '_').replace(':', '_')}.bin")
        info.size, info.mtime, info.mode = size, 0, 0o644
        tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def demo_image_layout(into: Path, repository: str, tag: str, app_bytes: int) -> Path:
    """An OCI image layout directory: the shared base layer plus the image's own layer (uncompressed tars)."""
    from helpers.images import OCI_CONFIG, OCI_MANIFEST, sha256_digest

    blobs = into / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)

    def put(data: bytes) -> str:
        digest = sha256_digest(data)
        (blobs / digest.split(":", 1)[1]).write_bytes(data)
        return digest

    layers = [_layer_tar("demo base layer", BASE_LAYER_BYTES), _layer_tar(f"{repository}:{tag}", app_bytes)]
    descriptors = [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": put(t), "size": len(t)}
                   for t in layers]
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Cmd": ["sh", "-c", "echo demo fleet"], "Labels": {"demo": repository}},
                         "rootfs": {"type": "layers", "diff_ids": [d["digest"] for d in descriptors]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": OCI_CONFIG, "digest": put(config), "size": len(config)},
                           "layers": descriptors}).encode()
    index = {"schemaVersion": 2, "manifests": [{"mediaType": OCI_MANIFEST, "digest": put(manifest),
                                                "size": len(manifest)}]}
    (into / "index.json").write_text(json.dumps(index))
    (into / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    return into


def push_demo_images(session: boto3.Session, region: str) -> int:
    """Create the demo repositories and push their images through ``helpers.ecr`` (idempotent: a tag already
    there is not pushed again); returns the images added."""
    from helpers import ecr as lab_ecr

    regional = session.in_region(region)
    client = regional.client("ecr")
    added = 0
    for repository, versions in DEMO_REPOSITORIES.items():
        lab_ecr.ensure_repository(regional, repository, tags=DEMO_TAG)
        for tag, size in versions:
            found = [i for page in client.get_paginator("list_images").paginate(
                repositoryName=repository, filter={"tagStatus": "TAGGED"}) for i in page["imageIds"]]
            if any(i.get("imageTag") == tag for i in found):
                continue
            with tempfile.TemporaryDirectory(prefix="fargate-lab-demo-") as tmp:
                layout = demo_image_layout(Path(tmp), repository, tag, size)
                lab_ecr.push_image(regional, layout, repository, tag, progress=False)
            added += 1
    return added
