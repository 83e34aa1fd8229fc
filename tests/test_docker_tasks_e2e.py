"""Real containers through the ECS API of the embedded backend: RunTask, DescribeTasks, StopTask, CloudWatch Logs.

The backend runs with its default runtime ("auto"), so with an engine the tasks below
really run on it; the helpers (helpers.tasks) are the ones the notebooks use.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from emulator.docker_runtime import ESSENTIAL_EXITED, LABEL_PORT, OUT_OF_MEMORY
from helpers import prereqs, tasks
from helpers.errors import TaskFailed
from tests.conftest import ROOT, embedded_backend, free_port

pytestmark = pytest.mark.docker

CLUSTER = "e2e"
GROUP = "/fargate-lab/e2e"


@pytest.fixture(scope="module")
def docker_backend(docker_client):
    """An embedded backend of its own whose tasks run on the Docker engine (the shared one simulates them)."""
    with embedded_backend(runtime="docker") as info:
        yield info


@pytest.fixture
def lab(docker_backend, base_image, monkeypatch):
    """A cluster, a log group and the execution role, on a fresh embedded backend that runs real containers.

    FARGATE_LAB_PORT names that backend, for helpers.connect, the CLI and papermill's kernels alike.
    """
    import helpers
    from helpers import local

    monkeypatch.setenv("FARGATE_LAB_PORT", str(docker_backend.port))
    local.reset(docker_backend.port)
    session = helpers.connect(backend="local")
    assert local.status().docker, f"the embedded backend at {docker_backend.url} sees no Docker engine"
    prereqs.ensure_cluster(session, CLUSTER)
    prereqs.ensure_log_group(session, GROUP)
    return session


def register(session, family: str, containers: list[dict], cpu: str = "256", memory: str = "512") -> str:
    for container in containers:
        container.setdefault("logConfiguration", {"logDriver": "awslogs", "options": {
            "awslogs-group": GROUP, "awslogs-region": session.region_name, "awslogs-stream-prefix": "ecs"}})
    return session.client("ecs").register_task_definition(
        family=family, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu=cpu, memory=memory,
        executionRoleArn=prereqs.ensure_execution_role(session, allow_create=True), containerDefinitions=containers,
    )["taskDefinition"]["taskDefinitionArn"]


def describe(session, arn: str) -> dict:
    return session.client("ecs").describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"][0]


def wait_status(session, arn: str, status: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = describe(session, arn)
        if task["lastStatus"] == status:
            return task
        time.sleep(0.1)
    raise AssertionError(f"task did not reach {status}: {describe(session, arn)}")


def backend_containers(docker_client) -> list:
    from helpers import local

    return docker_client.containers.list(all=True, sparse=True, filters={"label": f"{LABEL_PORT}={local.port()}"})


def test_nonzero_exit_reaches_task_failed_with_real_exit_code_and_logs(lab, base_image):
    arn = register(lab, "fails", [{"name": "job", "image": base_image,
                                  "command": ["sh", "-c", "echo starting; echo broken >&2; exit 4"]}])
    [task] = tasks.run_task(lab, CLUSTER, arn)
    with pytest.raises(TaskFailed) as failure:
        tasks.wait_for_tasks(lab, CLUSTER, [task], poll_seconds=0.2, progress=False)
    assert "broken" in str(failure.value)
    described = describe(lab, task)
    assert described["stopCode"] == "EssentialContainerExited"
    assert described["stoppedReason"] == ESSENTIAL_EXITED
    assert described["containers"][0]["exitCode"] == 4
    for key in ("pullStartedAt", "pullStoppedAt", "startedAt", "stoppingAt", "stoppedAt"):
        assert key in described, key
    # stdout and stderr are two pipes: lines written within the same millisecond may swap, on ECS too
    assert sorted(tasks.task_logs(lab, CLUSTER, task, printer=None)["job"]) == ["broken", "starting"]


def test_two_containers_reach_each_other_on_localhost_in_dependency_order(lab, base_image):
    arn = register(lab, "pair", [
        {"name": "web", "image": base_image, "essential": True, "stopTimeout": 2,
         "command": ["sh", "-c", "mkdir -p /www; echo pong > /www/ping; trap 'exit 0' TERM; "
                                "httpd -f -p 8080 -h /www & wait"],
         "healthCheck": {"command": ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/ping"],
                         "interval": 1, "timeout": 5, "retries": 10}},
        {"name": "probe", "image": base_image, "essential": True,
         "command": ["sh", "-c", "wget -q -O - http://127.0.0.1:8080/ping"],
         "dependsOn": [{"containerName": "web", "condition": "HEALTHY"}]},
    ])
    [task] = tasks.run_task(lab, CLUSTER, arn)
    [result] = tasks.wait_for_tasks(lab, CLUSTER, [task], poll_seconds=0.2, progress=False, timeout=60)
    assert result.exit_codes == {"web": 0, "probe": 0}
    assert tasks.task_logs(lab, CLUSTER, task, printer=None)["probe"] == ["pong"]
    web = next(c for c in describe(lab, task)["containers"] if c["name"] == "web")
    assert web["healthStatus"] == "HEALTHY"


def test_a_container_over_its_memory_stops_out_of_memory(lab, base_image):
    arn = register(lab, "hog", [{"name": "hog", "image": base_image, "memory": 32,
                                 "command": ["sh", "-c", "head -c 300m /dev/zero | tail"]}])
    [task] = tasks.run_task(lab, CLUSTER, arn)
    with pytest.raises(TaskFailed):
        tasks.wait_for_tasks(lab, CLUSTER, [task], poll_seconds=0.2, progress=False, timeout=60)
    container = describe(lab, task)["containers"][0]
    assert (container["exitCode"], container["reason"]) == (137, OUT_OF_MEMORY)


def test_logs_reach_cloudwatch_while_running_and_after(lab, base_image):
    arn = register(lab, "ticker", [{"name": "ticker", "image": base_image, "command": [
        "sh", "-c", "i=0; while [ $i -lt 30 ]; do i=$((i+1)); echo tick $i; sleep 0.1; done"]}])
    [task] = tasks.run_task(lab, CLUSTER, arn)
    logs = lab.client("logs")
    stream = f"ecs/ticker/{task.rsplit('/', 1)[-1]}"
    seen_running = []
    deadline = time.monotonic() + 20
    while not seen_running and time.monotonic() < deadline:
        status = describe(lab, task)["lastStatus"]
        try:
            events = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, startFromHead=True)["events"]
        except logs.exceptions.ResourceNotFoundException:
            events = []
        if events and status == "RUNNING" and describe(lab, task)["lastStatus"] == "RUNNING":
            seen_running = events
        time.sleep(0.1)
    assert seen_running and seen_running[0]["message"] == "tick 1"
    tasks.wait_for_tasks(lab, CLUSTER, [task], poll_seconds=0.2, progress=False)
    events = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, startFromHead=True)["events"]
    assert [e["message"] for e in events] == [f"tick {i}" for i in range(1, 31)]


def test_stop_task_kills_a_container_that_ignores_sigterm_after_stop_timeout(lab, base_image):
    arn = register(lab, "stubborn", [{"name": "stubborn", "image": base_image, "stopTimeout": 2,
                                      "command": ["sh", "-c", "trap '' TERM; echo ready; while true; do sleep 0.2; done"]}])
    [task] = tasks.run_task(lab, CLUSTER, arn)
    wait_status(lab, task, "RUNNING")
    time.sleep(0.3)  # the shell installs its trap
    began = time.monotonic()
    lab.client("ecs").stop_task(cluster=CLUSTER, task=task, reason="lesson over")
    stopped = wait_status(lab, task, "STOPPED", timeout=25)  # the default stopTimeout, 30 s, would fail it
    assert time.monotonic() - began >= 2  # SIGKILL only after its stopTimeout
    assert (stopped["stopCode"], stopped["stoppedReason"]) == ("UserInitiated", "lesson over")
    assert stopped["containers"][0]["exitCode"] == 137


def test_reset_leaves_no_container_running(lab, docker_client, base_image):
    arn = register(lab, "sleeper", [
        {"name": "a", "image": base_image, "command": ["sleep", "300"]},
        {"name": "b", "image": base_image, "command": ["sleep", "300"]},
    ])
    [task] = tasks.run_task(lab, CLUSTER, arn)
    wait_status(lab, task, "RUNNING")
    assert len(backend_containers(docker_client)) == 3  # a, b and the task's network namespace holder
    reset = subprocess.run([sys.executable, "-m", "helpers.local", "reset"], cwd=ROOT, env=dict(os.environ),
                           capture_output=True, text=True, timeout=120)
    assert reset.returncode == 0, reset.stderr
    assert backend_containers(docker_client) == []


def notebook_outputs(path) -> str:
    import nbformat

    texts = []
    for cell in nbformat.read(str(path), as_version=4).cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text") or str((output.get("data") or {}).get("text/plain", "")))
    return "\n".join(texts)


def test_notebook_02_shows_the_sample_containers_real_output_and_fails_on_a_real_exit_code(lab, tmp_path):
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from emulator.simulated import SIMULATED_NOTE

    notebook, out = str(ROOT / "notebooks" / "02_run_fargate_task.ipynb"), tmp_path / "02.ipynb"
    papermill.execute_notebook(notebook, str(out), progress_bar=False, kernel_name="python3")
    text = notebook_outputs(out)
    assert "fargate-lab sample app v1: mode=job" in text and "done, exit code 0" in text  # the container's own lines
    assert "fargate-lab-hello=0" in text and SIMULATED_NOTE not in text and "SIMULATED" not in text

    with pytest.raises(PapermillExecutionError) as caught:
        papermill.execute_notebook(notebook, str(out), progress_bar=False, kernel_name="python3",
                                   parameters={"environment": {"APP_SECONDS": "0", "APP_EXIT_CODE": "3"}})
    assert caught.value.ename == "TaskFailed"
    assert "exit codes {'fargate-lab-hello': 3}" in caught.value.evalue
    assert "done, exit code 3" in caught.value.evalue  # the log tail, from CloudWatch Logs


def test_notebook_02_runs_a_list_command_in_the_sample_app_and_sees_its_exit_code(lab, tmp_path):
    """The sample app's entry point runs a given command in its place (exec "$@"), as official images do.

    The command comes as papermill -p passes it, as text: the notebook's parameter model reads it as YAML.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    notebook, out = str(ROOT / "notebooks" / "02_run_fargate_task.ipynb"), tmp_path / "02.ipynb"
    with pytest.raises(PapermillExecutionError) as caught:
        papermill.execute_notebook(notebook, str(out), progress_bar=False, kernel_name="python3",
                                   parameters={"command": "[/bin/busybox, sh, -c, 'echo hi from a command; exit 3']"})
    assert caught.value.ename == "TaskFailed"
    assert "exit codes {'fargate-lab-hello': 3}" in caught.value.evalue
    assert "hi from a command" in caught.value.evalue and "sample app" not in caught.value.evalue


