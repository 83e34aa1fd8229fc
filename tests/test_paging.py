"""The embedded backend pages and limits lists as AWS does (emulator/limits.py is its record of the ranges).

ListTasks: "This value can be between 1 and 100. If this parameter isn't used, then ListTasks returns up to 100
results and a nextToken value if applicable." (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ListTasks.html)
ListServices returns up to 10 by default (.../API_ListServices.html). ListTaskDefinitions: "By default, (ASC) task
definitions are listed lexicographically by family name and in ascending numerical order by revision"; DESC
reverses it (.../API_ListTaskDefinitions.html). DescribeServices takes up to 10 services (.../API_DescribeServices.html).
ECR DescribeImages/ListImages/DescribeRepositories: 1-1000, default 100
(https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_DescribeImages.html). CloudWatch Logs
DescribeLogGroups: limit 1-50, default 50 (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_DescribeLogGroups.html).
EC2 DescribeSecurityGroups: MaxResults 5-1000 (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeSecurityGroups.html).
IAM ListRoles: MaxItems 1-1000, default 100, IsTruncated and Marker (https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListRoles.html).
Secrets Manager ListSecrets 1-100 (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_ListSecrets.html);
SSM DescribeParameters 1-50 (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_DescribeParameters.html);
EventBridge ListRules Limit 1-100 (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_ListRules.html).
"""

from __future__ import annotations

import hashlib
import json

import botocore.exceptions
import pytest

from helpers import local, prereqs
from helpers.session import LabSession

CLUSTER = "paging"


@pytest.fixture
def sim(simulated_backend) -> LabSession:
    local.reset(simulated_backend.port)
    return LabSession(backend="local", endpoint_url=simulated_backend.url, region_name="us-east-1",
                      **local.CREDENTIALS)


def _error(call, **kwargs) -> botocore.exceptions.ClientError:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**kwargs)
    return caught.value


def _code(error: botocore.exceptions.ClientError) -> str:
    return error.response["Error"]["Code"]


def _plain(family: str) -> dict:
    return {"family": family, "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc", "cpu": "256",
            "memory": "512", "containerDefinitions": [{"name": "app", "image": "busybox:latest", "essential": True,
                                      # simulated tasks stay RUNNING while the test lists them
                                      "environment": [{"name": "FARGATE_LAB_SIMULATED_SECONDS", "value": "3600"}]}]}


def test_list_tasks_pages_of_max_results_with_next_token(sim):
    ecs = sim.client("ecs")
    prereqs.ensure_cluster(sim, CLUSTER)
    arn = ecs.register_task_definition(**_plain("pager"))["taskDefinition"]["taskDefinitionArn"]
    network = prereqs.network(sim)
    started = []
    for _ in range(15):
        answer = ecs.run_task(cluster=CLUSTER, taskDefinition=arn, count=10, launchType="FARGATE",
                              networkConfiguration={"awsvpcConfiguration": network})
        started += [t["taskArn"] for t in answer["tasks"]]
    assert len(started) == 150

    first = ecs.list_tasks(cluster=CLUSTER, maxResults=5)
    assert len(first["taskArns"]) == 5 and first["nextToken"]
    default = ecs.list_tasks(cluster=CLUSTER)
    assert len(default["taskArns"]) == 100 and default["nextToken"]
    rest = ecs.list_tasks(cluster=CLUSTER, nextToken=default["nextToken"])
    assert len(rest["taskArns"]) == 50 and "nextToken" not in rest
    pages = ecs.get_paginator("list_tasks").paginate(cluster=CLUSTER, PaginationConfig={"PageSize": 7})
    seen = [a for page in pages for a in page["taskArns"]]
    assert sorted(seen) == sorted(started) and len(seen) == len(set(seen))

    for bad in (0, 101):
        assert _code(_error(ecs.list_tasks, cluster=CLUSTER, maxResults=bad)) == "InvalidParameterException"
    other = _error(ecs.list_tasks, cluster=CLUSTER, family="other", nextToken=first["nextToken"])
    assert _code(other) == "InvalidParameterException"
    assert _code(_error(ecs.list_tasks, cluster=CLUSTER, nextToken="not-a-token")) == "InvalidParameterException"


def test_list_task_definitions_sorted_by_family_then_revision(sim):
    ecs = sim.client("ecs")
    for family in ("zeta", "alpha", "zeta", "alpha", "zeta"):
        ecs.register_task_definition(**_plain(family))
    names = [a.rsplit("/", 1)[-1] for a in ecs.list_task_definitions()["taskDefinitionArns"]]
    assert names == ["alpha:1", "alpha:2", "zeta:1", "zeta:2", "zeta:3"]
    newest = ecs.list_task_definitions(sort="DESC", maxResults=1)
    assert [a.rsplit("/", 1)[-1] for a in newest["taskDefinitionArns"]] == ["zeta:3"] and newest["nextToken"]
    family = ecs.list_task_definitions(familyPrefix="zeta", sort="DESC")["taskDefinitionArns"]
    assert [a.rsplit("/", 1)[-1] for a in family] == ["zeta:3", "zeta:2", "zeta:1"]


