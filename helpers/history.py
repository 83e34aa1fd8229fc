"""Task history beyond ECS's hour: ECS task state change events kept in a CloudWatch Logs group.

ECS forgets a stopped task about an hour after it stops, so an inventory sees only the
last hour. ECS also sends every task state change to EventBridge (source ``aws.ecs``,
detail-type ``ECS Task State Change``, the task as DescribeTasks shows it). A rule that
sends those events to a log group keeps them for as long as the group's retention says:
``ensure_task_history`` sets that up (idempotently, tagged, with the resource policy
EventBridge needs to write to the group) and ``task_history`` reads the events back into
the frame of ``helpers.inventory.tasks``, last state per task, so ``helpers.cost.price_tasks``
prices weeks of tasks.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pandas as pd
from botocore.exceptions import ClientError

from helpers import inventory
from helpers.errors import InvalidParameter
from helpers.prereqs import check_retention_days
from helpers.tags import as_aws, suite_tags
from helpers.taskdef import DefinitionCache

RULE_NAME = "fargate-lab-task-history"
LOG_GROUP = "/aws/events/fargate-lab/task-history"
POLICY_NAME = "fargate-lab-task-history-delivery"
TARGET_ID = "task-history-log-group"
DETAIL_TYPES = ("ECS Task State Change", "ECS Deployment State Change", "ECS Service Action")


@dataclass(frozen=True)
class TaskHistory:
    """Where the history is kept: the rule, the log group and what each setup call did."""

    rule_arn: str
    log_group: str
    log_group_arn: str
    retention_days: int
    created: tuple[str, ...]  # what this call created ("rule", "log group", "resource policy", "target")

    def __str__(self) -> str:
        made = ", ".join(self.created) or "nothing (all there already)"
        return (f"task history: rule {self.rule_arn} -> log group {self.log_group} (kept {self.retention_days} "
                f"days); created: {made}")


def _event_pattern(clusters: Iterable[str] | None) -> dict:
    pattern: dict[str, Any] = {"source": ["aws.ecs"], "detail-type": list(DETAIL_TYPES)}
    if clusters:
        pattern["detail"] = {"clusterArn": [{"wildcard": f"*:cluster/{c}"} for c in clusters]}
    return pattern


def _check(retention_days: int, log_group: str) -> None:
    check_retention_days(retention_days)
    if not log_group.startswith("/aws/events/"):
        raise InvalidParameter("log_group", log_group, "a name under /aws/events/ (EventBridge's log groups), "
                               f"e.g. {LOG_GROUP}")


def _delivery_policy(log_group_arn: str) -> str:
    """The log group resource policy that lets EventBridge write the events (AWS needs it for a Logs target)."""
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "EventBridgeToTaskHistory", "Effect": "Allow",
        "Principal": {"Service": ["events.amazonaws.com", "delivery.logs.amazonaws.com"]},
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": f"{log_group_arn}:*",
    }]})


def ensure_task_history(session: boto3.Session, *, retention_days: int = 30, clusters: Iterable[str] | None = None,
                        log_group: str = LOG_GROUP, rule_name: str = RULE_NAME) -> TaskHistory:
    """Set up, or find, the rule and log group that keep ECS's events (tagged with the suite's tags).

    Idempotent: a second call creates nothing and leaves the events already kept in place. ``clusters``
    (names) narrows the rule to those clusters' events; None keeps every cluster's.
    """
    _check(retention_days, log_group)
    logs, events = session.client("logs"), session.client("events")
    tags = suite_tags()
    created = []
    try:
        logs.create_log_group(logGroupName=log_group, tags=as_aws(tags, "dict"))
        created.append("log group")
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    logs.put_retention_policy(logGroupName=log_group, retentionInDays=retention_days)
    group = next(g for g in logs.describe_log_groups(logGroupNamePrefix=log_group)["logGroups"]
                 if g["logGroupName"] == log_group)
    group_arn = group.get("logGroupArn") or group["arn"].removesuffix(":*")
    policies = {p["policyName"]: p for p in logs.describe_resource_policies().get("resourcePolicies", [])}
    document = _delivery_policy(group_arn)
    if policies.get(POLICY_NAME, {}).get("policyDocument") != document:
        logs.put_resource_policy(policyName=POLICY_NAME, policyDocument=document)
        created.append("resource policy")
    try:
        existing = events.describe_rule(Name=rule_name)
    except events.exceptions.ResourceNotFoundException:
        existing = None
    pattern = json.dumps(_event_pattern(clusters))
    if existing is None or json.loads(existing.get("EventPattern") or "{}") != json.loads(pattern):
        rule_arn = events.put_rule(Name=rule_name, EventPattern=pattern, State="ENABLED",
                                   Description="fargate-lab: ECS events kept in a log group (task history)",
                                   Tags=as_aws(tags, "Key"))["RuleArn"]
        created.append("rule")
    else:
        rule_arn = existing["Arn"]
    events.tag_resource(ResourceARN=rule_arn, Tags=as_aws(tags, "Key"))
    targets = events.list_targets_by_rule(Rule=rule_name).get("Targets", [])
    if not any(t["Id"] == TARGET_ID and t["Arn"] == group_arn for t in targets):
        events.put_targets(Rule=rule_name, Targets=[{"Id": TARGET_ID, "Arn": group_arn}])
        created.append("target")
    return TaskHistory(rule_arn, log_group, group_arn, retention_days, tuple(created))


def _ms(moment: datetime | pd.Timestamp | str | None) -> int | None:
    """Milliseconds since the epoch (CloudWatch Logs' time); a naive moment is UTC."""
    if moment is None:
        return None
    stamp = pd.Timestamp(moment)
    return int((stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp).timestamp() * 1000)


def events(session: boto3.Session, since: datetime | str | None = None, until: datetime | str | None = None, *,
           log_group: str = LOG_GROUP, detail_types: Iterable[str] = ("ECS Task State Change",)) -> Iterator[dict]:
    """The kept events of ``detail_types`` between ``since`` and ``until`` (paginated ``filter_log_events``)."""
    start, end = _ms(since), _ms(until)
    if start is not None and end is not None and end < start:
        raise InvalidParameter("until", until, f"a moment after since ({since})")
    logs = session.client("logs")
    kwargs: dict[str, Any] = {"logGroupName": log_group}
    if start is not None:
        kwargs["startTime"] = start
    if end is not None:
        kwargs["endTime"] = end
    wanted = set(detail_types)
    try:
        for page in logs.get_paginator("filter_log_events").paginate(**kwargs):
            for item in page.get("events", []):
                event = json.loads(item["message"])
                if event.get("detail-type") in wanted:
                    yield event
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            raise InvalidParameter("log_group", log_group, "a log group that exists: call "
                                   "helpers.history.ensure_task_history(session) first") from exc
        raise


def _platform(detail: dict) -> dict:
    """The task definition's runtime platform as far as the task itself says it (attributes, platformFamily)."""
    attributes = {a.get("name"): a.get("value") for a in detail.get("attributes") or []}
    platform: dict[str, str] = {}
    arch = attributes.get("ecs.cpu-architecture")
    if arch:
        platform["cpuArchitecture"] = "ARM64" if arch.lower() in ("arm64", "aarch64") else "X86_64"
    family = attributes.get("ecs.os-family") or detail.get("platformFamily")
    if family:
        platform["operatingSystemFamily"] = "LINUX" if family.upper() == "LINUX" else family.upper()
    return platform


def last_states(stream: Iterable[dict]) -> list[dict]:
    """Per task ARN, the event of its latest state (highest detail ``version``, then ``updatedAt``, then time)."""
    latest: dict[str, tuple[tuple, dict]] = {}
    for event in stream:
        detail = event.get("detail") or {}
        arn = detail.get("taskArn")
        if not arn:
            continue
        key = (int(detail.get("version") or 0), str(detail.get("updatedAt") or ""), str(event.get("time") or ""))
        if arn not in latest or key >= latest[arn][0]:
            latest[arn] = (key, event)
    return [event for _, event in latest.values()]


def tasks_frame(stream: Iterable[dict], definitions: Any = None) -> pd.DataFrame:
    """Task state change events as ``helpers.inventory.tasks``' frame, last state per task.

    ``definitions``: an object with ``get(arn) -> task definition`` for what the events do not say (size,
    platform); None trusts the events alone.
    """
    rows = []
    for event in last_states(stream):
        detail = event["detail"]
        td: dict = {"runtimePlatform": _platform(detail)}
        if definitions is not None and (len(td["runtimePlatform"]) < 2 or not detail.get("cpu")):
            try:
                td = definitions.get(detail["taskDefinitionArn"])
            except ClientError:
                pass  # deregistered and gone: the event's own fields stay
        rows.append(inventory._task_row(event.get("region") or "", detail, td))
    return inventory.frame("tasks", rows)


def task_history(session: boto3.Session, since: datetime | str | None = None, until: datetime | str | None = None,
                 *, log_group: str = LOG_GROUP) -> pd.DataFrame:
    """Every task the kept events saw between ``since`` and ``until``: one row per task, its last state, in the
    columns of ``helpers.inventory.tasks`` (an empty frame, not an error, when there are none)."""
    definitions = _RegionalDefinitions(session)
    history = tasks_frame(events(session, since, until, log_group=log_group), definitions)
    history.attrs["source"] = f"ECS task state change events kept in {log_group}"
    return history


class _RegionalDefinitions:
    """Each task definition described once, in the region its ARN names."""

    def __init__(self, session: boto3.Session) -> None:
        self.session, self.regions = session, {}

    def get(self, arn: str) -> dict:
        region = arn.split(":")[3] or self.session.region_name
        if region not in self.regions:
            self.regions[region] = DefinitionCache(self.session.in_region(region).client("ecs"))
        return self.regions[region].get(arn)


#: The demo's tasks: (family, cpu, memory, architecture, capacity, seconds it runs on the embedded backend). Two run
#: under Fargate's one-minute minimum, one past it; they run at once, so the longest is what a learner waits.
DEMO_TASKS = (("history-x86", "256", "512", "X86_64", "FARGATE", 20),
              ("history-arm", "1024", "2048", "ARM64", "FARGATE_SPOT", 65),
              ("history-batch", "512", "1024", "X86_64", "FARGATE", 45))


def run_demo_tasks(session: boto3.Session, cluster: str = "fargate-lab-history") -> list[str]:
    """Run the demo's one-off tasks to their end (after ``ensure_task_history``, so their events are kept);
    tagged like everything the suite creates. Returns their ARNs."""
    from helpers import prereqs, sample_image, tasks

    prereqs.ensure_cluster(session, cluster)
    image = sample_image.ensure_pushed(session)  # the lab's sample app (it exits 0 once its job is done)
    role = prereqs.ensure_execution_role(session, allow_create=True)
    ecs, arns = session.client("ecs"), []
    for family, cpu, memory, arch, capacity, seconds in DEMO_TASKS:
        ecs.register_task_definition(
            family=family, requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu=cpu, memory=memory,
            runtimePlatform={"cpuArchitecture": arch, "operatingSystemFamily": "LINUX"},
            executionRoleArn=role,
            containerDefinitions=[{"name": "job", "image": image, "essential": True,
                                   "environment": [{"name": "FARGATE_LAB_SIMULATED_SECONDS", "value": str(seconds)}]}],
            tags=as_aws(suite_tags(), "key"))
        arns += tasks.run_task(session, cluster, family, capacity=capacity, network=prereqs.network(session))
    tasks.wait_for_tasks(session, cluster, arns, progress=False)
    return arns
