"""What Fargate gives a task's containers, with real containers: the metadata endpoint v4 and task volumes.

Shapes: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-metadata-endpoint-v4-fargate-response.html
and its examples page (task-metadata-endpoint-v4-fargate-examples.html): the task's Limits in vCPUs and MiB,
each container's in CPU units and MiB. Volumes: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/bind-mounts.html
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from emulator.docker_runtime import LABEL_TASK
from emulator.executor import LaunchRequest
from emulator.task_endpoint import GATEWAY
from tests.test_docker_runtime import Sink, awslogs, executor, wait_for  # noqa: F401 - the fixture

pytestmark = pytest.mark.docker

ARN = "arn:aws:ecs:us-east-1:123456789012:task/lab/{}"
GET = "wget -q -O - "


def launch(runtime, containers: list[dict], volumes: list[dict] | None = None) -> tuple[str, Sink]:
    import uuid

    sink, task_id = Sink(), uuid.uuid4().hex
    runtime.launch(LaunchRequest(
        task_id=task_id, cluster="arn:aws:ecs:us-east-1:123456789012:cluster/lab",
        task_definition={"family": "meta", "revision": 3, "cpu": "256", "memory": "512", "networkMode": "awsvpc",
                         "containerDefinitions": containers, "volumes": volumes or []},
        overrides={}, log_sink=sink, resolve_secret=dict().__getitem__, resolve_image=lambda ref: ref,
        task_arn=ARN.format(task_id), region="us-east-1", availability_zone="us-east-1a", group="service:web",
    ))
    return task_id, sink


def test_metadata_endpoint_answers_the_task_its_containers_and_their_stats(executor, base_image):  # noqa: F811
    probe = (f"{GET}$ECS_CONTAINER_METADATA_URI_V4/task; echo; {GET}$ECS_CONTAINER_METADATA_URI_V4; echo; "
             f"sleep 1; {GET}$ECS_CONTAINER_METADATA_URI_V4/stats; echo; {GET}$ECS_CONTAINER_METADATA_URI_V4/task/stats;"
             " echo; echo region=$AWS_REGION creds=${AWS_CONTAINER_CREDENTIALS_FULL_URI:-none}")
    task_id, sink = launch(executor, [
        {"name": "probe", "image": base_image, "cpu": 128, "memory": 256, "logConfiguration": awslogs(),
         "command": ["sh", "-c", probe]},
        {"name": "side", "image": base_image, "essential": False, "stopTimeout": 1,
         "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]},
    ])
    state = executor.wait(task_id, timeout=60)
    assert state.containers["probe"].exit_code == 0, sink.messages()
    lines = sink.messages()
    task, container, stats, task_stats = (json.loads(line) for line in lines[:4])
    assert lines[4] == "region=us-east-1 creds=none"  # no taskRoleArn: no credentials URI
    assert task["TaskARN"] == ARN.format(task_id)
    assert (task["Family"], task["Revision"], task["LaunchType"], task["ServiceName"]) == ("meta", "3", "FARGATE",
                                                                                            "web")
    assert task["Limits"] == {"CPU": 0.25, "Memory": 512}
    assert task["AvailabilityZone"] == "us-east-1a" and task["KnownStatus"] == "RUNNING"
    ids = {c["Name"]: c["DockerId"] for c in task["Containers"]}
    assert ids == {"probe": state.containers["probe"].runtime_id, "side": state.containers["side"].runtime_id}
    assert container["Name"] == "probe" and container["Limits"] == {"CPU": 128, "Memory": 256}
    assert container["Labels"]["com.amazonaws.ecs.task-arn"] == ARN.format(task_id)
    assert container["Networks"][0]["NetworkMode"] == "awsvpc"
    assert container["Networks"][0]["IPv4Addresses"][0].startswith("169.254.170.")
    assert container["LogDriver"] == "awslogs"
    assert "memory_stats" in stats and "cpu_stats" in stats
    assert set(task_stats) == set(ids.values())


def test_the_endpoint_refuses_the_host_and_unknown_tokens(executor, base_image):  # noqa: F811
    task_id, sink = launch(executor, [{"name": "app", "image": base_image, "logConfiguration": awslogs(),
                                       "command": ["sh", "-c", "echo $ECS_CONTAINER_METADATA_URI_V4; "
                                                               f"{GET}${{ECS_CONTAINER_METADATA_URI_V4}}x || echo refused"]}])
    executor.wait(task_id, timeout=60)
    messages = sink.messages()
    uri = messages[0]
    assert uri.startswith(f"http://{GATEWAY}:") and "refused" in messages  # stdout and stderr: two pipes, any order
    assert any("404" in m for m in messages)  # another token names no container
    with pytest.raises(urllib.error.HTTPError) as answer:  # from the host (the gateway itself): not a task
        urllib.request.urlopen(uri + "/task", timeout=5)
    assert answer.value.code == 403


def test_a_task_volume_is_shared_between_its_containers_and_removed_with_the_task(executor, docker_client,  # noqa: F811
                                                                                  base_image):
    task_id, sink = launch(executor, [
        {"name": "writer", "image": base_image, "essential": False, "logConfiguration": awslogs(),
         "mountPoints": [{"sourceVolume": "shared", "containerPath": "/data"}],
         "command": ["sh", "-c", "echo written-by-writer > /data/note"]},
        {"name": "reader", "image": base_image, "logConfiguration": awslogs(),
         "dependsOn": [{"containerName": "writer", "condition": "SUCCESS"}],
         "volumesFrom": [{"sourceContainer": "writer", "readOnly": True}],
         "command": ["sh", "-c", "cat /data/note; echo again > /data/note || echo read-only; "
                                 "cat /also/note; ls /"]},
        {"name": "other", "image": base_image, "essential": False, "stopTimeout": 1,
         "mountPoints": [{"sourceVolume": "shared", "containerPath": "/also", "readOnly": True}],
         "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]},
    ], volumes=[{"name": "shared"}])
    state = executor.wait(task_id, timeout=60)
    assert state.containers["reader"].exit_code == 0, sink.messages()
    messages = sink.messages("/reader/" + task_id)
    assert "written-by-writer" in messages and "read-only" in messages  # stdout and stderr: two pipes, any order
    assert "also" not in messages  # the reader has the writer's volumes only, not the other's mount point
    # STOPPED is recorded first, then the containers and the volume go
    wait_for(lambda: docker_client.volumes.list(filters={"label": f"{LABEL_TASK}={task_id}"}) == [])


def test_a_mount_point_naming_no_volume_fails_the_task_before_it_starts(executor, base_image):  # noqa: F811
    task_id, _ = launch(executor, [{"name": "app", "image": base_image, "command": ["true"],
                                    "mountPoints": [{"sourceVolume": "missing", "containerPath": "/data"}]}])
    state = executor.wait(task_id, timeout=30)
    assert state.stop_code == "TaskFailedToStart"
    assert "names volume 'missing', not a volume of the task" in state.stopped_reason


def test_containment_lets_a_container_mount_only_its_own_task_volumes():
    from docker.types import Mount

    from emulator.containment import NotContained, check_create

    own = frozenset({"fargate-lab-1-t-shared"})
    check_create("app", {"mounts": [Mount("/data", "fargate-lab-1-t-shared", type="volume")]}, own)
    for refused in ({"mounts": [Mount("/data", "/etc", type="bind")]},
                    {"mounts": [Mount("/data", "fargate-lab-1-other-shared", type="volume")]},
                    {"volumes_from": ["abc123:rw"]}):
        with pytest.raises(NotContained):
            check_create("app", refused, own, frozenset({"def456"}))


def test_two_backends_on_one_engine_share_the_task_network_and_answer_only_their_own_tasks(executor, docker_client,  # noqa: F811
                                                                                           base_image):
    """Backends (a user's, each test worker's) share one network and its gateway, each endpoint on its own port."""
    import os
    import uuid

    from emulator.docker_runtime import DockerExecutor
    from emulator.task_endpoint import NETWORK, ensure_network

    other = DockerExecutor(port=f"test-{os.getpid()}-{uuid.uuid4().hex[:6]}", register_hooks=False, tick=0.1)
    try:
        probe = [{"name": "app", "image": base_image, "logConfiguration": awslogs(), "stopTimeout": 1,
                  "command": ["sh", "-c", f"echo $ECS_CONTAINER_METADATA_URI_V4; {GET}$ECS_CONTAINER_METADATA_URI_V4;"
                                          " echo; trap 'exit 0' TERM; while true; do sleep 0.2; done"]}]
        launched = [(runtime, *launch(runtime, probe)) for runtime in (executor, other)]
        uris, ids = [], []
        for _, task_id, sink in launched:
            lines = wait_for(lambda sink=sink: sink.messages() if len(sink.messages()) >= 2 else None)
            labels = json.loads(lines[1])["Labels"]
            assert labels["com.amazonaws.ecs.task-arn"] == ARN.format(task_id)  # its own backend answered
            uris.append(lines[0])
            ids.append(task_id)
        ports = [uri.split(":")[2].split("/")[0] for uri in uris]
        assert uris[0].startswith(f"http://{GATEWAY}:") and uris[1].startswith(f"http://{GATEWAY}:")
        assert ports[0] != ports[1]
        assert ensure_network(docker_client) == ensure_network(docker_client) == NETWORK  # created once, found after
        assert len(docker_client.networks.list(names=[NETWORK])) == 1
        attached = docker_client.networks.get(NETWORK).attrs["Containers"] or {}
        owners = {runtime.state(task_id).containers["app"].runtime_id for runtime, task_id, _ in launched}
        assert owners <= set(attached)  # both tasks on the one network
        for runtime, task_id in zip((executor, other), ids, strict=True):
            runtime.stop(task_id, "done")
            assert runtime.wait(task_id, timeout=30).last_status == "STOPPED"
    finally:
        other.cleanup()
    assert docker_client.networks.list(names=[NETWORK]), "the shared network stays for the engine's other backends"
