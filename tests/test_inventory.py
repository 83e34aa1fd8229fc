"""Inventory against the embedded backend: columns and dtypes, and exactly the optimal number of API calls."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from helpers import cost, fleet, inventory, prereqs
from helpers.apicalls import count_calls
from helpers.inventory import SCHEMAS

SIZES = {"inv-big": 130, "inv-mid": 40, "inv-small": 5}


def _network(session) -> dict:
    return {"awsvpcConfiguration": prereqs.network(session)}


def _definition(ecs, family: str, cpu: str, memory: str, arch: str = "X86_64") -> str:
    return ecs.register_task_definition(
        family=family, requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu=cpu, memory=memory,
        runtimePlatform={"cpuArchitecture": arch, "operatingSystemFamily": "LINUX"},
        containerDefinitions=[{"name": "app", "image": "busybox", "memory": int(memory),
                               # a simulated one-off task runs this long: all are still there when counted
                               "environment": [{"name": "FARGATE_LAB_SIMULATED_SECONDS", "value": "3600"}]}],
    )["taskDefinition"]["taskDefinitionArn"]


@pytest.fixture
def populated(session):
    """Three clusters of 130, 40 and 5 tasks (some stopped), 12 services in one, 4 task definitions."""
    ecs = session.client("ecs")
    network = _network(session)
    small = _definition(ecs, "inv-small", "256", "512")
    arm = _definition(ecs, "inv-arm", "1024", "2048", "ARM64")
    small_v2 = _definition(ecs, "inv-small", "512", "1024")
    unused = _definition(ecs, "inv-unused", "256", "512")
    for name, n in SIZES.items():
        ecs.create_cluster(clusterName=name)
        for start in range(0, n, 10):
            td = arm if start % 20 else small
            ran = ecs.run_task(cluster=name, taskDefinition=td, count=min(10, n - start), launchType="FARGATE",
                               networkConfiguration=network)
            assert not ran["failures"] and len(ran["tasks"]) == min(10, n - start), ran["failures"]
        first = ecs.list_tasks(cluster=name, desiredStatus="RUNNING")["taskArns"][0]
        ecs.stop_task(cluster=name, task=first, reason="test")
    for i in range(12):  # desiredCount 0: the embedded backend runs a service's tasks, as ECS does; SIZES are one-off
        ecs.create_service(cluster="inv-big", serviceName=f"svc-{i:02d}", taskDefinition=small_v2 if i else small,
                           desiredCount=0, launchType="FARGATE", networkConfiguration=network)
    return {"definitions_used": {small, arm, small_v2}, "unused": unused}


def _list_pages(ecs, operation: str, key: str, **kwargs) -> int:
    """How many pages of 100 a list call needs on this backend (outside the counted block)."""
    pages, token = 0, None
    while True:
        answer = getattr(ecs, operation)(maxResults=100, **({"nextToken": token} if token else {}), **kwargs)
        pages += 1
        token = answer.get("nextToken")
        if not token:
            return pages


def test_snapshot_makes_exactly_the_optimal_calls(session, populated):
    ecs = session.client("ecs")
    list_tasks = sum(_list_pages(ecs, "list_tasks", "taskArns", cluster=c, desiredStatus=s)
                     for c in SIZES for s in ("RUNNING", "STOPPED"))
    expected = {
        "ecs.ListClusters": _list_pages(ecs, "list_clusters", "clusterArns"),
        "ecs.DescribeClusters": 1,
        "ecs.ListServices": sum(_list_pages(ecs, "list_services", "serviceArns", cluster=c) for c in SIZES),
        "ecs.DescribeServices": math.ceil(12 / 10),
        "ecs.ListTasks": list_tasks,
        "ecs.DescribeTasks": sum(math.ceil(n / 100) for n in SIZES.values()),  # 2 + 1 + 1
        "ecs.DescribeTaskDefinition": len(populated["definitions_used"]),  # each once, the unused one never
    }
    with count_calls(session) as calls:
        inv = inventory.snapshot(session)
    assert dict(calls) == expected
    assert len(inv.tasks) == sum(SIZES.values())
    assert inv.tasks.groupby("cluster", observed=True).size().to_dict() == SIZES
    assert len(inv.services) == 12
    assert set(inv.task_definitions["task_definition_arn"]) == populated["definitions_used"]


def test_tasks_alone_describes_each_definition_once(session, populated):
    with count_calls(session) as calls:
        tasks = inventory.tasks(session)
    assert calls["ecs.DescribeTaskDefinition"] == 2  # the two definitions tasks run (services are not asked)
    assert calls["ecs.DescribeTasks"] == 4
    assert set(tasks["arch"].astype(str)) == {"X86_64", "ARM64"}
    arm = tasks[tasks["arch"] == "ARM64"]
    assert (arm["cpu"] == 1024).all() and (arm["memory"] == 2048).all()


@pytest.mark.parametrize("kind", ["clusters", "services", "tasks", "task_definitions", "repositories", "images",
                                  "layers"])
def test_every_frame_has_its_schema_even_when_empty(session, kind):
    frame = getattr(inventory, kind)(session)
    assert frame.empty
    assert {c: str(t) for c, t in frame.dtypes.items()} == {
        c: ("datetime64[ns, UTC]" if t == inventory.DT else t) for c, t in SCHEMAS[kind].items()}


def test_demo_fleet_two_regions_concurrently_and_idempotent(session):
    report = fleet.build_demo_fleet(session, ["us-east-1", "eu-west-1"])
    services, batches, _ = fleet.plan(["us-east-1", "eu-west-1"])
    assert report.tasks_started == sum(s.desired for s in services) + sum(b.count for b in batches) == 21
    assert report.images == 4
    again = fleet.build_demo_fleet(session, ["us-east-1", "eu-west-1"])
    assert again.tasks_started == 0 and again.images == 0
    inv = inventory.snapshot(session, regions=["us-east-1", "eu-west-1"])
    assert set(inv.tasks["region"].astype(str)) == {"us-east-1", "eu-west-1"}
    assert set(inv.tasks["cluster"].astype(str)) == {"demo-web", "demo-batch", "demo-analytics"}
    assert inv.tasks["spot"].any() and (~inv.tasks["spot"]).any()
    assert {"ARM64", "X86_64"} <= set(inv.tasks["arch"].astype(str))
    assert inv.tasks["os_family"].astype(str).str.startswith("WINDOWS").any()
    assert (inv.tasks["ephemeral_gib"] == 50).any()
    services = inv.services.set_index("service")
    assert services.loc["api", "spot_share"] == pytest.approx(0.5)  # the strategy survives CreateService
    assert isinstance(inv.tasks["created_at"].dtype, pd.DatetimeTZDtype)


def test_layers_and_ecr_storage_count_the_shared_base_once(session):
    assert fleet.push_demo_images(session, session.region_name) == 4
    assert fleet.push_demo_images(session, session.region_name) == 0  # idempotent
    images = inventory.images(session)
    layers = inventory.layers(session)
    assert len(images) == 4 and images["pushed_at"].notna().all()
    # 4 images: each a config and its own layer, plus one base layer they all share
    assert layers["layer_digest"].nunique() == 4 + 4 + 1
    shared = layers.groupby("layer_digest")["repository"].nunique()
    assert shared.max() == 3 and (shared == 3).sum() == 1
    base = layers.loc[layers["layer_digest"] == shared.idxmax(), "size_bytes"].iloc[0]
    assert base >= fleet.BASE_LAYER_BYTES  # random bytes do not compress
    storage = cost.ecr_storage(layers).set_index("repository")
    unique = layers.drop_duplicates("layer_digest")["size_bytes"].sum()
    assert storage.loc["(registry total)", "stored_bytes"] == unique
    per_repo = layers[layers["repository"] == "demo/frontend"].drop_duplicates("layer_digest")["size_bytes"].sum()
    assert storage.loc["demo/frontend", "stored_bytes"] == per_repo
    assert storage.loc["demo/frontend", "usd_per_month"] == pytest.approx(per_repo / 2**30 * 0.10)
