"""boto3's own waiters and paginators, as a new user would call them, against the embedded backend.

The client is a plain ``boto3.Session`` that finds the backend through ``AWS_ENDPOINT_URL``
(https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html). Waiters, as the ECS API reference's
waiters define them (https://boto3.amazonaws.com/v1/documentation/api/latest/reference/services/ecs/waiter/TasksRunning.html,
.../TasksStopped.html, .../ServicesStable.html, .../ServicesInactive.html): each polls until its success state, and
fails at once on a failure state (tasks-running: a task STOPPED; services-stable: MISSING).
Paginators: every one the suite's helpers use; each page holds at most the page size asked (ListTasks:
https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ListTasks.html; ECR DescribeImages:
https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_DescribeImages.html; CloudWatch Logs FilterLogEvents:
https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_FilterLogEvents.html; EC2
DescribeSecurityGroups, MaxResults 5-1000: https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeSecurityGroups.html;
IAM ListRoles, MaxItems and Marker: https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListRoles.html;
Secrets Manager ListSecrets: https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_ListSecrets.html;
SSM DescribeParameters: https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_DescribeParameters.html;
EventBridge ListRules: https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_ListRules.html), and
``MaxItems`` with ``StartingToken`` resumes where the last page stopped.
"""

from __future__ import annotations

import json
import math

import boto3
import botocore.exceptions
import pytest

from helpers import local
from tests.conformance.conftest import ecr_image

CLUSTER = "boto3"
FAST = {"Delay": 1, "MaxAttempts": 30}


def _after_first(ecs, operation: str, then) -> list[int]:
    """Call ``then()`` once the first ``operation`` has been answered; returns the list the calls are counted in."""
    calls: list[int] = []

    def answered(**_: object) -> None:
        calls.append(1)
        if len(calls) == 1:
            then()

    ecs.meta.events.register(f"after-call.ecs.{operation}", answered)
    return calls


def _network(aws: boto3.Session) -> dict:
    subnet = aws.client("ec2").describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])
    return {"awsvpcConfiguration": {"subnets": [subnet["Subnets"][0]["SubnetId"]]}}


def _definition(ecs, family: str = "waits") -> str:
    return ecs.register_task_definition(
        family=family, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[{"name": "app", "image": "busybox", "essential": True}],
    )["taskDefinition"]["taskDefinitionArn"]


def _run(aws, ecs, count: int = 1) -> list[str]:
    answer = ecs.run_task(cluster=CLUSTER, taskDefinition=_definition(ecs), count=count, launchType="FARGATE",
                          networkConfiguration=_network(aws))
    return [t["taskArn"] for t in answer["tasks"]]


