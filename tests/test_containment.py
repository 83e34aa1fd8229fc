"""Containers stay contained, as on Fargate: a task definition that asks for the host is refused at registration
with ECS's ClientException, and a container the Docker runtime creates never gets privileges, host namespaces,
host paths or capabilities beyond SYS_PTRACE, whatever the task definition says.

https://docs.aws.amazon.com/AmazonECS/latest/bestpracticesguide/fargate-security-considerations.html
https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_KernelCapabilities.html (Fargate adds SYS_PTRACE only)
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from emulator import containment
from emulator.container_spec import plan_task
from tests.conftest import free_port
from tests.test_docker_runtime import executor, launch, wait_for  # noqa: F401 - the executor fixture

FARGATE = {"requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc", "cpu": "256", "memory": "512"}
APP = {"name": "app", "image": "busybox", "essential": True}

REFUSED = [
    ("privileged", {"containerDefinitions": [{**APP, "privileged": True}]}, "privileged"),
    ("host path", {"containerDefinitions": [{**APP, "mountPoints": [{"sourceVolume": "sock", "containerPath": "/s"}]}],
                   "volumes": [{"name": "sock", "host": {"sourcePath": "/var/run/docker.sock"}}]}, "sourcePath"),
    ("docker volume", {"containerDefinitions": [APP], "volumes": [
        {"name": "v", "dockerVolumeConfiguration": {"driver": "local", "scope": "task"}}]}, "dockerVolumeConfiguration"),
    ("capability", {"containerDefinitions": [{**APP, "linuxParameters": {"capabilities": {"add": ["SYS_ADMIN"]}}}]},
     "SYS_PTRACE"),
    ("all capabilities", {"containerDefinitions": [{**APP, "linuxParameters": {"capabilities": {"add": ["ALL"]}}}]},
     "SYS_PTRACE"),
    ("device", {"containerDefinitions": [{**APP, "linuxParameters": {"devices": [{"hostPath": "/dev/kmsg"}]}}]},
     "devices"),
    ("host pid", {"containerDefinitions": [APP], "pidMode": "host"}, "pidMode"),
    ("host ipc", {"containerDefinitions": [APP], "ipcMode": "host"}, "ipcMode"),
    ("host network", {"containerDefinitions": [APP], "networkMode": "host"}, "awsvpc"),
    ("security options", {"containerDefinitions": [{**APP, "dockerSecurityOptions": ["seccomp=unconfined"]}]},
     "dockerSecurityOptions"),
]


@pytest.mark.parametrize("what,definition,named", REFUSED, ids=[r[0] for r in REFUSED])
def test_a_fargate_task_definition_that_asks_for_the_host_is_refused(session, what, definition, named):
    ecs = session.client("ecs")
    with pytest.raises(ClientError) as refused:
        ecs.register_task_definition(family="fargate-lab-contained", **{**FARGATE, **definition})
    assert refused.value.response["Error"]["Code"] == "ClientException"
    assert named in refused.value.response["Error"]["Message"]
    assert ecs.list_task_definitions(familyPrefix="fargate-lab-contained")["taskDefinitionArns"] == []


def test_sys_ptrace_and_a_task_local_volume_are_what_fargate_allows(session):
    ecs = session.client("ecs")
    answer = ecs.register_task_definition(family="fargate-lab-contained", **FARGATE, volumes=[{"name": "scratch"}],
                                          containerDefinitions=[{**APP, "linuxParameters": {
                                              "capabilities": {"add": ["SYS_PTRACE"], "drop": ["NET_RAW"]}}}])
    assert answer["taskDefinition"]["revision"] == 1


def test_the_runtime_passes_only_sys_ptrace_and_drops_as_asked():
    definition = {"family": "x", "containerDefinitions": [{**APP, "privileged": True, "linuxParameters": {
        "capabilities": {"add": ["SYS_PTRACE", "SYS_ADMIN", "NET_ADMIN"], "drop": ["NET_RAW"]},
        "devices": [{"hostPath": "/dev/mem"}]}}]}
    plan = plan_task(definition, None, "t1", {}, "fargate-lab-test")[0]
    assert plan.create_kwargs.get("cap_add") == ["SYS_PTRACE"] and plan.create_kwargs["cap_drop"] == ["NET_RAW"]
    assert not {"privileged", "devices", "volumes", "mounts"} & set(plan.create_kwargs)
    containment.check_create("app", plan.create_kwargs)  # what the runtime would pass is contained


@pytest.mark.parametrize("kwargs", [
    {"privileged": True}, {"volumes": {"/var/run/docker.sock": {"bind": "/s", "mode": "rw"}}},
    {"mounts": ["x"]}, {"pid_mode": "host"}, {"ipc_mode": "host"}, {"network_mode": "host"},
    {"cap_add": ["SYS_ADMIN"]}, {"cap_add": ["ALL"]}, {"devices": ["/dev/kmsg:/dev/kmsg"]},
    {"security_opt": ["apparmor=unconfined"]}, {"userns_mode": "host"},
    {"ports": {"80/tcp": ("0.0.0.0", 8080)}}, {"ports": {"80/tcp": 8080}},
])
def test_the_last_check_before_the_engine_refuses_anything_more(kwargs):
    with pytest.raises(containment.NotContained, match="'app'"):
        containment.check_create("app", kwargs)


@pytest.mark.docker
def test_a_real_container_is_unprivileged_with_default_capabilities_and_no_host_paths(executor,  # noqa: F811
                                                                                      docker_client, base_image):
    """An EC2-compatible definition may say privileged (ECS registers it): the container still is not."""
    task_id, _ = launch(executor, [{
        "name": "app", "image": base_image, "stopTimeout": 1, "privileged": True, "portMappings": [{"containerPort": free_port()}],
        "command": ["sh", "-c", "sleep 30"],
        "linuxParameters": {"capabilities": {"add": ["SYS_PTRACE", "SYS_ADMIN"]}}}])
    wait_for(lambda: executor.state(task_id).last_status == "RUNNING")
    host = docker_client.containers.get(executor.state(task_id).containers["app"].runtime_id).attrs["HostConfig"]
    assert host["Privileged"] is False and host["CapAdd"] == ["SYS_PTRACE"]
    assert not host.get("Binds") and not host.get("Mounts") and not host.get("Devices")
    assert host["NetworkMode"] not in ("host",) and host["PidMode"] in ("", "private")
    assert host["IpcMode"] in ("private", "shareable", "")
    assert all(b["HostIp"] == "127.0.0.1" for bindings in host["PortBindings"].values() for b in bindings)
    executor.stop(task_id, "done")
