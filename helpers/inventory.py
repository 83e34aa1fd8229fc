"""What exists, as DataFrames: clusters, services, tasks, task definitions, repositories, images, layers.

Each function takes the session first and returns a DataFrame whose columns are listed
in ``SCHEMAS`` with real dtypes (tz-aware UTC datetimes, categoricals, nullable
integers), even when empty. The calls are the fewest the APIs allow: paginated list
calls at their largest page size, ``describe_clusters`` 100 at a time,
``describe_services`` 10, ``describe_tasks`` 100, each task definition described once,
``batch_get_image`` 100 images at a time. With ``regions=[...]`` the regions are
queried concurrently (one thread each).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import boto3
import pandas as pd

from helpers.fargate import cpu_units, ephemeral_gib, memory_mib
from helpers.taskdef import DefinitionCache

DESCRIBE_CLUSTERS_MAX = 100
DESCRIBE_SERVICES_MAX = 10
DESCRIBE_TASKS_MAX = 100
BATCH_GET_IMAGE_MAX = 100
TASK_STATUSES = ("RUNNING", "STOPPED")
MANIFEST_TYPES = [
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
]

DT = "datetime64[ns, UTC]"
#: Every frame's columns and dtypes, in order.
SCHEMAS: dict[str, dict[str, str]] = {
    "clusters": {
        "region": "category", "cluster": "string", "cluster_arn": "string", "status": "category",
        "running_tasks": "Int64", "pending_tasks": "Int64", "active_services": "Int64",
        "capacity_providers": "string",
    },
    "services": {
        "region": "category", "cluster": "category", "service": "string", "service_arn": "string",
        "status": "category", "desired_count": "Int64", "running_count": "Int64", "pending_count": "Int64",
        "launch_type": "category", "capacity_providers": "string", "spot_share": "float64",
        "task_definition_arn": "string", "family": "category", "created_at": DT, "deployments": "Int64",
        "rollout_state": "category",
    },
    "tasks": {
        "region": "category", "cluster": "category", "task_id": "string", "task_arn": "string",
        "family": "category", "revision": "Int64", "task_definition_arn": "string", "group": "string",
        "service": "string", "launch_type": "category", "capacity_provider": "category", "spot": "bool",
        "last_status": "category", "desired_status": "category", "cpu": "Int64", "memory": "Int64",
        "ephemeral_gib": "Int64", "arch": "category", "os_family": "category", "created_at": DT,
        "pull_started_at": DT, "started_at": DT, "stopping_at": DT, "stopped_at": DT, "stop_code": "category",
        "stopped_reason": "string",
    },
    "task_definitions": {
        "region": "category", "task_definition_arn": "string", "family": "category", "revision": "Int64",
        "status": "category", "cpu": "Int64", "memory": "Int64", "arch": "category", "os_family": "category",
        "ephemeral_gib": "Int64", "compatibilities": "string", "network_mode": "category", "containers": "Int64",
        "registered_at": DT,
    },
    "repositories": {
        "region": "category", "repository": "string", "repository_arn": "string", "uri": "string",
        "created_at": DT, "tag_mutability": "category", "scan_on_push": "boolean",
    },
    "images": {
        "region": "category", "repository": "category", "image_digest": "string", "tags": "string",
        "pushed_at": DT, "size_bytes": "Int64", "media_type": "category", "last_pulled_at": DT,
    },
    "layers": {
        "region": "category", "repository": "category", "image_digest": "string", "layer_digest": "string",
        "size_bytes": "Int64", "media_type": "category",
    },
}


def frame(kind: str, rows: Iterable[dict]) -> pd.DataFrame:
    """A DataFrame with ``SCHEMAS[kind]``'s columns and dtypes (missing values as NA)."""
    schema = SCHEMAS[kind]
    data = pd.DataFrame.from_records(list(rows), columns=list(schema))
    for column, dtype in schema.items():
        if dtype == DT:
            data[column] = pd.to_datetime(data[column], utc=True).dt.as_unit("ns")
        elif dtype == "bool":
            data[column] = data[column].fillna(False).astype(bool)
        else:
            data[column] = data[column].astype(dtype)
    return data


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def _regions(session: boto3.Session, regions: Iterable[str] | str | None) -> list[str]:
    if regions is None:
        return [session.region_name or "us-east-1"]
    return [regions] if isinstance(regions, str) else list(dict.fromkeys(regions))


