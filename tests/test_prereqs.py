"""Prerequisites: each idempotent, tagged as the suite's, and explicit about what it will not create."""

from __future__ import annotations

import json

import pytest

from helpers import prereqs
from helpers.errors import InvalidParameter, MissingPrerequisite
from helpers.tags import SUITE_TAG_KEY, is_suite_tagged


def test_cluster_has_both_capacity_providers_and_is_created_once(session):
    arn = prereqs.ensure_cluster(session, "lab")
    assert prereqs.ensure_cluster(session, "lab") == arn
    ecs = session.client("ecs")
    assert len(ecs.list_clusters()["clusterArns"]) == 1
    cluster = ecs.describe_clusters(clusters=["lab"], include=["TAGS"])["clusters"][0]
    assert set(cluster["capacityProviders"]) == {"FARGATE", "FARGATE_SPOT"}
    assert is_suite_tagged(cluster["tags"])


def test_an_existing_cluster_gets_the_providers_but_not_the_suite_tags(session):
    ecs = session.client("ecs")
    ecs.create_cluster(clusterName="theirs")
    prereqs.ensure_cluster(session, "theirs")
    cluster = ecs.describe_clusters(clusters=["theirs"], include=["TAGS"])["clusters"][0]
    assert set(cluster["capacityProviders"]) == {"FARGATE", "FARGATE_SPOT"}
    assert not is_suite_tagged(cluster.get("tags"))


def test_log_group_has_retention_and_tags(session):
    assert prereqs.ensure_log_group(session, "/fargate-lab/demo", retention_days=14) == "/fargate-lab/demo"
    prereqs.ensure_log_group(session, "/fargate-lab/demo", retention_days=30)  # idempotent, updates retention
    logs = session.client("logs")
    groups = logs.describe_log_groups(logGroupNamePrefix="/fargate-lab/demo")["logGroups"]
    assert len(groups) == 1 and groups[0]["retentionInDays"] == 30
    assert SUITE_TAG_KEY in logs.list_tags_log_group(logGroupName="/fargate-lab/demo")["tags"]
    with pytest.raises(InvalidParameter, match="retention_days"):
        prereqs.ensure_log_group(session, "/fargate-lab/other", retention_days=10)


def test_execution_role_is_created_only_when_allowed(session):
    with pytest.raises(MissingPrerequisite, match="allow_create=True"):
        prereqs.ensure_execution_role(session)
    iam = session.client("iam")
    assert iam.list_roles()["Roles"] == []
    arn = prereqs.ensure_execution_role(session, allow_create=True)
    assert prereqs.ensure_execution_role(session) == arn
    role = iam.get_role(RoleName=prereqs.EXECUTION_ROLE_NAME)["Role"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    attached = iam.list_attached_role_policies(RoleName=prereqs.EXECUTION_ROLE_NAME)["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [prereqs.EXECUTION_POLICY_ARN]
    assert is_suite_tagged(iam.list_role_tags(RoleName=prereqs.EXECUTION_ROLE_NAME)["Tags"])
    document = iam.get_policy_version(PolicyArn=prereqs.EXECUTION_POLICY_ARN, VersionId="v1")
    assert "ecr:GetAuthorizationToken" in json.dumps(document["PolicyVersion"]["Document"])


def test_network_uses_the_default_vpc_and_the_suites_security_group(session):
    config = prereqs.network(session)
    assert prereqs.network(session) == config
    ec2 = session.client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    assert config["subnets"] == sorted(s["SubnetId"] for s in subnets)
    assert config["assignPublicIp"] == "ENABLED"
    (group_id,) = config["securityGroups"]
    groups = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    assert groups[0]["GroupName"] == prereqs.SECURITY_GROUP_NAME and groups[0]["VpcId"] == vpc
    assert is_suite_tagged(groups[0]["Tags"])
    assert groups[0]["IpPermissions"] == []
    named = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [prereqs.SECURITY_GROUP_NAME]}])
    assert len(named["SecurityGroups"]) == 1


def test_network_passes_given_subnets_and_groups_through(session):
    config = prereqs.network(session, subnets=["subnet-1"], security_groups=["sg-1"], assign_public_ip=False)
    assert config == {"subnets": ["subnet-1"], "securityGroups": ["sg-1"], "assignPublicIp": "DISABLED"}


def test_no_default_vpc_is_explained(session):
    ec2 = session.client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    for subnet in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]:
        ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    ec2.delete_vpc(VpcId=vpc)
    with pytest.raises(MissingPrerequisite, match="no default VPC: pass subnets"):
        prereqs.network(session)


def test_describe_clusters_counts_running_tasks_and_active_services(session):
    """moto leaves these counts at 0 for Fargate; the embedded backend counts like ECS."""
    import time

    from helpers import prereqs, taskdef, tasks

    prereqs.ensure_cluster(session, "counted")
    network = prereqs.network(session)
    td = taskdef.register(session, taskdef.fargate_task_definition(
        "counted", "busybox", cpu=256, memory=512, awslogs=False,
        environment={"FARGATE_LAB_SIMULATED_SECONDS": "60"})).arn
    ecs = session.client("ecs")
    ecs.create_service(cluster="counted", serviceName="web", taskDefinition=td, desiredCount=1,
                       launchType="FARGATE", networkConfiguration={"awsvpcConfiguration": network})
    tasks.run_task(session, "counted", td, count=2, network=network)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        cluster = ecs.describe_clusters(clusters=["counted"])["clusters"][0]
        if cluster["runningTasksCount"] == 3:
            break
        time.sleep(0.2)
    assert cluster["runningTasksCount"] == 3 and cluster["pendingTasksCount"] == 0
    assert cluster["activeServicesCount"] == 1


def _at_once(count: int, call) -> list:
    """Run ``call`` in ``count`` threads released together, as several notebooks starting at the same moment."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    barrier = threading.Barrier(count)

    def together(_):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(together, range(count)))


def test_find_or_create_is_safe_when_several_runs_race(session):
    """Four runs creating the same prerequisites at once: every loser finds what the winner made, one of each."""
    from helpers import ecr

    vpc = prereqs.default_vpc(session)
    groups = _at_once(4, lambda: prereqs.ensure_security_group(session, vpc))
    roles = _at_once(4, lambda: prereqs.ensure_execution_role(session, allow_create=True))
    clusters = _at_once(4, lambda: prereqs.ensure_cluster(session, "race"))
    logs = _at_once(4, lambda: prereqs.ensure_log_group(session, "/race/logs"))
    repos = _at_once(4, lambda: ecr.ensure_repository(session, "race/app"))
    assert len(set(groups)) == len(set(roles)) == len(set(clusters)) == len(set(logs)) == len(set(repos)) == 1
    found = session.client("ec2").describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [prereqs.SECURITY_GROUP_NAME]}])["SecurityGroups"]
    assert [g["GroupId"] for g in found] == groups[:1]
    assert len(session.client("ecs").list_clusters()["clusterArns"]) == 1
