"""A demo fleet for notebook 04 on the embedded backend: several clusters, services and tasks to analyze.

Clusters "demo-web" (services: x86 on-demand, ARM half on Spot, Windows), "demo-batch"
(one-off tasks of varied sizes, some on Spot, some with 50 GiB of ephemeral storage,
several already stopped) and, when a second region is given, "demo-analytics" there.
Three ECR repositories share a base layer, so ECR storage counts it once.

Everything goes through the ECS and ECR APIs of the session given, carries the suite's
tags, and is idempotent: a second call adds nothing. On the embedded backend a
service's tasks are started with RunTask in the service's group ("service:NAME")
because the backend does not run services' tasks itself yet.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

import boto3
from tqdm.auto import tqdm

from helpers.tags import as_aws, suite_tags

STARTED_BY = "fargate-lab-demo-fleet"
CAPACITY_PROVIDERS = ["FARGATE", "FARGATE_SPOT"]


@dataclass(frozen=True)
class Definition:
    family: str
    cpu: int
    memory: int
    arch: str = "X86_64"
    os_family: str = "LINUX"
    ephemeral_gib: int = 20


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
        BatchPlan("demo-batch", BATCH_DEFS["etl"], count=3, stop=1),
        BatchPlan("demo-batch", BATCH_DEFS["thumbnails"], count=6, spot=True, stop=2),
        BatchPlan("demo-batch", BATCH_DEFS["nightly"], count=2, spot=True),
    ]
    where = {"demo-web": regions[0], "demo-batch": regions[0]}
    if len(regions) > 1:
        batches.append(BatchPlan("demo-analytics", ANALYTICS_DEF, count=4, stop=1))
        where["demo-analytics"] = regions[1]
    return services, batches, where


# --- networking, clusters, task definitions -------------------------------------------------------------------


def _network(session: boto3.Session, region: str) -> dict:
    """awsvpc configuration on the default VPC's subnets and default security group."""
    ec2 = session.client("ec2", region_name=region)
    subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    vpc = subnets[0]["VpcId"]
    groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                   {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]
    return {"awsvpcConfiguration": {"subnets": [s["SubnetId"] for s in subnets[:2]],
                                    "securityGroups": [groups[0]["GroupId"]], "assignPublicIp": "ENABLED"}}


def _ensure_cluster(ecs, name: str) -> None:
    found = ecs.describe_clusters(clusters=[name])["clusters"]
    if found and found[0]["status"] == "ACTIVE":
        return
    ecs.create_cluster(clusterName=name, capacityProviders=CAPACITY_PROVIDERS,
                       defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}],
                       tags=as_aws(suite_tags({"fargate-lab:demo": "fleet"}), "key"))


def _definition_body(d: Definition, image: str) -> dict:
    return {
        "family": d.family, "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc",
        "cpu": str(d.cpu), "memory": str(d.memory),
        "runtimePlatform": {"cpuArchitecture": d.arch, "operatingSystemFamily": d.os_family},
        "ephemeralStorage": {"sizeInGiB": d.ephemeral_gib},
        "containerDefinitions": [{"name": "app", "image": image, "essential": True, "memory": d.memory,
                                  "command": ["sh", "-c", "echo demo fleet"]}],
    }


def _ensure_definition(ecs, d: Definition, image: str) -> str:
    """The latest ACTIVE revision when it has this size; else a new revision (no revision per call)."""
    body = _definition_body(d, image)
    try:
        current = ecs.describe_task_definition(taskDefinition=d.family)["taskDefinition"]
        same = (current.get("cpu"), current.get("memory"), current.get("runtimePlatform")) == (
            body["cpu"], body["memory"], body["runtimePlatform"])
        if same and current.get("status") == "ACTIVE":
            return current["taskDefinitionArn"]
    except ecs.exceptions.ClientException:
        pass
    answer = ecs.register_task_definition(**body, tags=as_aws(suite_tags({"fargate-lab:demo": "fleet"}), "key"))
    return answer["taskDefinition"]["taskDefinitionArn"]


# --- services and tasks ----------------------------------------------------------------------------------------


def _strategy(spot_weight: int) -> list[dict]:
    strategy = [{"capacityProvider": "FARGATE", "weight": 1, "base": 0}]
    if spot_weight:
        strategy.append({"capacityProvider": "FARGATE_SPOT", "weight": spot_weight, "base": 0})
    return strategy


def _ensure_service(ecs, s: ServicePlan, td_arn: str, network: dict) -> None:
    found = ecs.describe_services(cluster=s.cluster, services=[s.name])["services"]
    if found and found[0]["status"] == "ACTIVE":
        return
    ecs.create_service(cluster=s.cluster, serviceName=s.name, taskDefinition=td_arn, desiredCount=s.desired,
                       capacityProviderStrategy=_strategy(s.spot_weight), networkConfiguration=network,
                       tags=as_aws(suite_tags({"fargate-lab:demo": "fleet"}), "key"), propagateTags="SERVICE")


