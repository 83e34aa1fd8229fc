"""The embedded backend's ECS events and CUR 2.0 export, end to end: history, estimate and bill agree.

Event shape: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs_task_events.html; CUR 2.0 columns:
https://docs.aws.amazon.com/cur/latest/userguide/table-dictionary-cur2-split-line-item.html.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from helpers import cost, cur, history, local
from tests.resources import network


def _run(session, family: str, cpu: str, memory: str, *, arch: str = "X86_64", spot: bool = False,
         seconds: int = 90, ephemeral: int | None = None) -> str:
    ecs = session.client("ecs")
    extra = {"ephemeralStorage": {"sizeInGiB": ephemeral}} if ephemeral else {}
    ecs.register_task_definition(
        family=family, requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu=cpu, memory=memory,
        runtimePlatform={"cpuArchitecture": arch, "operatingSystemFamily": "LINUX"},
        containerDefinitions=[{"name": "app", "image": "busybox", "essential": True, "environment": [
            {"name": "FARGATE_LAB_SIMULATED_SECONDS", "value": str(seconds)}]}], **extra)
    group = session.client("ec2").describe_security_groups()["SecurityGroups"][0]["GroupId"]
    strategy = {"capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]} if spot else {
        "launchType": "FARGATE"}
    return ecs.run_task(cluster="history", taskDefinition=family, networkConfiguration=network(session, group),
                        **strategy)["tasks"][0]["taskArn"]


@pytest.fixture
def ran(session):
    """Three tasks (x86 for 90 s, ARM on Spot for 30 min with 50 GiB of storage, a 20 s one billed a minute),
    run to their end on a manual clock, with the task history set up first."""
    history.ensure_task_history(session)
    session.client("ecs").create_cluster(clusterName="history",
                                         capacityProviders=["FARGATE", "FARGATE_SPOT"])
    local.set_clock("manual")
    arns = [_run(session, "h-x86", "256", "512"),
            _run(session, "h-arm", "1024", "2048", arch="ARM64", spot=True, seconds=1800, ephemeral=50),
            _run(session, "h-short", "512", "1024", seconds=20)]
    local.advance_clock(3600)
    tasks = session.client("ecs").describe_tasks(cluster="history", tasks=arns)["tasks"]
    assert {t["lastStatus"] for t in tasks} == {"STOPPED"}
    local.set_clock("real")
    return arns


def test_task_state_changes_reach_the_rules_log_group_as_aws_sends_them(session, ran):
    kept = list(history.events(session))
    mine = [e for e in kept if e["detail"]["taskArn"] == ran[0]]
    statuses = [e["detail"]["lastStatus"] for e in sorted(mine, key=lambda e: e["detail"]["version"])]
    assert statuses[0] == "PROVISIONING" and "RUNNING" in statuses and statuses[-1] == "STOPPED"
    event = mine[-1]
    assert event["source"] == "aws.ecs" and event["detail-type"] == "ECS Task State Change"
    assert event["resources"] == [ran[0]] and event["region"] == session.region_name
    detail = event["detail"]
    described = session.client("ecs").describe_tasks(cluster="history", tasks=[ran[0]])["tasks"][0]
    assert set(described) - {"version"} <= set(detail)  # the task as DescribeTasks shows it
    assert detail["stoppedAt"].endswith("Z") and detail["cpu"] == "256"


def test_history_estimate_and_cur_split_cost_agree_within_one_percent(session, ran):
    tasks = history.task_history(session)
    assert set(tasks["task_arn"]) == set(ran) and set(tasks["last_status"]) == {"STOPPED"}
    arm = tasks.set_index("task_arn").loc[ran[1]]
    assert arm["arch"] == "ARM64" and bool(arm["spot"]) and arm["ephemeral_gib"] == 50
    estimate = cost.price_tasks(tasks).set_index("task_arn")
    local.export_cur()
    now = datetime.now(UTC)
    billed = cur.ready(session, "cost_per_task", since=now - timedelta(days=2), until=now + timedelta(days=1))
    assert billed.attrs["engine"] == "duckdb" and cur.LOCAL_EXPORT in billed.attrs["source"]
    billed = billed.set_index("task_arn")
    assert set(billed.index) == set(ran)
    both = estimate[["cost_usd"]].join(billed[["split_cost_usd", "unused_cost_usd", "service"]])
    assert ((both["cost_usd"] - both["split_cost_usd"]).abs() <= 0.01 * both["split_cost_usd"]).all(), both
    assert (both["unused_cost_usd"] == 0).all()  # Fargate: no shared instance, nothing unused
    # the 20 s task is billed one minute: 0.5 vCPU / 1 GB x 60 s
    assert billed.loc[ran[2], "split_cost_usd"] == pytest.approx((0.5 * 0.04048 + 0.004445) * 60 / 3600, rel=1e-3)


def test_cur_export_has_the_dictionarys_columns_and_hourly_items(session, ran):
    local.export_cur()
    data = cur.dataset(session, cur.LOCAL_EXPORT)
    names = set(data.schema.names)
    assert {"split_line_item_split_cost", "split_line_item_unused_cost", "split_line_item_split_usage",
            "split_line_item_actual_usage", "split_line_item_reserved_usage", "split_line_item_split_usage_ratio",
            "split_line_item_parent_resource_id", "split_line_item_public_on_demand_split_cost",
            "identity_time_interval", "bill_billing_period_start_date"} <= names
    assert str(data.schema.field("line_item_usage_start_date").type).startswith("timestamp")
    assert str(data.schema.field("resource_tags").type).startswith("map<string, string")
    items = data.to_table().to_pandas()
    assert set(pd.to_datetime(items["line_item_usage_start_date"]).dt.minute) == {0}  # hourly line items
    prefix = {"us-east-1": "USE1", "eu-west-1": "EU"}[session.region_name]
    types = set(items.loc[items["line_item_resource_id"] == ran[1], "line_item_usage_type"])
    assert types == {f"{prefix}-SpotUsage-Fargate-ARM-vCPU-Hours:perCPU", f"{prefix}-SpotUsage-Fargate-ARM-GB-Hours",
                     f"{prefix}-Fargate-EphemeralStorage-GB-Hours"}


def test_stopped_tasks_are_in_the_export_for_the_next_s3_reader_without_asking(session, ran):
    """No ``export_cur`` call: the first S3 request after the tasks stopped finds them in the export (written once,
    before that request is answered, not rewritten whole at every stop: benchmarks/inventory_benchmark.py)."""
    s3 = session.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="fargate-lab-cur")["Contents"]]
    assert keys and all(k.endswith(".snappy.parquet") for k in keys)
    data = cur.dataset(session, cur.LOCAL_EXPORT)
    assert set(data.to_table(columns=["line_item_resource_id"]).column(0).to_pylist()) == set(ran)