def _across_regions(session: boto3.Session, regions: Iterable[str] | str | None, services: tuple[str, ...],
                    work: Callable[[str, dict[str, Any]], list[dict]]) -> list[dict]:
    """Run ``work(region, clients)`` for each region, concurrently; clients are made here (not thread-safe)."""
    names = _regions(session, regions)
    clients = {r: {s: session.client(s, region_name=r) for s in services} for r in names}
    if len(names) == 1:
        return work(names[0], clients[names[0]])
    with ThreadPoolExecutor(max_workers=min(8, len(names))) as pool:
        results = list(pool.map(lambda r: work(r, clients[r]), names))
    return [row for rows in results for row in rows]


def _paginate(client: Any, operation: str, key: str, page_size: int, **kwargs: Any) -> list:
    pages = client.get_paginator(operation).paginate(PaginationConfig={"PageSize": page_size}, **kwargs)
    return [item for page in pages for item in page.get(key, [])]


def _cluster_arns(ecs: Any, clusters: Iterable[str] | None) -> list[str]:
    if clusters is not None:
        return list(clusters)
    return _paginate(ecs, "list_clusters", "clusterArns", 100)


# --- clusters ----------------------------------------------------------------------------------------------------


def _describe_clusters(ecs: Any, names: list[str]) -> list[dict]:
    found = []
    for chunk in _chunks(names, DESCRIBE_CLUSTERS_MAX):
        found += ecs.describe_clusters(clusters=chunk)["clusters"]
    return found


