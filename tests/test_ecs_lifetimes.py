"""How long ECS shows what stopped: a stopped task is described and listed for about an hour, then gone.

"Stopped tasks only appear in DescribeTasks ... for at least one hour"
(https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeTasks.html). The emulator's manual clock
stands for the hour (no sleeping).
"""

from __future__ import annotations

import pytest

from helpers import local, prereqs
from helpers.session import LabSession


@pytest.fixture
def sim(simulated_backend) -> LabSession:
    local.reset(simulated_backend.port)
    local.set_clock("manual", simulated_backend.port)
    yield LabSession(backend="local", endpoint_url=simulated_backend.url, region_name="us-east-1",
                     **local.CREDENTIALS)
    local.set_clock("real", simulated_backend.port)


def test_a_stopped_task_is_gone_an_hour_after_it_stopped(sim, simulated_backend):
    ecs = sim.client("ecs")
    prereqs.ensure_cluster(sim, "hour")
    arn = ecs.register_task_definition(
        family="hour", requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256", memory="512",
        containerDefinitions=[{"name": "app", "image": "busybox:latest", "essential": True, "environment": [
            {"name": "FARGATE_LAB_SIMULATED_SECONDS", "value": "0"}]}])["taskDefinition"]["taskDefinitionArn"]
    (task,) = ecs.run_task(cluster="hour", taskDefinition=arn, launchType="FARGATE",
                           networkConfiguration={"awsvpcConfiguration": prereqs.network(sim)})["tasks"]
    local.advance_clock(30, simulated_backend.port)
    described = ecs.describe_tasks(cluster="hour", tasks=[task["taskArn"]])["tasks"]
    assert described[0]["lastStatus"] == "STOPPED"
    local.advance_clock(3000, simulated_backend.port)
    assert ecs.list_tasks(cluster="hour", desiredStatus="STOPPED")["taskArns"] == [task["taskArn"]]
    local.advance_clock(700, simulated_backend.port)
    assert ecs.describe_tasks(cluster="hour", tasks=[task["taskArn"]])["tasks"] == []
    assert ecs.list_tasks(cluster="hour", desiredStatus="STOPPED")["taskArns"] == []