def test_environment_files_from_s3_and_secrets_reach_the_container(lab, base_image):
    s3 = lab.client("s3")
    s3.create_bucket(Bucket="e2e-config")
    s3.put_object(Bucket="e2e-config", Key="app.env", Body=b"# comment\nFROM_FILE=yes\nOVERRIDDEN=file\n")
    secret = lab.client("secretsmanager").create_secret(Name="e2e-db", SecretString="s3cr3t")["ARN"]
    arn = register(lab, "envfiles", [{
        "name": "show", "image": base_image, "command": ["sh", "-c", 'echo "$FROM_FILE $OVERRIDDEN $DB"'],
        "environment": [{"name": "OVERRIDDEN", "value": "definition"}],
        "environmentFiles": [{"value": "arn:aws:s3:::e2e-config/app.env", "type": "s3"}],
        "secrets": [{"name": "DB", "valueFrom": secret}],
    }])
    [task] = tasks.run_task(lab, CLUSTER, arn)
    tasks.wait_for_tasks(lab, CLUSTER, [task], poll_seconds=0.2, progress=False)
    assert tasks.task_logs(lab, CLUSTER, task, printer=None) == {"show": ["yes definition s3cr3t"]}


def test_stopping_the_backend_removes_its_containers_and_only_its_own(docker_client, base_image, monkeypatch):
    import helpers
    from helpers import local

    port = free_port()
    monkeypatch.setenv("FARGATE_LAB_PORT", str(port))
    other = docker_client.containers.create(base_image, command=["true"], labels={LABEL_PORT: f"{port}0"})
    local.start(port, runtime="docker")
    try:
        session = helpers.connect(backend="local")
        prereqs.ensure_cluster(session, CLUSTER)
        ecs = session.client("ecs")
        arn = ecs.register_task_definition(
            family="lingering", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
            containerDefinitions=[{"name": "a", "image": base_image, "command": ["sleep", "300"]}],
        )["taskDefinition"]["taskDefinitionArn"]
        [task] = tasks.run_task(session, CLUSTER, arn)
        wait_status(session, task, "RUNNING")
        mine = {"label": f"{LABEL_PORT}={port}"}
        assert len(docker_client.containers.list(sparse=True, filters=mine)) == 1
    finally:
        local.stop(port)
    assert docker_client.containers.list(all=True, sparse=True, filters=mine) == []
    docker_client.containers.get(other.id).remove()  # another backend's container is still there