def clusters(session: boto3.Session, *, regions: Iterable[str] | str | None = None,
             names: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per cluster: region, cluster, cluster_arn, status, running_tasks, pending_tasks,
    active_services, capacity_providers (comma-separated)."""

    def work(region: str, c: dict) -> list[dict]:
        return [{
            "region": region, "cluster": cl["clusterName"], "cluster_arn": cl["clusterArn"], "status": cl["status"],
            "running_tasks": cl.get("runningTasksCount"), "pending_tasks": cl.get("pendingTasksCount"),
            "active_services": cl.get("activeServicesCount"),
            "capacity_providers": ",".join(cl.get("capacityProviders") or []),
        } for cl in _describe_clusters(c["ecs"], _cluster_arns(c["ecs"], names))]

    return frame("clusters", _across_regions(session, regions, ("ecs",), work))


# --- task definitions ------------------------------------------------------------------------------------------


def _definition_row(region: str, td: dict) -> dict:
    platform = td.get("runtimePlatform") or {}
    return {
        "region": region, "task_definition_arn": td["taskDefinitionArn"], "family": td.get("family"),
        "revision": td.get("revision"), "status": td.get("status"),
        "cpu": cpu_units(td.get("cpu")), "memory": memory_mib(td.get("memory")),
        "arch": platform.get("cpuArchitecture") or "X86_64",
        "os_family": platform.get("operatingSystemFamily") or "LINUX",
        "ephemeral_gib": ephemeral_gib(td),
        "compatibilities": ",".join(td.get("requiresCompatibilities") or []),
        "network_mode": td.get("networkMode"), "containers": len(td.get("containerDefinitions") or []),
        "registered_at": td.get("registeredAt"),
    }


def task_definitions(session: boto3.Session, arns: Iterable[str] | None = None, *,
                     regions: Iterable[str] | str | None = None, status: str = "ACTIVE") -> pd.DataFrame:
    """One row per task definition revision (``arns``, else every ``status`` one): family, revision, cpu (units),
    memory (MiB), arch (X86_64/ARM64), os_family, ephemeral_gib, compatibilities, network_mode, containers."""

    def work(region: str, c: dict) -> list[dict]:
        wanted = list(arns) if arns is not None else _paginate(
            c["ecs"], "list_task_definitions", "taskDefinitionArns", 100, status=status)
        definitions = DefinitionCache(c["ecs"])
        return [_definition_row(region, definitions.get(arn)) for arn in dict.fromkeys(wanted)]

    return frame("task_definitions", _across_regions(session, regions, ("ecs",), work))


# --- services -------------------------------------------------------------------------------------------------------


def _spot_share(strategy: list[dict]) -> float:
    weights = {s["capacityProvider"]: s.get("weight", 0) for s in strategy}
    total = sum(weights.values())
    if total == 0:  # only a base: the first provider takes everything
        return 1.0 if strategy and strategy[0]["capacityProvider"] == "FARGATE_SPOT" else 0.0
    return weights.get("FARGATE_SPOT", 0) / total


def _service_rows(region: str, ecs: Any, cluster_arns: list[str]) -> list[dict]:
    rows = []
    for cluster_arn in cluster_arns:
        try:
            arns = _paginate(ecs, "list_services", "serviceArns", 100, cluster=cluster_arn)
        except ecs.exceptions.ClusterNotFoundException:
            continue  # a cluster asked for by name that this region does not have
        for chunk in _chunks(arns, DESCRIBE_SERVICES_MAX):
            for s in ecs.describe_services(cluster=cluster_arn, services=chunk)["services"]:
                strategy = s.get("capacityProviderStrategy") or []
                primary = next((d for d in s.get("deployments") or [] if d.get("status") == "PRIMARY"), {})
                rows.append({
                    "region": region, "cluster": _name(s.get("clusterArn") or cluster_arn),
                    "service": s["serviceName"], "service_arn": s["serviceArn"], "status": s.get("status"),
                    "desired_count": s.get("desiredCount"), "running_count": s.get("runningCount"),
                    "pending_count": s.get("pendingCount"), "launch_type": s.get("launchType") or None,
                    "capacity_providers": ",".join(p["capacityProvider"] for p in strategy),
                    "spot_share": _spot_share(strategy), "task_definition_arn": s.get("taskDefinition"),
                    "family": _name(s.get("taskDefinition") or "").split(":")[0] or None,
                    "created_at": s.get("createdAt"), "deployments": len(s.get("deployments") or []),
                    "rollout_state": primary.get("rolloutState"),
                })
    return rows


def services(session: boto3.Session, *, regions: Iterable[str] | str | None = None,
             clusters: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per service: cluster, service, status, desired/running/pending counts, launch_type,
    capacity_providers, spot_share (the FARGATE_SPOT weight's share), task_definition_arn, family,
    created_at, deployments, rollout_state."""

    def work(region: str, c: dict) -> list[dict]:
        return _service_rows(region, c["ecs"], _cluster_arns(c["ecs"], clusters))

    return frame("services", _across_regions(session, regions, ("ecs",), work))


# --- tasks ------------------------------------------------------------------------------------------------------------


def _task_row(region: str, t: dict, td: dict) -> dict:
    group = t.get("group") or ""
    platform = td.get("runtimePlatform") or {}
    provider = t.get("capacityProviderName")
    arn = t["taskDefinitionArn"]
    return {
        "region": region, "cluster": _name(t["clusterArn"]), "task_id": _name(t["taskArn"]), "task_arn": t["taskArn"],
        "family": td.get("family") or _name(arn).split(":")[0],
        "revision": td.get("revision") or int(arn.rsplit(":", 1)[-1]), "task_definition_arn": arn, "group": group,
        "service": group.split(":", 1)[1] if group.startswith("service:") else None,
        "launch_type": t.get("launchType") or None, "capacity_provider": provider,
        "spot": provider == "FARGATE_SPOT", "last_status": t.get("lastStatus"),
        "desired_status": t.get("desiredStatus"),
        "cpu": cpu_units(t.get("cpu") or td.get("cpu")), "memory": memory_mib(t.get("memory") or td.get("memory")),
        "ephemeral_gib": ephemeral_gib(t if t.get("ephemeralStorage") else td),
        "arch": platform.get("cpuArchitecture") or "X86_64",
        "os_family": platform.get("operatingSystemFamily") or "LINUX",
        "created_at": t.get("createdAt"), "pull_started_at": t.get("pullStartedAt"), "started_at": t.get("startedAt"),
        "stopping_at": t.get("stoppingAt"), "stopped_at": t.get("stoppedAt"), "stop_code": t.get("stopCode"),
        "stopped_reason": t.get("stoppedReason") or None,
    }


def _task_rows(region: str, ecs: Any, cluster_arns: list[str], statuses: tuple[str, ...],
               definitions: DefinitionCache) -> list[dict]:
    rows = []
    for cluster_arn in cluster_arns:
        arns: list[str] = []
        try:
            for status in statuses:
                arns += _paginate(ecs, "list_tasks", "taskArns", 100, cluster=cluster_arn, desiredStatus=status)
        except ecs.exceptions.ClusterNotFoundException:
            continue  # a cluster asked for by name that this region does not have
        for chunk in _chunks(list(dict.fromkeys(arns)), DESCRIBE_TASKS_MAX):
            for t in ecs.describe_tasks(cluster=cluster_arn, tasks=chunk)["tasks"]:
                rows.append(_task_row(region, t, definitions.get(t["taskDefinitionArn"])))
    return rows


def tasks(session: boto3.Session, *, regions: Iterable[str] | str | None = None,
          clusters: Iterable[str] | None = None, statuses: tuple[str, ...] = TASK_STATUSES) -> pd.DataFrame:
    """One row per task, running and recently stopped (ECS keeps stopped tasks about an hour).

    Columns: region, cluster, task_id, task_arn, family, revision, task_definition_arn, group, service (from a
    "service:NAME" group), launch_type, capacity_provider, spot, last_status, desired_status, cpu (units),
    memory (MiB), ephemeral_gib, arch and os_family (from the task definition), created_at, pull_started_at,
    started_at, stopping_at, stopped_at (UTC), stop_code, stopped_reason. A missing size or timestamp stays NA.
    """

    def work(region: str, c: dict) -> list[dict]:
        return _task_rows(region, c["ecs"], _cluster_arns(c["ecs"], clusters), tuple(statuses),
                          DefinitionCache(c["ecs"]))

    return frame("tasks", _across_regions(session, regions, ("ecs",), work))


# --- ECR ---------------------------------------------------------------------------------------------------------------


def repositories(session: boto3.Session, *, regions: Iterable[str] | str | None = None) -> pd.DataFrame:
    """One row per ECR repository: repository, repository_arn, uri, created_at, tag_mutability, scan_on_push."""

    def work(region: str, c: dict) -> list[dict]:
        return [{
            "region": region, "repository": r["repositoryName"], "repository_arn": r["repositoryArn"],
            "uri": r.get("repositoryUri"), "created_at": r.get("createdAt"),
            "tag_mutability": r.get("imageTagMutability"),
            "scan_on_push": (r.get("imageScanningConfiguration") or {}).get("scanOnPush"),
        } for r in _paginate(c["ecr"], "describe_repositories", "repositories", 1000)]

    return frame("repositories", _across_regions(session, regions, ("ecr",), work))


def _repository_names(ecr: Any, names: Iterable[str] | None) -> list[str]:
    if names is not None:
        return list(names)
    return [r["repositoryName"] for r in _paginate(ecr, "describe_repositories", "repositories", 1000)]


def _image_rows(region: str, ecr: Any, repository: str) -> list[dict]:
    return [{
        "region": region, "repository": repository, "image_digest": d["imageDigest"],
        "tags": ",".join(d.get("imageTags") or []), "pushed_at": d.get("imagePushedAt"),
        "size_bytes": d.get("imageSizeInBytes"), "media_type": d.get("imageManifestMediaType"),
        "last_pulled_at": d.get("lastRecordedPullTime"),
    } for d in _paginate(ecr, "describe_images", "imageDetails", 1000, repositoryName=repository)]


def images(session: boto3.Session, *, regions: Iterable[str] | str | None = None,
           repositories: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per image: repository, image_digest, tags (comma-separated), pushed_at, size_bytes (ECR's
    compressed ``imageSizeInBytes``, which counts shared layers again), media_type, last_pulled_at."""

    def work(region: str, c: dict) -> list[dict]:
        return [row for name in _repository_names(c["ecr"], repositories) for row in _image_rows(region, c["ecr"], name)]

    return frame("images", _across_regions(session, regions, ("ecr",), work))


def _layer_rows(region: str, ecr: Any, repository: str, digests: list[str]) -> list[dict]:
    import json

    rows = []
    for chunk in _chunks(digests, BATCH_GET_IMAGE_MAX):
        answer = ecr.batch_get_image(repositoryName=repository, imageIds=[{"imageDigest": d} for d in chunk],
                                     acceptedMediaTypes=MANIFEST_TYPES)
        for image in answer.get("images", []):
            manifest = json.loads(image.get("imageManifest") or "{}")
            parts = list(manifest.get("layers") or [])
            if manifest.get("config"):
                parts.append(manifest["config"])  # the config blob is stored (and billed) too
            seen = set()
            for layer in parts:
                if layer.get("digest") in seen:
                    continue
                seen.add(layer.get("digest"))
                rows.append({"region": region, "repository": repository,
                             "image_digest": image["imageId"]["imageDigest"], "layer_digest": layer.get("digest"),
                             "size_bytes": layer.get("size"), "media_type": layer.get("mediaType")})
    return rows


def layers(session: boto3.Session, *, regions: Iterable[str] | str | None = None,
           repositories: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per (repository, image, blob): layer_digest, size_bytes, media_type, read from each image's
    manifest (``batch_get_image``, 100 images a call). Feed it to ``helpers.cost.ecr_storage``."""

    def work(region: str, c: dict) -> list[dict]:
        rows = []
        for name in _repository_names(c["ecr"], repositories):
            digests = list(dict.fromkeys(
                d["imageDigest"] for d in _paginate(c["ecr"], "describe_images", "imageDetails", 1000,
                                                    repositoryName=name)))
            rows += _layer_rows(region, c["ecr"], name, digests)
        return rows

    return frame("layers", _across_regions(session, regions, ("ecr",), work))


# --- everything at once --------------------------------------------------------------------------------------------


@dataclass
class Inventory:
    """Every frame of one region set, with each task definition described once across all of them."""

    clusters: pd.DataFrame
    services: pd.DataFrame
    tasks: pd.DataFrame
    task_definitions: pd.DataFrame


def snapshot(session: boto3.Session, *, regions: Iterable[str] | str | None = None,
             clusters: Iterable[str] | None = None) -> Inventory:
    """Clusters, services, tasks and the task definitions they use, in one pass per region."""

    def work(region: str, c: dict) -> list[dict]:
        ecs = c["ecs"]
        described = _describe_clusters(ecs, _cluster_arns(ecs, clusters))
        arns = [cl["clusterArn"] for cl in described]  # only the clusters this region has
        definitions = DefinitionCache(ecs)
        cluster_rows = [{
            "region": region, "cluster": cl["clusterName"], "cluster_arn": cl["clusterArn"], "status": cl["status"],
            "running_tasks": cl.get("runningTasksCount"), "pending_tasks": cl.get("pendingTasksCount"),
            "active_services": cl.get("activeServicesCount"),
            "capacity_providers": ",".join(cl.get("capacityProviders") or []),
        } for cl in described]
        service_rows = _service_rows(region, ecs, arns)
        task_rows = _task_rows(region, ecs, arns, TASK_STATUSES, definitions)
        for row in service_rows:
            if row["task_definition_arn"]:
                definitions.get(row["task_definition_arn"])
        td_rows = [_definition_row(region, td) for td in definitions.seen.values()]
        return [{"clusters": cluster_rows, "services": service_rows, "tasks": task_rows, "task_definitions": td_rows}]

    parts = _across_regions(session, regions, ("ecs",), work)
    return Inventory(**{kind: frame(kind, [row for part in parts for row in part[kind]])
                        for kind in ("clusters", "services", "tasks", "task_definitions")})