def test_list_services_default_ten_and_describe_services_at_most_ten(sim):
    ecs = sim.client("ecs")
    prereqs.ensure_cluster(sim, CLUSTER)
    arn = ecs.register_task_definition(**_plain("svc"))["taskDefinition"]["taskDefinitionArn"]
    network = prereqs.network(sim)
    for i in range(12):
        ecs.create_service(cluster=CLUSTER, serviceName=f"s{i:02}", taskDefinition=arn, desiredCount=0,
                           launchType="FARGATE", networkConfiguration={"awsvpcConfiguration": network})
    first = ecs.list_services(cluster=CLUSTER)
    assert len(first["serviceArns"]) == 10 and first["nextToken"]
    assert len(ecs.list_services(cluster=CLUSTER, nextToken=first["nextToken"])["serviceArns"]) == 2
    names = [f"s{i:02}" for i in range(11)]
    assert _code(_error(ecs.describe_services, cluster=CLUSTER, services=names)) == "InvalidParameterException"
    assert len(ecs.describe_services(cluster=CLUSTER, services=names[:10])["services"]) == 10


def _upload_blob(ecr, repository: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    upload = ecr.initiate_layer_upload(repositoryName=repository)["uploadId"]
    ecr.upload_layer_part(repositoryName=repository, uploadId=upload, partFirstByte=0, partLastByte=len(data) - 1,
                          layerPartBlob=data)
    ecr.complete_layer_upload(repositoryName=repository, uploadId=upload, layerDigests=[digest])
    return digest


def test_ecr_pages(sim):
    ecr = sim.client("ecr")
    for i in range(3):
        ecr.create_repository(repositoryName=f"pager/r{i}")
    first = ecr.describe_repositories(maxResults=2)
    assert len(first["repositories"]) == 2 and first["nextToken"]
    assert len(ecr.describe_repositories(nextToken=first["nextToken"], maxResults=2)["repositories"]) == 1
    for tag in ("a", "b", "c"):
        config = json.dumps({"tag": tag}).encode()
        digest = _upload_blob(ecr, "pager/r0", config)
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                    "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(config),
                               "digest": digest}, "layers": []}
        ecr.put_image(repositoryName="pager/r0", imageManifest=json.dumps(manifest), imageTag=tag)
    images = ecr.describe_images(repositoryName="pager/r0", maxResults=1)
    assert len(images["imageDetails"]) == 1 and images["nextToken"]
    listed = ecr.list_images(repositoryName="pager/r0", maxResults=2)
    assert len(listed["imageIds"]) == 2 and listed["nextToken"]
    assert _code(_error(ecr.list_images, repositoryName="pager/r0", maxResults=1001)) == "InvalidParameterException"


def test_logs_ec2_iam_secrets_ssm_events_ranges_and_pages(sim):
    logs = sim.client("logs")
    for i in range(3):
        logs.create_log_group(logGroupName=f"/pager/{i}")
    page = logs.describe_log_groups(logGroupNamePrefix="/pager/", limit=2)
    assert len(page["logGroups"]) == 2 and page["nextToken"]
    assert _code(_error(logs.describe_log_groups, limit=51)) == "InvalidParameterException"

    ec2 = sim.client("ec2")
    vpc = prereqs.network(sim)  # the default VPC exists
    assert vpc
    for i in range(6):
        ec2.create_security_group(GroupName=f"pager-{i}", Description="paging")
    groups = ec2.describe_security_groups(MaxResults=5)
    assert len(groups["SecurityGroups"]) == 5 and groups["NextToken"]
    every = [g for p in ec2.get_paginator("describe_security_groups").paginate(PaginationConfig={"PageSize": 5})
             for g in p["SecurityGroups"]]
    assert len(every) == len(ec2.describe_security_groups()["SecurityGroups"]) >= 6
    assert _code(_error(ec2.describe_security_groups, MaxResults=1001)) == "InvalidParameterValue"

    iam = sim.client("iam")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    for i in range(3):
        iam.create_role(RoleName=f"pager-{i}", AssumeRolePolicyDocument=trust, Path="/pager/")
    roles = iam.list_roles(PathPrefix="/pager/", MaxItems=2)
    assert len(roles["Roles"]) == 2 and roles["IsTruncated"] and roles["Marker"]
    rest = iam.list_roles(PathPrefix="/pager/", MaxItems=2, Marker=roles["Marker"])
    assert len(rest["Roles"]) == 1 and not rest["IsTruncated"]
    assert _code(_error(iam.list_roles, MaxItems=1001)) == "ValidationError"

    secrets = sim.client("secretsmanager")
    for i in range(3):
        secrets.create_secret(Name=f"pager-{i}", SecretString="x")
    listed = secrets.list_secrets(MaxResults=2)
    assert len(listed["SecretList"]) == 2 and listed["NextToken"]
    assert _code(_error(secrets.list_secrets, MaxResults=101)) == "InvalidParameterException"

    ssm = sim.client("ssm")
    for i in range(3):
        ssm.put_parameter(Name=f"/pager/{i}", Value="x", Type="String")
    described = ssm.describe_parameters(MaxResults=2)
    assert len(described["Parameters"]) == 2 and described["NextToken"]
    assert _code(_error(ssm.describe_parameters, MaxResults=51)) == "ValidationException"

    events = sim.client("events")
    for i in range(3):
        events.put_rule(Name=f"pager-{i}", EventPattern=json.dumps({"source": ["aws.ecs"]}))
    rules = events.list_rules(Limit=2)
    assert len(rules["Rules"]) == 2 and rules["NextToken"]
    assert _code(_error(events.list_rules, Limit=101)) == "ValidationException"
