"""Teardown: find everything the suite created, by its tags on the backend itself, and delete it in order.

``find`` never looks at names: a resource is the suite's when it carries
``fargate-lab:suite=fargate-lab`` (helpers.tags), so a cleanup on another machine finds
what this one created, and a look-alike name without the tag is never touched.
``cleanup`` is a dry run unless called with ``dry_run=False``; it deletes
in dependency order and is idempotent (what is gone already is reported, not an error).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pandas as pd
from botocore.exceptions import ClientError

from helpers import progress as progress_bars
from helpers.cost import fargate_hourly_rate
from helpers.display import megabytes
from helpers.errors import CleanupIncomplete, InvalidParameter
from helpers.fargate import cpu_units, ephemeral_gib, memory_mib
from helpers.tags import RUN_ID_TAG_KEY, is_suite_tagged
from helpers.taskdef import DefinitionCache

#: Deletion order: what depends on something is deleted before it.
KINDS = ("service", "task", "listener", "load balancer", "target group", "task definition", "event rule", "log policy", "log group", "security group", "role", "secret",
         "repository", "bucket", "cluster")
ECR_GB_MONTH = 0.10
LOGS_GB_MONTH = 0.03
SECRET_MONTH = 0.40
#: The runbook runner's buckets (helpers.runbooks); only those with the suite's tags are the suite's.
BUCKET_PREFIX = "fargate-lab-runbooks-"
#: The repository ships no S3 storage rate: a runbook bucket's notebooks cost pennies a month, said as a note.
S3_NOTE = "S3 storage: pennies a month (no S3 rate in the price data)"
#: An Application Load Balancer's hourly price in us-east-1 (https://aws.amazon.com/elasticloadbalancing/pricing/);
#: its LCUs (traffic) are billed on top and not estimated here.
ALB_HOUR = 0.0225
DAYS_PER_MONTH = 365 / 12
COLUMNS = ["kind", "region", "name", "id", "run_id", "cost_per_day_usd", "note"]
#: Regions searched besides the session's when none are given: those the lab's notebooks use by default
#: (04_cost_and_state builds its demo fleet in both).
LAB_REGIONS = ("us-east-1", "eu-west-1")
#: Error codes that mean "it is gone already": deleting it again is a success.
GONE = {
    "ServiceNotFoundException", "ServiceNotActiveException", "ClusterNotFoundException", "ResourceNotFoundException",
    "InvalidGroup.NotFound", "NoSuchEntity", "RepositoryNotFoundException",
    "ListenerNotFound", "LoadBalancerNotFound", "TargetGroupNotFound", "NoSuchBucket",
}
#: ECS says "not found" or "inactive" with generic codes (ClientException, InvalidParameterException).
GONE_WORDS = ("not found", "inactive", "does not exist")


@dataclass
class Resource:
    """One suite-tagged resource: what it is, what it costs per day while it exists, how to delete it."""

    kind: str
    name: str
    id: str
    run_id: str
    cost_per_day_usd: float = 0.0
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    region: str = ""

    def row(self) -> dict[str, Any]:
        return {c: getattr(self, c) for c in COLUMNS}


def _tag(tags: Any, key: str) -> str:
    for tag in (tags.items() if isinstance(tags, dict) else
                ((t.get("Key", t.get("key")), t.get("Value", t.get("value"))) for t in tags or [])):
        if tag[0] == key:
            return tag[1]
    return ""


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> Iterator[Any]:
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, [])


# ---- finding: one function per kind, each yields only suite-tagged resources -------------------------------

def _clusters(session: boto3.Session) -> list[dict]:
    ecs = session.client("ecs")
    arns = list(_pages(ecs, "list_clusters", "clusterArns"))
    return [c for chunk in _chunks(arns, 100) for c in ecs.describe_clusters(clusters=chunk, include=["TAGS"])["clusters"]]


class _TaskDefinitions(DefinitionCache):
    """The region's task definitions with their tags, described once: services and tasks need their size and
    platform for cost."""

    def __init__(self, session: boto3.Session) -> None:
        super().__init__(session.client("ecs"), tags=True)
        self.region = session.region_name or "us-east-1"

    def hourly(self, arn: str, cpu: Any = None, memory: Any = None, spot: bool = False) -> float:
        definition = self.get(arn)
        platform = definition.get("runtimePlatform") or {}
        try:
            return fargate_hourly_rate(
                cpu_units(cpu or definition.get("cpu")) or 256, memory_mib(memory or definition.get("memory")) or 512,
                region=self.region, arch=platform.get("cpuArchitecture") or "X86_64",
                os_family=platform.get("operatingSystemFamily") or "LINUX", spot=spot,
                ephemeral_gib=ephemeral_gib(definition),
            )
        except InvalidParameter:  # a region without shipped rates: the cost is unknown, not zero
            return float("nan")


def _find_services(session: boto3.Session, clusters: list[dict], defs: _TaskDefinitions) -> list[Resource]:
    ecs = session.client("ecs")
    found = []
    for cluster in clusters:
        arns = list(_pages(ecs, "list_services", "serviceArns", cluster=cluster["clusterArn"]))
        for chunk in _chunks(arns, 10):
            for service in ecs.describe_services(cluster=cluster["clusterArn"], services=chunk, include=["TAGS"])[
                    "services"]:
                if service.get("status") == "INACTIVE" or not is_suite_tagged(service.get("tags")):
                    continue
                strategy = service.get("capacityProviderStrategy") or []
                spot = bool(strategy) and all(s.get("capacityProvider") == "FARGATE_SPOT" for s in strategy)
                hourly = defs.hourly(service["taskDefinition"], spot=spot)
                found.append(Resource(
                    "service", service["serviceName"], service["serviceArn"], _tag(service["tags"], RUN_ID_TAG_KEY),
                    service.get("desiredCount", 0) * hourly * 24, f"{service.get('desiredCount', 0)} task(s) wanted",
                    {"cluster": cluster["clusterArn"]},
                ))
    return found


def _find_tasks(session: boto3.Session, clusters: list[dict], defs: _TaskDefinitions,
                services: list[Resource]) -> list[Resource]:
    ecs = session.client("ecs")
    by_service = {(s.extra["cluster"], s.name) for s in services}
    found = []
    for cluster in clusters:
        arns = list(_pages(ecs, "list_tasks", "taskArns", cluster=cluster["clusterArn"], desiredStatus="RUNNING"))
        for chunk in _chunks(arns, 100):
            for task in ecs.describe_tasks(cluster=cluster["clusterArn"], tasks=chunk, include=["TAGS"])["tasks"]:
                if task.get("lastStatus") == "STOPPED" or not is_suite_tagged(task.get("tags")):
                    continue
                group = task.get("group", "")
                in_service = group.startswith("service:") and (cluster["clusterArn"], group[8:]) in by_service
                spot = task.get("capacityProviderName") == "FARGATE_SPOT"
                cost = 0.0 if in_service else defs.hourly(task["taskDefinitionArn"], task.get("cpu"),
                                                          task.get("memory"), spot) * 24
                note = f"billed in {group}" if in_service else task.get("lastStatus", "")
                found.append(Resource("task", task["taskArn"].rsplit("/", 1)[-1], task["taskArn"],
                                      _tag(task["tags"], RUN_ID_TAG_KEY), cost, note,
                                      {"cluster": cluster["clusterArn"]}))
    return found


def _find_task_definitions(session: boto3.Session, defs: _TaskDefinitions) -> list[Resource]:
    ecs = session.client("ecs")
    found = []
    for arn in _pages(ecs, "list_task_definitions", "taskDefinitionArns", status="ACTIVE"):
        definition = defs.get(arn)
        if is_suite_tagged(definition["tags"]):
            name = f"{definition['family']}:{definition['revision']}"
            found.append(Resource("task definition", name, arn, _tag(definition["tags"], RUN_ID_TAG_KEY),
                                  0.0, "free"))
    return found


def _find_log_groups(session: boto3.Session) -> list[Resource]:
    logs = session.client("logs")
    found = []
    for group in _pages(logs, "describe_log_groups", "logGroups"):
        arn = group.get("logGroupArn") or group["arn"].removesuffix(":*")
        tags = logs.list_tags_for_resource(resourceArn=arn).get("tags", {})
        if is_suite_tagged(tags):
            gb = group.get("storedBytes", 0) / 1024**3
            found.append(Resource("log group", group["logGroupName"], arn, _tag(tags, RUN_ID_TAG_KEY),
                                  gb * LOGS_GB_MONTH / DAYS_PER_MONTH, f"{group.get('storedBytes', 0)} bytes stored"))
    return found


def _find_event_rules(session: boto3.Session) -> list[Resource]:
    """EventBridge rules (the task history's) tagged by the suite, on the default event bus."""
    events = session.client("events")
    found = []
    for rule in _pages(events, "list_rules", "Rules"):
        tags = events.list_tags_for_resource(ResourceARN=rule["Arn"]).get("Tags", [])
        if is_suite_tagged(tags):
            targets = events.list_targets_by_rule(Rule=rule["Name"]).get("Targets", [])
            found.append(Resource("event rule", rule["Name"], rule["Arn"], _tag(tags, RUN_ID_TAG_KEY), 0.0,
                                  f"{len(targets)} target(s)"))
    return found


def _log_group_of(arn: str) -> str | None:
    """The log group an ARN (``arn:aws:logs:REGION:ACCOUNT:log-group:NAME[:*]``) names, or None."""
    parts = arn.split(":log-group:", 1)
    return parts[1].removesuffix(":*") if len(parts) == 2 else None


def _find_log_policies(session: boto3.Session) -> list[Resource]:
    """CloudWatch Logs resource policies cannot carry tags: one is the suite's when every log group it grants
    access to is suite-tagged (the task history's delivery policy)."""
    logs = session.client("logs")
    found = []
    for policy in logs.describe_resource_policies().get("resourcePolicies", []):
        try:
            statements = json.loads(policy.get("policyDocument") or "{}").get("Statement", [])
        except ValueError:
            continue
        arns = [a for st in statements for a in ([st.get("Resource")] if isinstance(st.get("Resource"), str)
                                                 else st.get("Resource") or [])]
        groups = {_log_group_of(a) for a in arns}
        if not arns or None in groups:
            continue
        run_ids = set()
        for group in groups:
            match = [g for g in logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
                     if g["logGroupName"] == group]
            tags = logs.list_tags_for_resource(resourceArn=match[0].get("logGroupArn") or match[0]["arn"].removesuffix(
                ":*")).get("tags", {}) if match else {}
            if not is_suite_tagged(tags):
                break
            run_ids.add(_tag(tags, RUN_ID_TAG_KEY))
        else:
            found.append(Resource("log policy", policy["policyName"], policy["policyName"], min(run_ids), 0.0,
                                  f"lets EventBridge write to {', '.join(sorted(groups))}"))
    return found


def _delete_event_rule(session: boto3.Session, r: Resource) -> None:
    events = session.client("events")
    ids = [t["Id"] for t in events.list_targets_by_rule(Rule=r.name).get("Targets", [])]
    if ids:
        events.remove_targets(Rule=r.name, Ids=ids)
    events.delete_rule(Name=r.name)


def _find_security_groups(session: boto3.Session) -> list[Resource]:
    from helpers.tags import SUITE_TAG_KEY, SUITE_TAG_VALUE

    ec2 = session.client("ec2")
    found = []
    tagged = [{"Name": f"tag:{SUITE_TAG_KEY}", "Values": [SUITE_TAG_VALUE]}]
    for group in _pages(ec2, "describe_security_groups", "SecurityGroups", Filters=tagged):
        if is_suite_tagged(group.get("Tags")):  # the filter asked the backend; this checks its answer
            found.append(Resource("security group", group["GroupName"], group["GroupId"],
                                  _tag(group["Tags"], RUN_ID_TAG_KEY), 0.0, "free"))
    return found


def _elbv2_tags(elbv2: Any, arns: list[str]) -> dict[str, list]:
    """Each ARN's tags: DescribeTags takes 20 ARNs at a time."""
    return {d["ResourceArn"]: d.get("Tags", []) for chunk in _chunks(arns, 20)
            for d in elbv2.describe_tags(ResourceArns=chunk)["TagDescriptions"]}


def _find_load_balancers(session: boto3.Session, balancers: list[dict]) -> list[Resource]:
    tags = _elbv2_tags(session.client("elbv2"), [b["LoadBalancerArn"] for b in balancers])
    return [Resource("load balancer", b["LoadBalancerName"], b["LoadBalancerArn"],
                     _tag(tags[b["LoadBalancerArn"]], RUN_ID_TAG_KEY), ALB_HOUR * 24, "ALB hours; LCUs not estimated")
            for b in balancers if is_suite_tagged(tags.get(b["LoadBalancerArn"]))]


def _find_listeners(session: boto3.Session, balancers: list[dict]) -> list[Resource]:
    """The suite's listeners, on any load balancer (one the suite did not make keeps its own)."""
    elbv2 = session.client("elbv2")
    listeners = [(b, listener) for b in balancers
                 for listener in _pages(elbv2, "describe_listeners", "Listeners", LoadBalancerArn=b["LoadBalancerArn"])]
    tags = _elbv2_tags(elbv2, [listener["ListenerArn"] for _, listener in listeners])
    return [Resource("listener", f"{b['LoadBalancerName']}:{listener['Port']}", listener["ListenerArn"],
                     _tag(tags[listener["ListenerArn"]], RUN_ID_TAG_KEY), 0.0, "billed with its load balancer")
            for b, listener in listeners if is_suite_tagged(tags.get(listener["ListenerArn"]))]


def _find_target_groups(session: boto3.Session) -> list[Resource]:
    elbv2 = session.client("elbv2")
    groups = list(_pages(elbv2, "describe_target_groups", "TargetGroups"))
    tags = _elbv2_tags(elbv2, [g["TargetGroupArn"] for g in groups])
    return [Resource("target group", g["TargetGroupName"], g["TargetGroupArn"],
                     _tag(tags[g["TargetGroupArn"]], RUN_ID_TAG_KEY), 0.0, "free")
            for g in groups if is_suite_tagged(tags.get(g["TargetGroupArn"]))]


def _find_roles(session: boto3.Session) -> list[Resource]:
    iam = session.client("iam")
    found = []
    for role in _pages(iam, "list_roles", "Roles"):
        if role.get("Path", "").startswith("/aws-service-role/"):
            continue
        tags = iam.list_role_tags(RoleName=role["RoleName"]).get("Tags", [])
        if is_suite_tagged(tags):
            found.append(Resource("role", role["RoleName"], role["Arn"], _tag(tags, RUN_ID_TAG_KEY), 0.0, "free"))
    return found


def _find_secrets(session: boto3.Session) -> list[Resource]:
    secrets = session.client("secretsmanager")
    found = []
    for secret in _pages(secrets, "list_secrets", "SecretList"):
        if is_suite_tagged(secret.get("Tags")) and not secret.get("DeletedDate"):
            found.append(Resource("secret", secret["Name"], secret["ARN"], _tag(secret["Tags"], RUN_ID_TAG_KEY),
                                  SECRET_MONTH / DAYS_PER_MONTH, "value never read"))
    return found


def _find_repositories(session: boto3.Session) -> list[Resource]:
    ecr = session.client("ecr")
    found = []
    for repo in _pages(ecr, "describe_repositories", "repositories"):
        tags = ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"]).get("tags", [])
        if not is_suite_tagged(tags):
            continue
        images = list(_pages(ecr, "describe_images", "imageDetails", repositoryName=repo["repositoryName"]))
        size = sum(i.get("imageSizeInBytes", 0) for i in images)
        found.append(Resource("repository", repo["repositoryName"], repo["repositoryArn"], _tag(tags, RUN_ID_TAG_KEY),
                              size / 1024**3 * ECR_GB_MONTH / DAYS_PER_MONTH, f"{len(images)} image(s), {megabytes(size)}"))
    return found


def _find_buckets(session: boto3.Session, regions: list[str]) -> list[Resource]:
    """The suite-tagged runbook buckets in ``regions`` (S3 lists every region's; a bucket without tags is not ours)."""
    s3 = session.client("s3")
    found = []
    for bucket in s3.list_buckets().get("Buckets", []):
        name = bucket["Name"]
        if not name.startswith(BUCKET_PREFIX):
            continue
        try:
            tags = s3.get_bucket_tagging(Bucket=name).get("TagSet", [])
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("NoSuchTagSet", "NoSuchBucket"):
                continue
            raise
        if not is_suite_tagged(tags):
            continue
        region = s3.get_bucket_location(Bucket=name).get("LocationConstraint") or "us-east-1"
        if region in regions:
            found.append(Resource("bucket", name, f"arn:aws:s3:::{name}", _tag(tags, RUN_ID_TAG_KEY), 0.0, S3_NOTE,
                                  region=region))
    return found


def find(session: boto3.Session, run_id: str | None = None, kinds: Iterable[str] | None = None,
         regions: Iterable[str] | None = None) -> list[Resource]:
    """Every suite-tagged resource on the backend (optionally of one run, of some kinds), in deletion order.

    ``regions``: where to look (default: the session's region and LAB_REGIONS); IAM roles are global.
    """
    kinds = _check_kinds(kinds)
    _check_run_id(run_id)
    regions = _check_regions(session, regions)
    found: list[Resource] = []
    for index, region in enumerate(regions):
        for resource in _find_in(session.in_region(region), kinds if index == 0 else kinds - {"role"}):
            resource.region = "global" if resource.kind == "role" else region
            found.append(resource)
    if "bucket" in kinds:
        found += _find_buckets(session, regions)
    found.sort(key=lambda r: KINDS.index(r.kind))  # stable: regions keep their order within a kind
    return [r for r in found if run_id is None or r.run_id == run_id]


def _find_in(session: Any, kinds: set[str]) -> list[Resource]:
    clusters = [c for c in _clusters(session) if c.get("status") != "INACTIVE"] if {
        "service", "task", "cluster"} & kinds else []
    defs = _TaskDefinitions(session)
    services = _find_services(session, clusters, defs) if {"service", "task"} & kinds else []
    balancers = list(_pages(session.client("elbv2"), "describe_load_balancers", "LoadBalancers")) if {
        "listener", "load balancer"} & kinds else []
    finders: dict[str, Callable[[], list[Resource]]] = {
        "service": lambda: services,
        "task": lambda: _find_tasks(session, clusters, defs, services),
        "listener": lambda: _find_listeners(session, balancers),
        "load balancer": lambda: _find_load_balancers(session, balancers),
        "target group": lambda: _find_target_groups(session),
        "task definition": lambda: _find_task_definitions(session, defs),
        "event rule": lambda: _find_event_rules(session),
        "log policy": lambda: _find_log_policies(session),
        "log group": lambda: _find_log_groups(session),
        "security group": lambda: _find_security_groups(session),
        "role": lambda: _find_roles(session),
        "secret": lambda: _find_secrets(session),
        "repository": lambda: _find_repositories(session),
        "bucket": lambda: [],  # S3 lists buckets of every region at once: find() asks once
        "cluster": lambda: [
            Resource("cluster", c["clusterName"], c["clusterArn"], _tag(c.get("tags"), RUN_ID_TAG_KEY), 0.0,
                     f"{c.get('runningTasksCount', 0)} running task(s)")
            for c in clusters if is_suite_tagged(c.get("tags"))
        ],
    }
    return [r for kind in KINDS if kind in kinds for r in finders[kind]()]


def table(resources: list[Resource]) -> pd.DataFrame:
    """Resources as a table: kind, region, name, id, run_id, cost_per_day_usd, note."""
    return pd.DataFrame([r.row() for r in resources], columns=COLUMNS)


def inventory(session: boto3.Session, run_id: str | None = None, kinds: Iterable[str] | None = None,
              regions: Iterable[str] | None = None) -> pd.DataFrame:
    """What the suite has on the backend now and what each costs per day while it exists (USD)."""
    return table(find(session, run_id, kinds, regions))


# ---- deleting: one function per kind; "gone already" is success ---------------------------------------------

def _delete_service(session: boto3.Session, r: Resource) -> None:
    ecs = session.client("ecs")
    ecs.update_service(cluster=r.extra["cluster"], service=r.id, desiredCount=0)
    ecs.delete_service(cluster=r.extra["cluster"], service=r.id)


def _delete_role(session: boto3.Session, r: Resource) -> None:
    iam = session.client("iam")
    for policy in _pages(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=r.name):
        iam.detach_role_policy(RoleName=r.name, PolicyArn=policy["PolicyArn"])
    for name in _pages(iam, "list_role_policies", "PolicyNames", RoleName=r.name):
        iam.delete_role_policy(RoleName=r.name, PolicyName=name)
    iam.delete_role(RoleName=r.name)


def _patiently(call: Callable[[], Any], codes: set[str], patience: float = 300.0) -> None:
    """Retry ``call`` while AWS answers one of ``codes`` (something it depends on is still going away)."""
    deadline = time.monotonic() + patience
    while True:
        try:
            call()
            return
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in codes or time.monotonic() > deadline:
                raise
            time.sleep(5)


def _delete_security_group(session: boto3.Session, r: Resource) -> None:
    """The network interfaces of stopped tasks take a minute or two to go on AWS: DependencyViolation until then."""
    ec2 = session.client("ec2")
    _patiently(lambda: ec2.delete_security_group(GroupId=r.id), {"DependencyViolation"})


def _delete_load_balancer(session: boto3.Session, r: Resource) -> None:
    """Wait until it is gone: its network interfaces hold its security group (deleted after it) until then."""
    elbv2 = session.client("elbv2")
    elbv2.delete_load_balancer(LoadBalancerArn=r.id)
    elbv2.get_waiter("load_balancers_deleted").wait(LoadBalancerArns=[r.id],
                                                    WaiterConfig={"Delay": 5, "MaxAttempts": 60})


def _delete_target_group(session: boto3.Session, r: Resource) -> None:
    """A group stays in use a little while after its listener or load balancer is deleted on AWS."""
    elbv2 = session.client("elbv2")
    _patiently(lambda: elbv2.delete_target_group(TargetGroupArn=r.id), {"ResourceInUse"})


def _delete_bucket(session: boto3.Session, r: Resource) -> None:
    """S3 deletes only an empty bucket: its objects first, and in a versioned one every version and delete marker."""
    s3 = session.client("s3")
    versioned = s3.get_bucket_versioning(Bucket=r.name).get("Status") in ("Enabled", "Suspended")
    if versioned:
        pages = s3.get_paginator("list_object_versions").paginate(Bucket=r.name)
        keys = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                for page in pages for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
    else:
        keys = [{"Key": o["Key"]} for o in _pages(s3, "list_objects_v2", "Contents", Bucket=r.name)]
    for chunk in _chunks(keys, 1000):  # DeleteObjects takes up to 1000 keys
        answer = s3.delete_objects(Bucket=r.name, Delete={"Objects": chunk, "Quiet": True})
        if answer.get("Errors"):
            error = answer["Errors"][0]
            raise ClientError({"Error": {"Code": error.get("Code", "DeleteObjectsFailed"), "Message": (
                f"{len(answer['Errors'])} object(s) not deleted, e.g. {error.get('Key')}: {error.get('Message')}")}},
                "DeleteObjects")
    s3.delete_bucket(Bucket=r.name)


def _delete_cluster(session: boto3.Session, r: Resource) -> None:
    """Stopped tasks and deleted services linger (STOPPING, DRAINING) a while on AWS: the cluster waits for them."""
    ecs = session.client("ecs")
    _patiently(lambda: ecs.delete_cluster(cluster=r.id),
               {"ClusterContainsTasksException", "ClusterContainsServicesException"})


DELETERS: dict[str, Callable[[boto3.Session, Resource], None]] = {
    "service": _delete_service,
    "task": lambda s, r: s.client("ecs").stop_task(cluster=r.extra["cluster"], task=r.id,
                                                   reason="fargate-lab cleanup"),
    "listener": lambda s, r: s.client("elbv2").delete_listener(ListenerArn=r.id),
    "load balancer": _delete_load_balancer,
    "target group": _delete_target_group,
    "task definition": lambda s, r: s.client("ecs").deregister_task_definition(taskDefinition=r.id),
    "event rule": _delete_event_rule,
    "log policy": lambda s, r: s.client("logs").delete_resource_policy(policyName=r.name),
    "log group": lambda s, r: s.client("logs").delete_log_group(logGroupName=r.name),
    "security group": _delete_security_group,
    "role": _delete_role,
    "secret": lambda s, r: s.client("secretsmanager").delete_secret(SecretId=r.id, ForceDeleteWithoutRecovery=True),
    "repository": lambda s, r: s.client("ecr").delete_repository(repositoryName=r.name, force=True),
    "bucket": _delete_bucket,
    "cluster": _delete_cluster,
}


def delete(session: boto3.Session, resource: Resource) -> str:
    """Delete one resource; returns "deleted", "gone already" or "failed: <why>" (never raises for AWS errors)."""
    region = session.region_name if resource.region in ("", "global") else resource.region
    try:
        DELETERS[resource.kind](session.in_region(region), resource)
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        message = exc.response["Error"].get("Message", "")
        if code in GONE or any(word in message.lower() for word in GONE_WORDS):
            return "gone already"
        return f"failed: {code}: {message}"
    return "deleted"


def _check_kinds(kinds: Iterable[str] | None) -> set[str]:
    if kinds is None:
        return set(KINDS)
    if isinstance(kinds, str) or not all(isinstance(k, str) for k in kinds) or not set(kinds) <= set(KINDS) \
            or not set(kinds):
        raise InvalidParameter("kinds", kinds, f"None (every kind) or a list drawn from {list(KINDS)}")
    return set(kinds)


def _check_run_id(run_id: Any) -> None:
    if run_id is not None and (not isinstance(run_id, str) or not run_id.strip()):
        raise InvalidParameter("run_id", run_id, "None (every run) or a run id such as '20261128T025122Z' "
                                                 "(the fargate-lab:run-id tag)")


def _check_regions(session: boto3.Session, regions: Iterable[str] | None) -> list[str]:
    from helpers.session import REGION_PATTERN

    if regions is None:
        return list(dict.fromkeys([session.region_name or LAB_REGIONS[0], *LAB_REGIONS]))
    if isinstance(regions, str) or not regions or not all(
            isinstance(r, str) and REGION_PATTERN.fullmatch(r) for r in regions):
        raise InvalidParameter("regions", regions, "None (the session's region and the lab's) or a list of region "
                                                   "codes such as ['us-east-1', 'eu-west-1']")
    return list(dict.fromkeys(regions))


def cleanup(session: boto3.Session, dry_run: bool = True, run_id: str | None = None,
            kinds: Iterable[str] | None = None, progress: bool = True,
            regions: Iterable[str] | None = None, resources: list[Resource] | None = None) -> pd.DataFrame:
    """List (dry run, the default) or delete, in dependency order, everything the suite created.

    Returns a table: kind, name, id, run_id, cost_per_day_usd, note, action ("would delete",
    "deleted", "gone already" or "failed: ..."). Only ``dry_run=False`` (the bool) deletes.
    ``resources``: what ``find`` returned already (saves finding it again); else found here.
    """
    if not isinstance(dry_run, bool):
        raise InvalidParameter("dry_run", dry_run, "True (list only, the default) or False (delete)")
    if resources is None:
        resources = find(session, run_id, kinds, regions)
    rows = []
    for resource in progress_bars.bar(len(resources), iterable=resources, desc="cleanup", disable=not progress or dry_run or not resources):
        action = "would delete" if dry_run else delete(session, resource)
        rows.append(dict(resource.row(), action=action))
    return pd.DataFrame(rows, columns=COLUMNS + ["action"])


def cost_per_day(table: pd.DataFrame) -> float:
    """What the listed resources cost per day while they exist (USD)."""
    return float(table["cost_per_day_usd"].sum()) if len(table) else 0.0


def raise_on_failures(table: pd.DataFrame) -> None:
    """A runbook must fail when something could not be deleted: raise CleanupIncomplete listing it."""
    failed = table[table["action"].str.startswith("failed")] if len(table) else table
    if len(failed):
        lines = "\n".join(f"  - {r.kind} {r.name}: {r.action}" for r in failed.itertuples())
        raise CleanupIncomplete(f"{len(failed)} resource(s) could not be deleted and still exist:\n{lines}\n"
                                "Fix the cause, then run the cleanup again: it picks up what is left.")
