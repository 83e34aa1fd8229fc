"""fabfuel's ecs-deploy (pinned in requirements.txt) deploys, fails, rolls back and runs tasks on the embedded backend.

What it relies on is ECS's documented behaviour: UpdateService starts a new PRIMARY deployment and the old one stays
listed until its tasks have stopped (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Deployment.html);
ListTasks filters by ``serviceName`` (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ListTasks.html);
a task whose image cannot be pulled stops with ``CannotPullContainerError`` and the service says it "is unable to
consistently start tasks successfully" (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-event-messages-list.html);
DeregisterTaskDefinition makes a revision INACTIVE
(https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeregisterTaskDefinition.html); RunTask on Fargate
takes an awsvpc network configuration (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RunTask.html).
"""

from __future__ import annotations

import pytest

from tests.conformance.conftest import BIN, ecr_image

CLUSTER = "deploys"
REPOSITORY = "conformance/deploy"


@pytest.fixture
def service(aws, client):
    """A service of one task running ``REPOSITORY:v1`` (tags v1 and v2 exist in the embedded ECR)."""
    ecr, ecs = aws.client("ecr"), aws.client("ecs")
    uri = ecr.create_repository(repositoryName=REPOSITORY)["repository"]["repositoryUri"]
    for tag in ("v1", "v2"):
        ecr_image(ecr, REPOSITORY, tag)
    ecs.create_cluster(clusterName=CLUSTER)
    definition = ecs.register_task_definition(
        family="deploy", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[{"name": "app", "image": f"{uri}:v1", "essential": True}],
    )["taskDefinition"]["taskDefinitionArn"]
    ec2 = aws.client("ec2")
    subnet = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"][0]
    group = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["default"]},
                                                  {"Name": "vpc-id", "Values": [subnet["VpcId"]]}])
    ecs.create_service(cluster=CLUSTER, serviceName="web", taskDefinition=definition, desiredCount=1,
                       launchType="FARGATE", deploymentConfiguration={
                           "deploymentCircuitBreaker": {"enable": True, "rollback": False},
                           "maximumPercent": 200, "minimumHealthyPercent": 100},
                       networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet["SubnetId"]]}})
    ecs.get_waiter("services_stable").wait(cluster=CLUSTER, services=["web"],
                                           WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    return ecs, uri, subnet["SubnetId"], group["SecurityGroups"][0]["GroupId"]


def _ecs(client, *args: str):
    return client.run(str(BIN / "ecs"), *args, check=False, timeout=180)


def _current(ecs) -> tuple[str, list[str]]:
    [svc] = ecs.describe_services(cluster=CLUSTER, services=["web"])["services"]
    images = [t["containers"][0]["image"] for t in ecs.describe_tasks(
        cluster=CLUSTER, tasks=ecs.list_tasks(cluster=CLUSTER, serviceName="web")["taskArns"])["tasks"]
        if t["lastStatus"] == "RUNNING"]
    return svc["taskDefinition"].split("/")[-1], images


def test_deploy_a_new_tag_then_a_failed_deploy_rolls_back(client, service):
    ecs, uri, _, _ = service
    done = _ecs(client, "deploy", CLUSTER, "web", "--tag", "v2", "--timeout", "90")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Deployment successful" in done.stdout
    assert _current(ecs) == ("deploy:2", [f"{uri}:v2"])

    failed = _ecs(client, "deploy", CLUSTER, "web", "--tag", "missing", "--timeout", "90", "--rollback")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "unable to consistently start tasks successfully" in failed.stderr
    assert "Rollback successful" in failed.stdout
    assert _current(ecs) == ("deploy:2", [f"{uri}:v2"])  # back on the revision that worked
    broken = ecs.describe_task_definition(taskDefinition="deploy:3")["taskDefinition"]
    assert broken["containerDefinitions"][0]["image"] == f"{uri}:missing" and broken["status"] == "INACTIVE"
    stopped = ecs.describe_tasks(cluster=CLUSTER, tasks=ecs.list_tasks(
        cluster=CLUSTER, serviceName="web", desiredStatus="STOPPED")["taskArns"])["tasks"]
    reasons = {t["stoppedReason"].split(":")[0] for t in stopped if t["taskDefinitionArn"].endswith("deploy:3")}
    assert reasons == {"CannotPullContainerError"}


def test_ecs_run_starts_a_fargate_task(client, service):
    ecs, uri, subnet, group = service
    done = _ecs(client, "run", CLUSTER, "deploy", "--launchtype", "FARGATE", "--subnet", subnet,
                "--securitygroup", group, "-c", "app", "echo hi")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Successfully started 1 instances of task: deploy:" in done.stdout
    one_off = [t for t in ecs.describe_tasks(cluster=CLUSTER, tasks=ecs.list_tasks(cluster=CLUSTER)["taskArns"])[
        "tasks"] if t["group"].startswith("family:")]
    assert len(one_off) == 1 and one_off[0]["overrides"]["containerOverrides"][0]["command"] == ["echo", "hi"]