def _already_started(ecs, cluster: str) -> bool:
    return bool(ecs.list_tasks(cluster=cluster, startedBy=STARTED_BY, desiredStatus="RUNNING")["taskArns"]
                or ecs.list_tasks(cluster=cluster, startedBy=STARTED_BY, desiredStatus="STOPPED")["taskArns"])


def _run(ecs, cluster: str, td_arn: str, count: int, network: dict, *, spot: bool, group: str | None) -> list[str]:
    kwargs = {"capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]} if spot else {
        "launchType": "FARGATE"}
    if group:
        kwargs["group"] = group
    arns: list[str] = []
    while len(arns) < count:
        answer = ecs.run_task(cluster=cluster, taskDefinition=td_arn, count=min(10, count - len(arns)),
                              networkConfiguration=network, startedBy=STARTED_BY,
                              tags=as_aws(suite_tags({"fargate-lab:demo": "fleet"}), "key"), **kwargs)
        arns += [t["taskArn"] for t in answer["tasks"]]
    return arns


@dataclass
class FleetReport:
    """What the demo fleet holds and what this call added."""

    clusters: dict[str, str]
    services: int
    tasks_started: int
    tasks_stopped: int
    images: int


def build_demo_fleet(session: boto3.Session, regions: list[str] | None = None,
                     image: str = "fargate-lab/demo:latest", settle_seconds: float = 0) -> FleetReport:
    """Create (once) the demo fleet in ``regions`` (the session's region when None; a second region gets the
    "demo-analytics" cluster). Returns what exists and what was added.

    ``settle_seconds``: wait that long after starting tasks, so that short one-off tasks have finished.
    """
    regions = list(regions or [session.region_name])
    services, batches, where = plan(regions)
    started = stopped = 0
    steps = len(where) + len(services) + len(batches) + 1
    with tqdm(total=steps, desc="demo fleet", leave=False) as bar:
        clients = {r: session.client("ecs", region_name=r) for r in set(where.values())}
        networks = {r: _network(session, r) for r in clients}
        fresh = {}
        for cluster, region in where.items():
            _ensure_cluster(clients[region], cluster)
            fresh[cluster] = not _already_started(clients[region], cluster)
            bar.update()
        for s in services:
            ecs, net = clients[where[s.cluster]], networks[where[s.cluster]]
            td = _ensure_definition(ecs, s.definition, image)
            _ensure_service(ecs, s, td, net)
            if fresh[s.cluster]:
                # The embedded backend does not start services' tasks: start them in the service's group.
                started += len(_run(ecs, s.cluster, td, s.desired, net, spot=s.spot_weight > 0,
                                    group=f"service:{s.name}"))
            bar.update()
        for b in batches:
            ecs, net = clients[where[b.cluster]], networks[where[b.cluster]]
            td = _ensure_definition(ecs, b.definition, image)
            if fresh[b.cluster]:
                arns = _run(ecs, b.cluster, td, b.count, net, spot=b.spot, group=None)
                started += len(arns)
                for arn in arns[: b.stop]:
                    ecs.stop_task(cluster=b.cluster, task=arn, reason="demo fleet: stopped early")
                    stopped += 1
            bar.update()
        pushed = push_demo_images(session, regions[0])
        bar.update()
    if started and settle_seconds > 0:
        time.sleep(settle_seconds)
    return FleetReport(clusters=where, services=len(services), tasks_started=started, tasks_stopped=stopped,
                       images=pushed)


# --- ECR: images sharing a base layer --------------------------------------------------------------------------------

DEMO_REPOSITORIES = {
    "demo/frontend": [("v1", 41_000_000), ("v2", 43_500_000)],
    "demo/api": [("v1", 18_200_000)],
    "demo/etl": [("v1", 156_000_000)],
}
BASE_LAYER_BYTES = 29_100_000


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def demo_manifest(repository: str, tag: str, app_bytes: int) -> str:
    """An image manifest: a base layer every demo image shares, plus the image's own layer and config."""
    return json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1_480,
                   "digest": _digest(f"config {repository}:{tag}")},
        "layers": [
            {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": BASE_LAYER_BYTES,
             "digest": _digest("demo base layer")},
            {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": app_bytes,
             "digest": _digest(f"app layer {repository}:{tag}")},
        ],
    })


def push_demo_images(session: boto3.Session, region: str) -> int:
    """Create the demo repositories and put their image manifests (idempotent); returns images added."""
    ecr = session.client("ecr", region_name=region)
    added = 0
    for repository, versions in DEMO_REPOSITORIES.items():
        try:
            ecr.create_repository(repositoryName=repository, tags=as_aws(suite_tags({"fargate-lab:demo": "fleet"})))
        except ecr.exceptions.RepositoryAlreadyExistsException:
            pass
        for tag, size in versions:
            try:
                ecr.put_image(repositoryName=repository, imageTag=tag,
                              imageManifest=demo_manifest(repository, tag, size),
                              imageManifestMediaType="application/vnd.docker.distribution.manifest.v2+json")
                added += 1
            except ecr.exceptions.ImageAlreadyExistsException:
                pass
    return added