def test_an_image_pushed_from_an_archive_runs_also_by_its_aws_style_uri(lab, docker_client, base_image, tmp_path):
    from helpers import ecr

    archive = tmp_path / "image.tar"
    with archive.open("wb") as out:
        for chunk in docker_client.images.get(base_image).save(named=True):
            out.write(chunk)
    ecr.ensure_repository(lab, "e2e/from-archive")
    ecr.push_image(lab, archive, "e2e/from-archive", "1", progress=False)  # never through the local engine
    account = lab.client("sts").get_caller_identity()["Account"]
    image = f"{account}.dkr.ecr.{lab.region_name}.amazonaws.com/e2e/from-archive:1"
    arn = register(lab, "archived", [{"name": "app", "image": image, "command": ["echo", "ran from ECR"]}])
    [task] = tasks.run_task(lab, CLUSTER, arn)
    [result] = tasks.wait_for_tasks(lab, CLUSTER, [task], poll_seconds=0.2, progress=False)
    assert result.exit_codes == {"app": 0}
    assert tasks.task_logs(lab, CLUSTER, task, printer=None) == {"app": ["ran from ECR"]}
    pulled = f"127.0.0.1:{os.environ['FARGATE_LAB_PORT']}/e2e/from-archive:1"
    assert docker_client.images.get(pulled)  # pulled from the embedded ECR's registry
    docker_client.images.remove(pulled)


