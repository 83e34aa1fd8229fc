"""What a Fargate task needs before it runs: a cluster, a log group, an execution role, networking.

Each function is idempotent (a second call finds what the first created) and tags what
it creates as the suite's. Nothing that exists already is re-tagged: the suite's tags
mean "the suite created this", and cleanup relies on that.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import botocore.exceptions

from helpers.errors import InvalidParameter, MissingPrerequisite
from helpers.fargate import CAPACITY_PROVIDERS
from helpers.tags import as_aws, suite_tags

DEFAULT_CLUSTER = "fargate-lab"
EXECUTION_ROLE_NAME = "fargate-lab-task-execution"
#: AWS's managed policy for pulling from ECR and writing to CloudWatch Logs.
EXECUTION_POLICY_ARN = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
SECURITY_GROUP_NAME = "fargate-lab-tasks"
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                  3288, 3653)
_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
}


def ensure_cluster(session: Any, name: str = DEFAULT_CLUSTER, *, tags: Mapping[str, str] | None = None) -> str:
    """The ARN of cluster ``name`` with the FARGATE and FARGATE_SPOT capacity providers (created if missing)."""
    ecs = session.client("ecs")
    found = ecs.describe_clusters(clusters=[name], include=["TAGS"])["clusters"]
    active = [c for c in found if c.get("status") == "ACTIVE"]
    if not active:
        created = ecs.create_cluster(
            clusterName=name,
            capacityProviders=list(CAPACITY_PROVIDERS),
            defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}],
            tags=as_aws(suite_tags(tags), "key"),
        )
        return created["cluster"]["clusterArn"]
    cluster = active[0]
    if not set(CAPACITY_PROVIDERS) <= set(cluster.get("capacityProviders") or []):
        providers = sorted(set(cluster.get("capacityProviders") or []) | set(CAPACITY_PROVIDERS))
        strategy = cluster.get("defaultCapacityProviderStrategy") or [{"capacityProvider": "FARGATE", "weight": 1}]
        ecs.put_cluster_capacity_providers(cluster=name, capacityProviders=providers,
                                           defaultCapacityProviderStrategy=strategy)
    return cluster["clusterArn"]


def check_retention_days(retention_days: int) -> None:
    """InvalidParameter unless ``retention_days`` is one of CloudWatch Logs' retention values."""
    if retention_days not in RETENTION_DAYS:
        raise InvalidParameter("retention_days", retention_days,
                               f"one of CloudWatch Logs' retention values: {', '.join(map(str, RETENTION_DAYS))}")


def ensure_log_group(session: Any, name: str, *, retention_days: int = 7,
                     tags: Mapping[str, str] | None = None) -> str:
    """Log group ``name`` with ``retention_days`` retention (created if missing); returns its name."""
    check_retention_days(retention_days)
    logs = session.client("logs")
    try:
        logs.create_log_group(logGroupName=name, tags=as_aws(suite_tags(tags), "dict"))
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    logs.put_retention_policy(logGroupName=name, retentionInDays=retention_days)
    return name


def ensure_tasks_role(session: Any, name: str, *, allow_create: bool, missing: str, description: str,
                      tags: Mapping[str, str] | None = None) -> tuple[str, bool]:
    """(ARN, created) of role ``name``, which ECS tasks may assume; created (tagged) only if ``allow_create``,
    else MissingPrerequisite saying ``missing``. ``created`` tells the caller to give the new role its policy; a
    role another run created between our look and our create counts as created (its policy may not be there)."""
    iam = session.client("iam")
    try:
        return iam.get_role(RoleName=name)["Role"]["Arn"], False
    except iam.exceptions.NoSuchEntityException:
        if not allow_create:
            raise MissingPrerequisite(missing) from None
    try:
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(_TRUST_POLICY),
                               Description=description, Tags=as_aws(suite_tags(tags), "Key"))["Role"]
    except iam.exceptions.EntityAlreadyExistsException:
        role = iam.get_role(RoleName=name)["Role"]
    return role["Arn"], True


