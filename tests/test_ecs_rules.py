"""The embedded backend refuses and stores task definitions and RunTasks as ECS does (emulator/ecs_rules.py).

RegisterTaskDefinition: "Task-level CPU and memory parameters ... can be expressed as an integer using CPU units
or MiB, or as a string using vCPUs or GB. ... when the task definition is registered, a vCPU value is converted
to an integer indicating the CPU units" (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_definition_parameters.html#task_size);
"For task definitions that use the awsvpc network mode, ... the hostPort can either be left blank or set to the
same value as the containerPort" (same page, portMappings); errors are ClientException
(https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RegisterTaskDefinition.html).
RunTask: InvalidParameterException for a bad parameter; ``failures`` lists what could not be placed
(https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RunTask.html, API_Failure.html).
"""

from __future__ import annotations

import botocore.exceptions
import pytest

from helpers import local, prereqs
from helpers.session import LabSession


@pytest.fixture
def sim(simulated_backend) -> LabSession:
    local.reset(simulated_backend.port)
    return LabSession(backend="local", endpoint_url=simulated_backend.url, region_name="us-east-1",
                      **local.CREDENTIALS)


def _definition(**changes) -> dict:
    container = {"name": "app", "image": "busybox:latest", "essential": True, **changes.pop("container", {})}
    return {"family": "rules", "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc", "cpu": "256",
            "memory": "512", "containerDefinitions": [container], **changes}


def _refused(ecs, **params) -> botocore.exceptions.ClientError:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        ecs.register_task_definition(**params)
    return caught.value


def test_vcpu_and_gb_are_stored_as_units(sim):
    ecs = sim.client("ecs")
    registered = ecs.register_task_definition(**_definition(cpu="1 vCPU", memory="2 GB"))["taskDefinition"]
    assert (registered["cpu"], registered["memory"]) == ("1024", "2048")
    described = ecs.describe_task_definition(taskDefinition="rules")["taskDefinition"]
    assert (described["cpu"], described["memory"]) == ("1024", "2048")
    quarter = ecs.register_task_definition(**_definition(cpu=".25 vCPU", memory="0.5 GB"))["taskDefinition"]
    assert (quarter["cpu"], quarter["memory"]) == ("256", "512")


@pytest.mark.parametrize("changes", [
    {"container": {"memory": 1024}},  # a container's hard limit over the task's 512 MiB
    {"containerDefinitions": [{"name": "a", "image": "busybox", "memory": 300},
                              {"name": "b", "image": "busybox", "memory": 300}]},
    {"container": {"portMappings": [{"containerPort": 80, "hostPort": 8080}]}},
    {"container": {"essential": False}},
])
def test_what_ecs_refuses_is_a_client_exception(sim, changes):
    ecs = sim.client("ecs")
    error = _refused(ecs, **_definition(**changes))
    assert error.response["Error"]["Code"] == "ClientException"
    assert ecs.list_task_definitions(familyPrefix="rules")["taskDefinitionArns"] == []


def test_matching_host_port_and_sums_within_the_task_are_accepted(sim):
    ecs = sim.client("ecs")
    ecs.register_task_definition(**_definition(containerDefinitions=[
        {"name": "a", "image": "busybox", "memory": 256, "portMappings": [{"containerPort": 80, "hostPort": 80}]},
        {"name": "b", "image": "busybox", "memory": 256, "essential": False}]))


def test_bad_subnet_or_group_is_ecs_invalid_parameter(sim):
    ecs = sim.client("ecs")
    prereqs.ensure_cluster(sim, "rules")
    arn = ecs.register_task_definition(**_definition())["taskDefinition"]["taskDefinitionArn"]
    network = prereqs.network(sim)
    for bad in ({"subnets": ["subnet-0000000000000000f"]}, {"securityGroups": ["sg-0000000000000000f"]}):
        with pytest.raises(botocore.exceptions.ClientError) as caught:
            ecs.run_task(cluster="rules", taskDefinition=arn, launchType="FARGATE",
                         networkConfiguration={"awsvpcConfiguration": {**network, **bad}})
        assert caught.value.response["Error"]["Code"] == "InvalidParameterException"
        assert list(bad.values())[0][0] in caught.value.response["Error"]["Message"]
    assert ecs.list_tasks(cluster="rules", desiredStatus="STOPPED")["taskArns"] == []


def test_ec2_launch_type_on_a_cluster_without_instances_is_a_failure_entry(sim):
    ecs = sim.client("ecs")
    cluster = ecs.create_cluster(clusterName="empty")["cluster"]["clusterArn"]
    definition = {**_definition(), "requiresCompatibilities": ["EC2"], "networkMode": "bridge"}
    arn = ecs.register_task_definition(**definition)["taskDefinition"]["taskDefinitionArn"]
    answer = ecs.run_task(cluster="empty", taskDefinition=arn, launchType="EC2")
    assert answer["tasks"] == []
    assert answer["failures"] == [{"arn": cluster, "reason": "No Container Instances were found in your cluster."}]
