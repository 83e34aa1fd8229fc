"""The embedded backend keeps what it acknowledged across ``kill -9`` and ``stop``/``start`` (emulator/persistence.py).

Each test runs real server processes on a port of its own (the state is kept per port in the test process's state
directory, ``state-PORT/``), kills or stops them, starts them again and reads back through the AWS APIs.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from helpers import local, prereqs
from helpers.errors import BackendError
from tests.backends import free_port, lab_session

ROOT = Path(__file__).resolve().parent.parent
FAMILY = "persisted"
CONTAINERS = [{"name": "app", "image": "busybox:latest", "essential": True}]


def _state(port: int) -> Path:
    return local.state_dir() / f"state-{port}"


def _kill(info: local.ServerInfo) -> None:
    os.kill(info.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while local._pid_alive(info.pid) and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.fixture
def port():
    chosen = free_port()
    yield chosen
    local.stop(chosen)


def _until(what, check, timeout: float = 30.0):
    """Poll ``check`` (the backend's scheduler works in real time) until it answers truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what}")


def _register(ecs, revisions: int = 2) -> str:
    for _ in range(revisions):
        arn = ecs.register_task_definition(
            family=FAMILY, requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256", memory="512",
            containerDefinitions=CONTAINERS)["taskDefinition"]["taskDefinitionArn"]
    return arn


def _registry_get(port: int, path: str, token: str) -> bytes:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Basic {token}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.read()


def test_kill_9_then_start_keeps_what_was_acknowledged_and_reconciles_what_ran(port, tmp_path):
    from helpers import ecr as lab_ecr
    from helpers.fleet import demo_image_layout

    info = local.start(port, runtime="simulated")
    session = lab_session(info)
    ecs, ecr, logs = session.client("ecs"), session.client("ecr"), session.client("logs")
    ecr.create_repository(repositoryName="kept/app")
    lab_ecr.push_image(session, demo_image_layout(tmp_path, "kept/app", "v1", 2048), "kept/app", "v1", progress=False)
    image = ecr.describe_images(repositoryName="kept/app")["imageDetails"][0]
    token = base64.b64decode(ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]).decode()
    basic = base64.b64encode(token.encode()).decode()
    manifest = json.loads(_registry_get(port, "/v2/kept/app/manifests/v1", basic))
    arn = _register(ecs)
    cluster = ecs.create_cluster(clusterName="kept")["cluster"]["clusterArn"]
    network = prereqs.network(session)
    ecs.create_service(cluster="kept", serviceName="web", taskDefinition=arn, desiredCount=2, launchType="FARGATE",
                       networkConfiguration={"awsvpcConfiguration": network})
    before = _until("the service steady", lambda: [
        t for t in ecs.list_tasks(cluster="kept", serviceName="web")["taskArns"]] if ecs.describe_services(
        cluster="kept", services=["web"])["services"][0]["runningCount"] == 2 else None)
    (one_off,) = [t["taskArn"] for t in ecs.run_task(
        cluster="kept", taskDefinition=arn, launchType="FARGATE", networkConfiguration={"awsvpcConfiguration": network},
        overrides={"containerOverrides": [{"name": "app", "environment": [
            {"name": "FARGATE_LAB_SIMULATED_SECONDS", "value": "600"}]}]})["tasks"]]
    _until("the one-off task running", lambda: ecs.describe_tasks(
        cluster="kept", tasks=[one_off])["tasks"][0]["lastStatus"] == "RUNNING")
    logs.create_log_group(logGroupName="kept")
    logs.create_log_stream(logGroupName="kept", logStreamName="s")
    logs.put_log_events(logGroupName="kept", logStreamName="s",
                        logEvents=[{"timestamp": int(time.time() * 1000), "message": "kept line"}])
    session.client("secretsmanager").create_secret(Name="kept/secret", SecretString="s3cret")
    session.client("ssm").put_parameter(Name="/kept/param", Value="42", Type="String")
    session.client("s3").create_bucket(Bucket="kept-bucket")
    session.client("s3").put_object(Bucket="kept-bucket", Key="k", Body=b"object bytes")
    role = prereqs.ensure_execution_role(session, allow_create=True)
    session.client("events").put_rule(Name="kept-rule", EventPattern=json.dumps({"source": ["aws.ecs"]}))
    _kill(info)

    again = local.start(port, runtime="simulated")
    assert again.pid != info.pid
    session = lab_session(again)
    ecs, ecr, logs = session.client("ecs"), session.client("ecr"), session.client("logs")
    assert ecr.describe_images(repositoryName="kept/app")["imageDetails"][0]["imageDigest"] == image["imageDigest"]
    # the token given before the crash still opens the registry, and every blob the manifest names is there
    assert json.loads(_registry_get(port, "/v2/kept/app/manifests/v1", basic)) == manifest
    for layer in manifest["layers"]:
        assert len(_registry_get(port, f"/v2/kept/app/blobs/{layer['digest']}", basic)) == layer["size"]
    assert ecs.list_task_definitions(familyPrefix=FAMILY)["taskDefinitionArns"] == [
        arn.replace(":2", ":1"), arn]
    assert ecs.describe_clusters(clusters=["kept"])["clusters"][0]["clusterArn"] == cluster
    stopped = ecs.describe_tasks(cluster="kept", tasks=[one_off])["tasks"][0]
    assert (stopped["lastStatus"], stopped["stopCode"]) == ("STOPPED", "TerminationNotice")
    assert "host went away" in stopped["stoppedReason"].lower() and "exit code is unknown" in stopped["stoppedReason"]
    assert "exitCode" not in stopped["containers"][0]
    # its ENI released as at any stop (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Attachment.html)
    assert stopped["attachments"][0]["status"] == "DELETED"
    eni = [d["value"] for d in stopped["attachments"][0]["details"] if d["name"] == "networkInterfaceId"][0]
    assert eni not in [i["NetworkInterfaceId"] for i in session.client("ec2").describe_network_interfaces()[
        "NetworkInterfaces"]]
    replaced = _until("the service steady again with new tasks", lambda: (lambda s: s if s["runningCount"] == 2
                      and s["deployments"][0]["rolloutState"] == "COMPLETED" else None)(
        ecs.describe_services(cluster="kept", services=["web"])["services"][0]))
    now_running = ecs.list_tasks(cluster="kept", serviceName="web")["taskArns"]
    assert len(now_running) == 2 and not set(now_running) & set(before)
    assert replaced["deployments"][0]["failedTasks"] == 0  # a lost host is not a failed deployment
    for old in ecs.describe_tasks(cluster="kept", tasks=before)["tasks"]:
        assert (old["lastStatus"], old["stopCode"]) == ("STOPPED", "TerminationNotice")
    assert replaced["events"][0]["message"].endswith("has reached a steady state.")
    events = logs.get_log_events(logGroupName="kept", logStreamName="s")["events"]
    assert [e["message"] for e in events] == ["kept line"]
    assert session.client("secretsmanager").get_secret_value(SecretId="kept/secret")["SecretString"] == "s3cret"
    assert session.client("ssm").get_parameter(Name="/kept/param")["Parameter"]["Value"] == "42"
    assert session.client("s3").get_object(Bucket="kept-bucket", Key="k")["Body"].read() == b"object bytes"
    assert session.client("iam").get_role(RoleName=role.rsplit("/", 1)[-1])["Role"]["Arn"] == role
    assert session.client("events").describe_rule(Name="kept-rule")["Name"] == "kept-rule"
    assert network["securityGroups"][0] in [g["GroupId"] for g in session.client("ec2").describe_security_groups()[
        "SecurityGroups"]]