def test_tasks_running_and_tasks_stopped_waiters_poll_until_their_state(aws, client):
    ecs = aws.client("ecs")
    ecs.create_cluster(clusterName=CLUSTER)
    local.set_clock("manual", client.info.port)
    arns = _run(aws, ecs, count=2)
    calls = _after_first(ecs, "DescribeTasks", lambda: local.advance_clock(0.8, client.info.port))
    ecs.get_waiter("tasks_running").wait(cluster=CLUSTER, tasks=arns, WaiterConfig=FAST)
    assert len(calls) >= 2  # PROVISIONING at the first poll, RUNNING after the clock moved
    assert {t["lastStatus"] for t in ecs.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"]} == {"RUNNING"}

    calls = _after_first(ecs, "DescribeTasks", lambda: local.advance_clock(60, client.info.port))
    ecs.get_waiter("tasks_stopped").wait(cluster=CLUSTER, tasks=arns, WaiterConfig=FAST)
    assert len(calls) >= 2  # RUNNING at the first poll, STOPPED after the clock moved
    tasks = ecs.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"]
    assert {(t["lastStatus"], t["stopCode"]) for t in tasks} == {("STOPPED", "EssentialContainerExited")}


def test_tasks_running_waiter_fails_at_once_on_a_stopped_task(aws, client):
    ecs = aws.client("ecs")
    ecs.create_cluster(clusterName=CLUSTER)
    local.set_clock("manual", client.info.port)
    arns = _run(aws, ecs)
    local.advance_clock(60, client.info.port)
    with pytest.raises(botocore.exceptions.WaiterError, match="terminal failure state"):
        ecs.get_waiter("tasks_running").wait(cluster=CLUSTER, tasks=arns, WaiterConfig=FAST)


def test_services_stable_and_services_inactive_waiters(aws, client):
    ecs = aws.client("ecs")
    ecs.create_cluster(clusterName=CLUSTER)
    local.set_clock("manual", client.info.port)
    ecs.create_service(cluster=CLUSTER, serviceName="web", taskDefinition=_definition(ecs), desiredCount=2,
                       launchType="FARGATE", networkConfiguration=_network(aws))
    calls = _after_first(ecs, "DescribeServices", lambda: local.advance_clock(5, client.info.port))
    ecs.get_waiter("services_stable").wait(cluster=CLUSTER, services=["web"], WaiterConfig=FAST)
    assert len(calls) >= 2
    [service] = ecs.describe_services(cluster=CLUSTER, services=["web"])["services"]
    assert service["runningCount"] == service["desiredCount"] == 2 and len(service["deployments"]) == 1

    ecs.delete_service(cluster=CLUSTER, service="web", force=True)
    assert ecs.describe_services(cluster=CLUSTER, services=["web"])["services"][0]["status"] == "DRAINING"
    calls = _after_first(ecs, "DescribeServices", lambda: local.advance_clock(5, client.info.port))
    ecs.get_waiter("services_inactive").wait(cluster=CLUSTER, services=["web"], WaiterConfig=FAST)
    assert len(calls) >= 2
    stopped = ecs.list_tasks(cluster=CLUSTER, desiredStatus="STOPPED")["taskArns"]
    assert len(stopped) == 2
    assert {t["lastStatus"] for t in ecs.describe_tasks(cluster=CLUSTER, tasks=stopped)["tasks"]} == {"STOPPED"}

    with pytest.raises(botocore.exceptions.WaiterError, match="terminal failure state"):
        ecs.get_waiter("services_stable").wait(cluster=CLUSTER, services=["missing"], WaiterConfig=FAST)


# -- paginators -----------------------------------------------------------------------------------------


def _ecs_items(aws, n, port):
    ecs = aws.client("ecs")
    ecs.create_cluster(clusterName=CLUSTER)
    for i in range(n - 1):
        ecs.create_cluster(clusterName=f"{CLUSTER}-{i}")
    network = _network(aws)
    definition = _definition(ecs, "pager")
    for _ in range(n - 1):
        _definition(ecs, "pager")
    for i in range(n):
        ecs.create_service(cluster=CLUSTER, serviceName=f"s{i}", taskDefinition=definition, desiredCount=0,
                           launchType="FARGATE", networkConfiguration=network)
    ecs.run_task(cluster=CLUSTER, taskDefinition=definition, count=n, launchType="FARGATE",
                 networkConfiguration=network)


def _ecr_items(aws, n, port):
    ecr = aws.client("ecr")
    for i in range(n):
        ecr.create_repository(repositoryName=f"pager/r{i}")
    for i in range(n):
        ecr_image(ecr, "pager/r0", f"t{i}")


def _other_items(aws, n, port):
    logs = aws.client("logs")
    for i in range(n):
        logs.create_log_group(logGroupName=f"/pager/{i}")
    logs.create_log_stream(logGroupName="/pager/0", logStreamName="s")
    now = int(local.clock(port)["epoch"])
    logs.put_log_events(logGroupName="/pager/0", logStreamName="s",
                        logEvents=[{"timestamp": (now + i) * 1000, "message": f"line {i}"} for i in range(n)])
    ec2 = aws.client("ec2")
    for i in range(n):
        ec2.create_security_group(GroupName=f"pager-{i}", Description="paging")
    iam = aws.client("iam")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    for i in range(n):
        iam.create_role(RoleName=f"pager-{i}", AssumeRolePolicyDocument=trust, Path="/pager/")
        iam.put_role_policy(RoleName="pager-0", PolicyName=f"p{i}", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecs:List*", "Resource": "*"}]}))
        arn = iam.create_policy(PolicyName=f"pager-{i}", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecs:List*", "Resource": "*"}]}),
        )["Policy"]["Arn"]
        iam.attach_role_policy(RoleName="pager-0", PolicyArn=arn)
    for i in range(n):
        aws.client("secretsmanager").create_secret(Name=f"pager-{i}", SecretString="x")
        aws.client("ssm").put_parameter(Name=f"/pager/{i}", Value="x", Type="String")
        aws.client("events").put_rule(Name=f"pager-{i}", EventPattern=json.dumps({"source": ["aws.ecs"]}))


N = 7
#: (service, paginator, result key, arguments, page size, items at least): every paginator helpers/ uses.
PAGINATORS = [
    ("ecs", "list_clusters", "clusterArns", {}, 3, N),
    ("ecs", "list_services", "serviceArns", {"cluster": CLUSTER}, 3, N),
    ("ecs", "list_tasks", "taskArns", {"cluster": CLUSTER}, 3, N),
    ("ecs", "list_task_definitions", "taskDefinitionArns", {"familyPrefix": "pager"}, 3, N),
    ("ecr", "describe_repositories", "repositories", {}, 3, N),
    ("ecr", "describe_images", "imageDetails", {"repositoryName": "pager/r0"}, 3, N),
    ("ecr", "list_images", "imageIds", {"repositoryName": "pager/r0"}, 3, N),
    ("logs", "describe_log_groups", "logGroups", {"logGroupNamePrefix": "/pager/"}, 3, N),
    ("logs", "filter_log_events", "events", {"logGroupName": "/pager/0"}, 3, N),
    ("ec2", "describe_security_groups", "SecurityGroups", {}, 5, N),
    ("iam", "list_roles", "Roles", {"PathPrefix": "/pager/"}, 3, N),
    ("iam", "list_role_policies", "PolicyNames", {"RoleName": "pager-0"}, 3, N),
    ("iam", "list_attached_role_policies", "AttachedPolicies", {"RoleName": "pager-0"}, 3, N),
    ("secretsmanager", "list_secrets", "SecretList", {}, 3, N),
    ("ssm", "describe_parameters", "Parameters", {}, 3, N),
    ("events", "list_rules", "Rules", {"NamePrefix": "pager-"}, 3, N),
]


@pytest.fixture
def filled(aws, client):
    local.set_clock("manual", client.info.port)  # tasks stay listed (desiredStatus RUNNING)
    for fill in (_ecs_items, _ecr_items, _other_items):
        fill(aws, N, client.info.port)
    return aws


def test_every_paginator_the_suite_uses_pages_and_resumes(filled):
    for service, operation, key, arguments, size, at_least in PAGINATORS:
        what = f"{service}.{operation}"
        paginator = filled.client(service).get_paginator(operation)
        pages = [p[key] for p in paginator.paginate(**arguments, PaginationConfig={"PageSize": size})]
        items = [json.dumps(i, sort_keys=True, default=str) for page in pages for i in page]
        assert len(items) >= at_least, what
        assert len(set(items)) == len(items), f"{what}: an item came twice"
        assert all(len(page) <= size for page in pages), f"{what}: a page over {size}"
        assert len(pages) >= math.ceil(at_least / size), f"{what}: {len(pages)} pages"
        first = paginator.paginate(**arguments, PaginationConfig={"PageSize": size, "MaxItems": 4}).build_full_result()
        assert len(first[key]) == 4 and first.get("NextToken"), what
        rest = paginator.paginate(**arguments, PaginationConfig={"PageSize": size,
                                                                 "StartingToken": first["NextToken"]})
        resumed = [json.dumps(i, sort_keys=True, default=str) for page in rest for i in page[key]]
        assert sorted([json.dumps(i, sort_keys=True, default=str) for i in first[key]] + resumed) == sorted(items), what