def test_a_new_backend_removes_what_a_killed_one_on_its_port_left(docker_client, base_image):
    from helpers import local

    port = free_port()
    left = docker_client.containers.run(base_image, ["sleep", "300"], detach=True,
                                        labels={LABEL_PORT: str(port), "fargate-lab.task-id": "left-by-a-crash"})
    try:
        local.start(port, runtime="docker")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and docker_client.containers.list(all=True, sparse=True,
                                                                            filters={"id": left.id}):
            time.sleep(0.2)
        assert docker_client.containers.list(all=True, sparse=True, filters={"id": left.id}) == []
    finally:
        local.stop(port)
        for container in docker_client.containers.list(all=True, sparse=True, filters={"id": left.id}):
            container.remove(force=True)


def test_a_re_pushed_tag_runs_its_new_image(lab, docker_client, base_image, tmp_path):
    """Fargate pulls at every start: a tag pushed again runs the new image, not the engine's older copy."""
    import io

    from helpers import ecr

    uri = ecr.ensure_repository(lab, "e2e/retagged")
    arn = register(lab, "retagged", [{"name": "app", "image": f"{uri}:1"}])
    built = []
    try:
        for word in ("one", "two"):  # after "one" ran, the engine holds URI:1 as "one"
            dockerfile = f'FROM {base_image}\nCMD ["echo", "{word}"]\n'.encode()
            image, _ = docker_client.images.build(fileobj=io.BytesIO(dockerfile), rm=True)
            built.append(image.id)
            archive = tmp_path / f"{word}.tar"
            archive.write_bytes(b"".join(image.save()))
            ecr.push_image(lab, archive, "e2e/retagged", "1", progress=False)
            [task] = tasks.run_task(lab, CLUSTER, arn)
            tasks.wait_for_tasks(lab, CLUSTER, [task], poll_seconds=0.2, progress=False)
            assert tasks.task_logs(lab, CLUSTER, task, printer=None) == {"app": [word]}
    finally:
        for image_id in built:
            docker_client.images.remove(image_id, force=True)


def test_a_service_task_whose_essential_container_exits_is_replaced(lab, docker_client, base_image):
    arn = register(lab, "svc-web", [{"name": "web", "image": base_image, "stopTimeout": 1, "command": [
        "sh", "-c", "mkdir -p /w; trap 'exit 0' TERM; while [ ! -e /w/exit ]; do sleep 0.1; done; exit 1"]}])
    ecs = lab.client("ecs")
    ecs.create_service(cluster=CLUSTER, serviceName="web", taskDefinition=arn, desiredCount=1, launchType="FARGATE",
                       networkConfiguration={"awsvpcConfiguration": prereqs.network(lab)})

    def running() -> list[dict]:
        arns = ecs.list_tasks(cluster=CLUSTER, serviceName="web", desiredStatus="RUNNING")["taskArns"]
        found = ecs.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"] if arns else []
        return [t for t in found if t["lastStatus"] == "RUNNING"]

    deadline = time.monotonic() + 30
    while not running() and time.monotonic() < deadline:
        time.sleep(0.2)
    [first] = running()
    docker_client.containers.get(first["containers"][0]["runtimeId"]).exec_run(["touch", "/w/exit"])
    stopped = wait_status(lab, first["taskArn"], "STOPPED")
    assert (stopped["stopCode"], stopped["containers"][0]["exitCode"]) == ("EssentialContainerExited", 1)
    deadline = time.monotonic() + 30
    while not [t for t in running() if t["taskArn"] != first["taskArn"]] and time.monotonic() < deadline:
        time.sleep(0.2)
    [replacement] = running()
    assert replacement["taskArn"] != first["taskArn"] and replacement["group"] == "service:web"
    assert docker_client.containers.get(replacement["containers"][0]["runtimeId"]).status == "running"
    ecs.delete_service(cluster=CLUSTER, service="web", force=True)