def test_stop_then_start_keeps_the_state_and_its_blobs_and_reset_forgets_it(port, tmp_path):
    from helpers import ecr as lab_ecr
    from helpers.fleet import demo_image_layout

    info = local.start(port, runtime="simulated")
    session = lab_session(info)
    arn = _register(session.client("ecs"), revisions=1)
    session.client("ecr").create_repository(repositoryName="kept/app")
    lab_ecr.push_image(session, demo_image_layout(tmp_path, "kept/app", "v1", 1024), "kept/app", "v1", progress=False)
    blobs = sorted(p.name for p in (local.state_dir() / f"ecr-blobs-{port}").iterdir())
    assert local.stop(port)
    assert sorted(p.name for p in (local.state_dir() / f"ecr-blobs-{port}").iterdir()) == blobs  # stop deletes none
    info = local.start(port, runtime="simulated")
    session = lab_session(info)
    assert session.client("ecs").list_task_definitions()["taskDefinitionArns"] == [arn]
    assert len(blobs) == 3  # the config and two layers
    layers = session.client("ecr").batch_get_image(repositoryName="kept/app", imageIds=[{"imageTag": "v1"}])
    assert layers["images"][0]["imageId"]["imageTag"] == "v1"
    local.reset(port)
    local.stop(port)
    info = local.start(port, runtime="simulated")
    assert lab_session(info).client("ecs").list_task_definitions()["taskDefinitionArns"] == []


