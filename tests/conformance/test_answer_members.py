"""The members ECS and ECR document in their answers are there, with the values AWS gives them.

Task (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Task.html): ``healthStatus``, ``attributes``,
``fargateEphemeralStorage``; its lifecycle goes PROVISIONING, PENDING, ACTIVATING, RUNNING, DEACTIVATING, STOPPING,
DEPROVISIONING, STOPPED (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-lifecycle-explanation.html).
StopTask answers the task with ``stopCode``, ``stoppedReason`` and ``stoppingAt``
(https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_StopTask.html). Container
(https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Container.html): ``imageDigest``, and ``reason`` on
CannotPullContainerError (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/stopped-task-error-codes.html).
TaskDefinition: ``registeredBy``, ``requiresAttributes`` (.../API_TaskDefinition.html). Service: ``createdBy``,
``enableExecuteCommand``, ``platformFamily`` (.../API_Service.html). ECR ImageDetail: ``artifactMediaType``,
``lastRecordedPullTime`` (https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_ImageDetail.html).
"""

from __future__ import annotations

import pytest

from helpers import local
from tests.conformance.conftest import ecr_image

CLUSTER = "members"
REPOSITORY = "conformance/members"


@pytest.fixture
def ecs(aws, client):
    ecs = aws.client("ecs")
    ecs.create_cluster(clusterName=CLUSTER)
    local.set_clock("manual", client.info.port)
    return ecs


def _network(aws) -> dict:
    subnet = aws.client("ec2").describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])
    return {"awsvpcConfiguration": {"subnets": [subnet["Subnets"][0]["SubnetId"]]}}


def _register(ecs, image: str, **extra) -> dict:
    return ecs.register_task_definition(
        family="members", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[{"name": "app", "image": image, "essential": True}], **extra)["taskDefinition"]


def _describe(ecs, arn: str) -> dict:
    return ecs.describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"][0]


def test_task_members_and_every_lifecycle_state(aws, client, ecs):
    uri = aws.client("ecr").create_repository(repositoryName=REPOSITORY)["repository"]["repositoryUri"]
    digest = ecr_image(aws.client("ecr"), REPOSITORY, "v1")
    definition = _register(ecs, f"{uri}:v1", runtimePlatform={"cpuArchitecture": "ARM64",
                                                              "operatingSystemFamily": "LINUX"})
    assert definition["registeredBy"].startswith("arn:aws:iam::")
    names = [a["name"] for a in definition["requiresAttributes"]]
    assert "ecs.capability.task-eni" in names and "com.amazonaws.ecs.capability.ecr-auth" in names
    [task] = ecs.run_task(cluster=CLUSTER, taskDefinition=definition["taskDefinitionArn"], launchType="FARGATE",
                          networkConfiguration=_network(aws))["tasks"]
    assert task["healthStatus"] == "UNKNOWN"
    assert task["attributes"] == [{"name": "ecs.cpu-architecture", "value": "arm64"}]
    assert task["fargateEphemeralStorage"] == {"sizeInGiB": 20} == task["ephemeralStorage"]
    assert "imageDigest" not in task["containers"][0]  # not pulled yet

    seen = [task["lastStatus"]]
    for _ in range(200):
        local.advance_clock(0.05, client.info.port)
        now = _describe(ecs, task["taskArn"])
        if now["lastStatus"] != seen[-1]:
            seen.append(now["lastStatus"])
        if now["lastStatus"] == "STOPPED":
            break
    assert seen == ["PROVISIONING", "PENDING", "ACTIVATING", "RUNNING", "DEACTIVATING", "STOPPING",
                    "DEPROVISIONING", "STOPPED"]
    assert now["containers"][0]["imageDigest"] == digest
    [detail] = aws.client("ecr").describe_images(repositoryName=REPOSITORY)["imageDetails"]
    assert detail["artifactMediaType"] == "application/vnd.docker.container.image.v1+json"
    assert detail["lastRecordedPullTime"]  # the task's start pulled it


def test_stop_task_answers_stop_code_reason_and_stopping_at(aws, client, ecs):
    definition = _register(ecs, "busybox")
    [task] = ecs.run_task(cluster=CLUSTER, taskDefinition=definition["taskDefinitionArn"], launchType="FARGATE",
                          networkConfiguration=_network(aws))["tasks"]
    local.advance_clock(0.8, client.info.port)
    assert _describe(ecs, task["taskArn"])["lastStatus"] == "RUNNING"
    stopped = ecs.stop_task(cluster=CLUSTER, task=task["taskArn"], reason="maintenance")["task"]
    assert stopped["desiredStatus"] == "STOPPED"
    assert stopped["stopCode"] == "UserInitiated" and stopped["stoppedReason"] == "maintenance"
    assert stopped["stoppingAt"]


def test_a_missing_image_gives_the_container_cannot_pull_reason(aws, client, ecs):
    uri = aws.client("ecr").create_repository(repositoryName=REPOSITORY)["repository"]["repositoryUri"]
    definition = _register(ecs, f"{uri}:absent")
    [task] = ecs.run_task(cluster=CLUSTER, taskDefinition=definition["taskDefinitionArn"], launchType="FARGATE",
                          networkConfiguration=_network(aws))["tasks"]
    local.advance_clock(5, client.info.port)
    now = _describe(ecs, task["taskArn"])
    assert now["lastStatus"] == "STOPPED" and now["stopCode"] == "TaskFailedToStart"
    assert now["stoppedReason"].startswith("CannotPullContainerError:")
    assert now["containers"][0]["reason"].startswith("CannotPullContainerError:")


def test_ecr_pull_time_service_members(aws, client, ecs):
    ecr = aws.client("ecr")
    ecr.create_repository(repositoryName=REPOSITORY)
    ecr_image(ecr, REPOSITORY, "v1")
    [detail] = ecr.describe_images(repositoryName=REPOSITORY)["imageDetails"]
    assert "lastRecordedPullTime" not in detail  # never pulled
    ecr.batch_get_image(repositoryName=REPOSITORY, imageIds=[{"imageTag": "v1"}])
    [detail] = ecr.describe_images(repositoryName=REPOSITORY)["imageDetails"]
    assert detail["lastRecordedPullTime"]

    definition = _register(ecs, "busybox")
    service = ecs.create_service(cluster=CLUSTER, serviceName="web", taskDefinition=definition["taskDefinitionArn"],
                                 desiredCount=0, launchType="FARGATE", networkConfiguration=_network(aws))["service"]
    assert service["createdBy"].startswith("arn:aws:iam::") and service["enableExecuteCommand"] is False
    assert service["platformFamily"] == "Linux"
    updated = ecs.update_service(cluster=CLUSTER, service="web", enableExecuteCommand=True)["service"]
    assert updated["enableExecuteCommand"] is True
