"""Task history from ECS events kept in a log group: setup (idempotent, tagged, cleaned up) and reading back.

Event shapes: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs_task_events.html (recorded in
tests/fixtures/events/ecs_events.json).
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from helpers import cleanup, cost, history, inventory
from helpers.errors import InvalidParameter
from helpers.tags import is_suite_tagged
from tests.conftest import FIXTURES

RECORDED = json.loads((FIXTURES / "events" / "ecs_events.json").read_text())["events"]


def test_recorded_events_become_the_tasks_frame_last_state_per_task():
    frame = history.tasks_frame(RECORDED)
    assert list(frame.columns) == list(inventory.SCHEMAS["tasks"])
    assert dict(frame.dtypes.astype(str)) == {c: str(inventory.frame("tasks", []).dtypes[c]) for c in frame}
    frame = frame.set_index("task_id")
    first, second = frame.loc["0123456789abcdef0123456789abcdef"], frame.loc["fedcba9876543210fedcba9876543210"]
    assert first["last_status"] == "STOPPED" and first["service"] == "web" and first["cluster"] == "demo-web"
    assert first["stop_code"] == "ServiceSchedulerInitiated"
    assert second["arch"] == "ARM64" and bool(second["spot"]) and pd.isna(second["service"])
    assert len(frame) == 2  # the deployment event is not a task


def test_last_state_is_the_highest_version_whatever_the_order():
    shuffled = [RECORDED[2], RECORDED[0], RECORDED[1]]
    (event,) = history.last_states(shuffled)
    assert event["detail"]["lastStatus"] == "STOPPED"


def test_history_prices_like_the_inventory():
    priced = cost.price_tasks(history.tasks_frame(RECORDED), now=pd.Timestamp("2026-11-30T13:00:00Z"))
    stopped = priced.set_index("task_id").loc["0123456789abcdef0123456789abcdef"]
    # pullStartedAt 10:00:06 to stoppedAt 12:00:40: 7234 s of 0.25 vCPU / 0.5 GB on Linux/x86
    assert stopped["billed_seconds"] == 7234
    assert stopped["cost_usd"] == pytest.approx((0.25 * 0.04048 + 0.5 * 0.004445) * 7234 / 3600)


def test_ensure_is_idempotent_tagged_and_cleaned_up(session):
    first = history.ensure_task_history(session, retention_days=14)
    assert set(first.created) == {"log group", "resource policy", "rule", "target"}
    second = history.ensure_task_history(session, retention_days=14)
    assert second.created == () and second.rule_arn == first.rule_arn
    logs, events = session.client("logs"), session.client("events")
    (group,) = logs.describe_log_groups(logGroupNamePrefix=history.LOG_GROUP)["logGroups"]
    assert group["retentionInDays"] == 14
    assert is_suite_tagged(logs.list_tags_for_resource(resourceArn=first.log_group_arn)["tags"])
    assert is_suite_tagged(events.list_tags_for_resource(ResourceARN=first.rule_arn)["Tags"])
    pattern = json.loads(events.describe_rule(Name=history.RULE_NAME)["EventPattern"])
    assert pattern["source"] == ["aws.ecs"] and "ECS Task State Change" in pattern["detail-type"]
    (target,) = events.list_targets_by_rule(Rule=history.RULE_NAME)["Targets"]
    assert target["Arn"] == first.log_group_arn
    (policy,) = [p for p in logs.describe_resource_policies()["resourcePolicies"]
                 if p["policyName"] == history.POLICY_NAME]
    assert "events.amazonaws.com" in policy["policyDocument"]

    found = cleanup.inventory(session, regions=[session.region_name])
    assert {"event rule", "log policy", "log group"} <= set(found["kind"])
    result = cleanup.cleanup(session, dry_run=False, regions=[session.region_name])
    assert set(result.loc[result["kind"].isin(["event rule", "log policy", "log group"]), "action"]) == {"deleted"}
    assert events.list_rules(NamePrefix=history.RULE_NAME)["Rules"] == []
    assert logs.describe_log_groups(logGroupNamePrefix=history.LOG_GROUP)["logGroups"] == []
    assert not [p for p in logs.describe_resource_policies()["resourcePolicies"]
                if p["policyName"] == history.POLICY_NAME]


def test_a_foreign_resource_policy_is_never_touched(session):
    logs = session.client("logs")
    logs.create_log_group(logGroupName="/aws/events/not-ours")
    document = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "logs:PutLogEvents",
        "Resource": "arn:aws:logs:us-east-1:123456789012:log-group:/aws/events/not-ours:*"}]})
    logs.put_resource_policy(policyName="someone-elses", policyDocument=document)
    assert "someone-elses" not in set(cleanup.inventory(session, regions=[session.region_name])["name"])


def test_task_history_reads_the_kept_events_back(session):
    kept = history.ensure_task_history(session)
    logs = session.client("logs")
    logs.create_log_stream(logGroupName=kept.log_group, logStreamName="recorded")
    messages = [{"timestamp": int(pd.Timestamp(e["time"]).timestamp() * 1000), "message": json.dumps(e)}
                for e in RECORDED]
    logs.put_log_events(logGroupName=kept.log_group, logStreamName="recorded",
                        logEvents=sorted(messages, key=lambda m: m["timestamp"]))
    everything = history.task_history(session)
    assert len(everything) == 2 and everything.attrs["source"].endswith(history.LOG_GROUP)
    late = history.task_history(session, since="2026-11-30T11:30:00Z")
    assert list(late["last_status"]) == ["STOPPED"]  # only the events after since count
    assert history.task_history(session, since="2026-12-01", until="2026-12-02").empty  # empty, not an error


def test_bad_input_is_refused_before_anything_is_created(session):
    with pytest.raises(InvalidParameter, match="retention_days"):
        history.ensure_task_history(session, retention_days=10)
    with pytest.raises(InvalidParameter, match="log_group"):
        history.ensure_task_history(session, log_group="task-history")
    assert session.client("logs").describe_log_groups()["logGroups"] == []
    with pytest.raises(InvalidParameter, match="ensure_task_history"):
        history.task_history(session)
    with pytest.raises(InvalidParameter, match="until"):
        list(history.events(session, since="2026-12-02", until="2026-12-01"))
