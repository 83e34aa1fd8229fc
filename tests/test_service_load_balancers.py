"""CreateService and UpdateService check ``loadBalancers`` as ECS does, before anything is created; a task whose
target fails the target group's health checks after ``healthCheckGracePeriodSeconds`` is stopped and replaced.

ECS's rules for a service's load balancer (the container and port in the task definition, an ``ip`` target group
for awsvpc tasks, a target group attached to a load balancer):
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/alb.html and
https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_LoadBalancer.html
ECS's answers are InvalidParameterException with these messages ("The container web does not exist in the task
definition.", "The container app did not have a container port 80 defined.", "The provided target group ... has
target type instance, which is incompatible with the awsvpc network mode specified in the task definition.",
"The target group with targetGroupArn ... does not have an associated load balancer.").

Simulated runtime on a manual clock: each DescribeServices is a scheduler pass, time moves by advance_clock.
"""

from __future__ import annotations

import botocore.exceptions
import pytest

from helpers import loadbalancer, local, prereqs
from tests.backends import lab_session

CLUSTER, SERVICE = "lab", "web"


@pytest.fixture
def session(simulated_backend):
    local.reset(simulated_backend.port)
    local.set_clock("manual", simulated_backend.port)
    yield lab_session(simulated_backend)
    local.reset(simulated_backend.port)


def _port(session) -> int:
    return int(session.endpoint_url.rsplit(":", 1)[1])


def _task_definition(session, port: int = 8080, family: str = SERVICE) -> str:
    container = {"name": "app", "image": "busybox", "essential": True, "portMappings": [{"containerPort": port}]}
    return session.client("ecs").register_task_definition(
        family=family, requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256", memory="512",
        containerDefinitions=[container])["taskDefinition"]["taskDefinitionArn"]


def _create(session, entry: dict, **extra):
    prereqs.ensure_cluster(session, CLUSTER)
    return session.client("ecs").create_service(
        cluster=CLUSTER, serviceName=SERVICE, taskDefinition=SERVICE, desiredCount=1, launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": prereqs.network(session)}, loadBalancers=[entry], **extra)


def _refused(call, message: str) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        call()
    error = refused.value.response["Error"]
    assert (error["Code"], error["Message"]) == ("InvalidParameterException", message)


def _lb(session, **kwargs):
    return loadbalancer.ensure_load_balancer(session, SERVICE, container_port=8080, **kwargs)


def test_create_service_refuses_a_load_balancer_ecs_refuses_and_creates_nothing(session):
    lb = _lb(session)
    _task_definition(session)
    elbv2 = session.client("elbv2")
    vpc = prereqs.default_vpc(session)
    instance_group = elbv2.create_target_group(Name="by-instance", Protocol="HTTP", Port=8080, VpcId=vpc,
                                               TargetType="instance")["TargetGroups"][0]["TargetGroupArn"]
    lonely = elbv2.create_target_group(Name="no-balancer", Protocol="HTTP", Port=8080, VpcId=vpc,
                                       TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    good = lb.service_entry("app")
    _refused(lambda: _create(session, {**good, "containerName": "web"}),
             "The container web does not exist in the task definition.")
    _refused(lambda: _create(session, {**good, "containerPort": 80}),
             "The container app did not have a container port 80 defined.")
    _refused(lambda: _create(session, {**good, "targetGroupArn": instance_group}),
             f"The provided target group {instance_group} has target type instance, which is incompatible with "
             "the awsvpc network mode specified in the task definition.")
    _refused(lambda: _create(session, {**good, "targetGroupArn": lonely}),
             f"The target group with targetGroupArn {lonely} does not have an associated load balancer.")
    missing = lonely.replace("/no-balancer/", "/gone/")
    _refused(lambda: _create(session, {**good, "targetGroupArn": missing}),  # ECS's wording not documented
             f"The target group with targetGroupArn {missing} does not exist.")
    _refused(lambda: _create(session, {key: value for key, value in good.items() if key != "containerName"}),
             "Container Name can not be blank.")
    ecs = session.client("ecs")
    assert ecs.list_services(cluster=CLUSTER)["serviceArns"] == []  # nothing was created
    assert ecs.list_tasks(cluster=CLUSTER)["taskArns"] == []
    assert _create(session, good)["service"]["loadBalancers"] == [good]


def test_update_service_checks_the_new_task_definition_against_the_load_balancer(session):
    lb = _lb(session)
    _task_definition(session)
    _create(session, lb.service_entry("app"))
    other_port = _task_definition(session, port=9000)
    ecs = session.client("ecs")
    _refused(lambda: ecs.update_service(cluster=CLUSTER, service=SERVICE, taskDefinition=other_port),
             "The container app did not have a container port 8080 defined.")
    described = ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]
    assert described["taskDefinition"].endswith(f"{SERVICE}:1") and len(described["deployments"]) == 1
    _refused(lambda: ecs.update_service(cluster=CLUSTER, service=SERVICE,
                                        loadBalancers=[{**lb.service_entry("app"), "containerName": "db"}]),
             "The container db does not exist in the task definition.")