def test_a_state_of_a_future_version_is_refused_with_what_to_do(port):
    info = local.start(port, runtime="simulated")
    lab_session(info).client("ecs").create_cluster(clusterName="future")
    local.stop(port)
    path = _state(port) / "ecs.state"
    magic, header, payload = path.read_bytes().split(b"\n", 2)
    header = json.dumps({**json.loads(header), "format": 99}).encode()
    path.write_bytes(b"\n".join([magic, header, payload]))
    with pytest.raises(BackendError) as refused:
        local.start(port, runtime="simulated")
    message = str(refused.value)
    assert "format 99" in message and "newer version" in message and "move" in message


def test_a_state_file_cut_off_mid_write_is_ignored_with_a_warning_for_the_previous_generation(port):
    info = local.start(port, runtime="simulated")
    ecs = lab_session(info).client("ecs")
    ecs.create_cluster(clusterName="first")
    ecs.create_cluster(clusterName="second")
    _kill(info)
    path = _state(port) / "ecs.state"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    info = local.start(port, runtime="simulated")
    names = [a.rsplit("/", 1)[-1] for a in lab_session(info).client("ecs").list_clusters()["clusterArns"]]
    assert names == ["first"]  # the previous generation: the last good state before the cut one
    log = local.log_path(port).read_text()
    assert "ignoring" in log and "cut off while it was written" in log and "previous generation" in log


def test_a_second_server_on_the_same_state_directory_refuses(port):
    info = local.start(port, runtime="simulated")
    second = subprocess.run([sys.executable, "-m", "emulator", "serve", "--port", str(port)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert second.returncode == 2
    assert f"another embedded backend (pid {info.pid}) keeps its state in" in second.stderr
    assert local.status(port).pid == info.pid  # the first one serves on


def test_a_state_directory_that_cannot_be_written_fails_the_start(port):
    blocker = _state(port)
    blocker.write_text("not a directory")  # root may write anywhere: a file where the directory goes
    try:
        with pytest.raises(BackendError) as refused:
            local.start(port, runtime="simulated")
    finally:
        blocker.unlink()
    assert f"cannot keep its state in {blocker}" in str(refused.value)
    assert "FARGATE_LAB_STATE_DIR" in str(refused.value)


@pytest.mark.docker
def test_after_kill_9_the_old_containers_are_removed_and_the_service_runs_new_ones(port, docker_client, base_image):
    from emulator.docker_runtime import LABEL_PORT, LABEL_TASK

    def containers() -> dict[str, str]:
        found = docker_client.containers.list(all=True, filters={"label": f"{LABEL_PORT}={port}"})
        return {c.id: c.labels.get(LABEL_TASK) for c in found}

    info = local.start(port, runtime="docker")
    session = lab_session(info)
    ecs = session.client("ecs")
    arn = ecs.register_task_definition(
        family="persisted-docker", requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256",
        memory="512", containerDefinitions=[{"name": "app", "image": base_image, "essential": True,
                                             "command": ["sleep", "600"]}])["taskDefinition"]["taskDefinitionArn"]
    ecs.create_cluster(clusterName="kept")
    ecs.create_service(cluster="kept", serviceName="web", taskDefinition=arn, desiredCount=1, launchType="FARGATE",
                       networkConfiguration={"awsvpcConfiguration": prereqs.network(session)})
    (old,) = _until("the service's task running", lambda: [t["taskArn"] for t in ecs.describe_tasks(
        cluster="kept", tasks=ecs.list_tasks(cluster="kept")["taskArns"] or ["none"])["tasks"]
        if t["lastStatus"] == "RUNNING"], timeout=60)
    before = _until("the task's container", containers)
    _kill(info)
    assert set(containers()) == set(before)  # a killed server removes nothing itself

    again = local.start(port, runtime="docker")
    ecs = lab_session(again).client("ecs")
    assert not set(containers()) & set(before)  # removed before the new server answered
    task = ecs.describe_tasks(cluster="kept", tasks=[old])["tasks"][0]
    assert (task["lastStatus"], task["stopCode"]) == ("STOPPED", "TerminationNotice")
    (new,) = _until("a replacement running", lambda: [t for t in ecs.list_tasks(
        cluster="kept", serviceName="web")["taskArns"] if ecs.describe_tasks(
        cluster="kept", tasks=[t])["tasks"][0]["lastStatus"] == "RUNNING"], timeout=60)
    assert new != old
    assert set(_until("the replacement's container", containers).values()) == {new.rsplit("/", 1)[-1]}