def ensure_execution_role(session: Any, name: str = EXECUTION_ROLE_NAME, *, allow_create: bool = False,
                          tags: Mapping[str, str] | None = None) -> str:
    """The ARN of the task execution role ``name``; created with AWS's managed policy only if ``allow_create``.

    ECS uses this role to pull private ECR images, write awslogs and read secrets.
    Creating IAM roles is a privileged act, so it happens only when asked for.
    """
    arn, created = ensure_tasks_role(
        session, name, allow_create=allow_create, tags=tags,
        missing=(f"the task execution role {name!r} does not exist. Create it with "
                 f"ensure_execution_role(session, allow_create=True) (it gets AWS's managed policy "
                 f"AmazonECSTaskExecutionRolePolicy), or pass the ARN of an existing execution role"),
        description="fargate-lab: lets ECS pull images, write logs and read secrets for the suite's tasks")
    if created:
        iam = session.client("iam")
        iam.attach_role_policy(RoleName=name, PolicyArn=EXECUTION_POLICY_ARN)  # attaching twice is a no-op
        iam.get_waiter("role_exists").wait(RoleName=name, WaiterConfig={"Delay": 2, "MaxAttempts": 15})
    return arn


def default_vpc(session: Any) -> str:
    """The region's default VPC id; MissingPrerequisite when there is none."""
    ec2 = session.client("ec2")
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
    if not vpcs:
        raise MissingPrerequisite(
            f"region {session.region_name} has no default VPC: pass subnets=[...] and security_groups=[...] "
            "of a VPC whose subnets reach ECR and CloudWatch Logs (public IP, NAT gateway or VPC endpoints)"
        )
    return vpcs[0]["VpcId"]


def ensure_security_group(session: Any, vpc_id: str, name: str = SECURITY_GROUP_NAME, *,
                          tags: Mapping[str, str] | None = None, description: str | None = None) -> str:
    """The suite's security group ``name`` in ``vpc_id`` (all egress, no ingress), created if missing."""
    ec2 = session.client("ec2")
    found = _security_group_id(ec2, vpc_id, name)
    if found:
        return found
    try:
        created = ec2.create_security_group(
            GroupName=name, VpcId=vpc_id,
            Description=description or "fargate-lab tasks: outbound only (image pulls, logs)",
            TagSpecifications=[{"ResourceType": "security-group", "Tags": as_aws(suite_tags(tags), "Key")}],
        )
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "InvalidGroup.Duplicate":
            raise
        return _security_group_id(ec2, vpc_id, name)  # another run won the race: use what it made
    return created["GroupId"]


def _security_group_id(ec2: Any, vpc_id: str, name: str) -> str | None:
    found = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [name]}, {"Name": "vpc-id", "Values": [vpc_id]}]
    )["SecurityGroups"]
    return found[0]["GroupId"] if found else None


def network(session: Any, subnets: Sequence[str] | None = None, security_groups: Sequence[str] | None = None,
            *, assign_public_ip: bool = True) -> dict:
    """An ``awsvpcConfiguration``: the given subnets/groups, else the default VPC's subnets and the suite's group.

    A public IP lets a task in a default (public) subnet reach ECR and CloudWatch Logs.
    """
    vpc_id = None
    if not subnets:
        vpc_id = default_vpc(session)
        found = session.client("ec2").describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
        subnets = sorted(s["SubnetId"] for s in found)
        if not subnets:
            raise MissingPrerequisite(f"the default VPC {vpc_id} has no subnets: pass subnets=[...]")
    if not security_groups:
        if vpc_id is None:
            vpc_id = session.client("ec2").describe_subnets(SubnetIds=[subnets[0]])["Subnets"][0]["VpcId"]
        security_groups = [ensure_security_group(session, vpc_id)]
    return {
        "subnets": list(subnets),
        "securityGroups": list(security_groups),
        "assignPublicIp": "ENABLED" if assign_public_ip else "DISABLED",
    }
