"""The ECS part is kept task by task (emulator/ecs_part.py): what a request did to a task that already existed is on
disk before the answer, like a new task, and a state loaded and written again loses nothing.

Real server processes, ``kill -9`` right after the answers, started again and read back through the ECS API. TagResource
and UntagResource (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_TagResource.html) change tasks
the cluster held already, after more tasks were added.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from helpers import local, prereqs
from tests.backends import free_port, lab_session


@pytest.fixture
def port():
    chosen = free_port()
    yield chosen
    local.stop(chosen)


def _kill_and_start(info: local.ServerInfo) -> local.ServerInfo:
    os.kill(info.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while local._pid_alive(info.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return local.start(info.port, runtime="simulated")


def _run(ecs, network: dict, count: int) -> list[str]:
    definition = ecs.register_task_definition(
        family="kept", requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256", memory="512",
        containerDefinitions=[{"name": "app", "image": "busybox:latest", "essential": True}],
    )["taskDefinition"]["taskDefinitionArn"]
    return [t["taskArn"] for t in ecs.run_task(cluster="kept", taskDefinition=definition, launchType="FARGATE",
                                               count=count, networkConfiguration={"awsvpcConfiguration": network})["tasks"]]


def test_a_change_to_a_task_that_existed_survives_kill_9_twice(port):
    info = local.start(port, runtime="simulated")
    session = lab_session(info)
    ecs = session.client("ecs")
    ecs.create_cluster(clusterName="kept")
    network = prereqs.network(session)
    first, tagged, untagged = _run(ecs, network, 3)
    later = _run(ecs, network, 5)  # written after the first three: their bytes are kept, not pickled again
    ecs.tag_resource(resourceArn=tagged, tags=[{"key": "owner", "value": "learner"}])
    ecs.tag_resource(resourceArn=untagged, tags=[{"key": "owner", "value": "nobody"}, {"key": "team", "value": "a"}])
    ecs.untag_resource(resourceArn=untagged, tagKeys=["owner"])

    for _ in range(2):  # the second start loads what the first one wrote from the bytes it had loaded
        info = _kill_and_start(info)
        ecs = lab_session(info).client("ecs")
        tasks = {t["taskArn"]: t for t in ecs.describe_tasks(
            cluster="kept", tasks=[first, tagged, untagged, *later], include=["TAGS"])["tasks"]}
        assert sorted(tasks) == sorted([first, tagged, untagged, *later])
        assert tasks[tagged]["tags"] == [{"key": "owner", "value": "learner"}]
        assert tasks[first].get("tags", []) == []
        assert tasks[untagged]["tags"] == [{"key": "team", "value": "a"}]
        later.append(_run(ecs, network, 1)[0])  # the loaded backend takes changes too, kept by the next round
