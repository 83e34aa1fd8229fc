"""The Docker executor with real containers: what ECS would do with the same task definitions.

These drive ``DockerExecutor`` directly (the ECS API wiring is tested end to end in
test_docker_tasks_e2e.py): logs go to a list, secrets come from a dict, images are local.
"""

from __future__ import annotations

import os
import threading
import time
import urllib.request
import uuid

import pytest

from emulator.docker_runtime import ESSENTIAL_EXITED, LABEL_PORT, OUT_OF_MEMORY, DockerExecutor
from emulator.executor import LaunchRequest
from tests.conftest import free_port

pytestmark = pytest.mark.docker

SECRETS = {"arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf": "s3cr3t",
           "arn:aws:ssm:us-east-1:123456789012:parameter/app/mode": "fast"}
FILES = {"arn:aws:s3:::config-bucket/app.env": "# settings\nFROM_FILE=yes\nGREETING=from-file\n\n"}


class Sink:
    """A log sink that keeps every batch, as CloudWatch Logs would receive them."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, str, list[tuple[int, str]]]] = []
        self.lock = threading.Lock()

    def __call__(self, group: str, stream: str, events: list[tuple[int, str]]) -> None:
        with self.lock:
            self.batches.append((group, stream, list(events)))

    def messages(self, stream_suffix: str = "") -> list[str]:
        with self.lock:
            return [m for _, s, events in self.batches if s.endswith(stream_suffix) for _, m in events]


def awslogs(prefix: str = "lab") -> dict:
    return {"logDriver": "awslogs",
            "options": {"awslogs-group": "/ecs/lab", "awslogs-region": "us-east-1", "awslogs-stream-prefix": prefix}}


@pytest.fixture
def executor(docker_client):
    label = f"test-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    runtime = DockerExecutor(port=label, register_hooks=False, tick=0.1)
    yield runtime
    runtime.cleanup()
    assert docker_client.containers.list(all=True, sparse=True, filters={"label": f"{LABEL_PORT}={label}"}) == []


def launch(executor: DockerExecutor, containers: list[dict], cpu: str = "256", memory: str = "512",
           overrides: dict | None = None, resolve_image=lambda ref: ref) -> tuple[str, Sink]:
    sink = Sink()
    task_id = uuid.uuid4().hex
    executor.launch(LaunchRequest(
        task_id=task_id, cluster="arn:aws:ecs:us-east-1:123456789012:cluster/lab",
        task_definition={"family": "lab", "cpu": cpu, "memory": memory, "networkMode": "awsvpc",
                         "containerDefinitions": containers},
        overrides=overrides or {}, log_sink=sink, resolve_secret=SECRETS.__getitem__,
        resolve_image=resolve_image, resolve_file=FILES.__getitem__,
    ))
    return task_id, sink


def wait_for(predicate, timeout: float = 20.0, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("condition not reached in time")


def test_containers_share_localhost_and_start_in_dependency_order(executor, base_image):
    """init (SUCCESS) -> server (HEALTHY) -> client, which reaches the server on localhost."""
    task_id, sink = launch(executor, [
        {"name": "client", "image": base_image, "essential": True,
         "command": ["sh", "-c", "wget -q -O - http://127.0.0.1:8080/index.html"],
         "dependsOn": [{"containerName": "server", "condition": "HEALTHY"}], "logConfiguration": awslogs()},
        {"name": "server", "image": base_image, "essential": True, "stopTimeout": 2,
         "command": ["sh", "-c", "mkdir -p /www; echo hello-from-server > /www/index.html; "
                                "trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait"],
         "healthCheck": {"command": ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/index.html"], "interval": 1, "timeout": 5, "retries": 10},
         "dependsOn": [{"containerName": "init", "condition": "SUCCESS"}], "logConfiguration": awslogs()},
        {"name": "init", "image": base_image, "essential": False,
         "command": ["sh", "-c", "echo init done"], "logConfiguration": awslogs()},
    ])
    state = executor.wait(task_id, timeout=60)
    assert state.stop_code == "EssentialContainerExited"
    assert state.stopped_reason == ESSENTIAL_EXITED
    assert state.containers["init"].exit_code == 0
    assert state.containers["client"].exit_code == 0, sink.messages()
    assert state.containers["server"].exit_code == 0  # it handled the SIGTERM the task's stop sent it
    assert state.containers["server"].health_status == "HEALTHY"
    assert sink.messages("/client/" + task_id) == ["hello-from-server"]
    assert sink.messages("/init/" + task_id) == ["init done"]
    assert state.pull_started_at <= state.pull_stopped_at <= state.started_at <= state.stopping_at <= state.stopped_at


def test_nonzero_exit_is_recorded_with_the_reason_ecs_gives(executor, base_image):
    task_id, sink = launch(executor, [{
        "name": "app", "image": base_image, "logConfiguration": awslogs("job"),
        "command": ["sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3"],
    }])
    state = executor.wait(task_id)
    assert (state.last_status, state.stop_code, state.stopped_reason) == ("STOPPED", "EssentialContainerExited",
                                                                          ESSENTIAL_EXITED)
    assert state.containers["app"].exit_code == 3
    assert state.containers["app"].reason is None
    assert sorted(sink.messages()) == ["to-stderr", "to-stdout"]
    assert {(g, s) for g, s, _ in sink.batches} == {("/ecs/lab", f"job/app/{task_id}")}


def test_container_over_its_memory_limit_is_killed_out_of_memory(executor, base_image):
    task_id, _ = launch(executor, [{
        "name": "hog", "image": base_image, "memory": 32,
        "command": ["sh", "-c", "head -c 300m /dev/zero | tail"],
    }])
    state = executor.wait(task_id, timeout=60)
    assert state.containers["hog"].exit_code == 137
    assert state.containers["hog"].reason == OUT_OF_MEMORY
    assert state.stop_code == "EssentialContainerExited"


def test_stop_task_sends_sigterm_then_sigkill_after_stop_timeout(executor, base_image):
    stubborn, _ = launch(executor, [{"name": "stubborn", "image": base_image, "stopTimeout": 2,
                                     "command": ["sh", "-c", "trap '' TERM; while true; do sleep 0.2; done"]}])
    polite, sink = launch(executor, [{
        "name": "polite", "image": base_image, "stopTimeout": 60, "logConfiguration": awslogs(),
        "command": ["sh", "-c", "trap 'echo got SIGTERM; exit 0' TERM; while true; do sleep 0.2; done"]}])
    wait_for(lambda: executor.state(stubborn).last_status == "RUNNING" and executor.state(polite).last_status == "RUNNING")
    time.sleep(0.3)  # the shells install their traps
    began = time.monotonic()
    executor.stop(stubborn, "Task stopped by user")
    executor.stop(polite, "Task stopped by user")
    polite_state = executor.wait(polite)
    stubborn_state = executor.wait(stubborn, timeout=25)  # the default stopTimeout, 30 s, would raise
    stubborn_seconds = time.monotonic() - began
    assert polite_state.containers["polite"].exit_code == 0  # it exited on SIGTERM: a SIGKILL would give 137
    assert "got SIGTERM" in sink.messages()
    assert stubborn_state.containers["stubborn"].exit_code == 137
    assert stubborn_seconds >= 2  # SIGKILL only after its stopTimeout
    assert (stubborn_state.stop_code, stubborn_state.stopped_reason) == ("UserInitiated", "Task stopped by user")


def test_logs_arrive_while_the_container_runs_and_after(executor, base_image):
    task_id, sink = launch(executor, [{
        "name": "ticker", "image": base_image, "logConfiguration": awslogs(),
        "command": ["sh", "-c", "i=0; while [ $i -lt 40 ]; do i=$((i+1)); echo tick $i; sleep 0.1; done"],
    }])
    wait_for(lambda: len(sink.messages()) >= 3, timeout=10, every=0.05)
    assert executor.state(task_id).last_status == "RUNNING"  # lines came while it ran
    state = executor.wait(task_id)
    assert state.containers["ticker"].exit_code == 0
    assert sink.messages() == [f"tick {i}" for i in range(1, 41)]
    stamps = [t for _, _, events in sink.batches for t, _ in events]
    assert stamps == sorted(stamps) and abs(stamps[-1] / 1000 - time.time()) < 30


def test_definition_fields_secrets_env_files_and_overrides_reach_the_container(executor, base_image):
    task_id, sink = launch(executor, [{
        "name": "show", "image": base_image, "logConfiguration": awslogs(),
        "entryPoint": ["sh", "-c"], "command": ["echo never"], "workingDirectory": "/tmp", "user": "1234:5678",
        "environment": [{"name": "GREETING", "value": "from-definition"}, {"name": "KEPT", "value": "1"}],
        "environmentFiles": [{"value": "arn:aws:s3:::config-bucket/app.env", "type": "s3"}],
        "secrets": [{"name": "DB_PASSWORD", "valueFrom": next(iter(SECRETS))},
                    {"name": "MODE", "valueFrom": list(SECRETS)[1]}],
    }], overrides={"containerOverrides": [{
        "name": "show", "command": ['echo "$GREETING $KEPT $FROM_FILE $DB_PASSWORD $MODE $AWS_EXECUTION_ENV"; pwd; id -u; id -g'],
        "environment": [{"name": "KEPT", "value": "overridden"}]}]})
    state = executor.wait(task_id)
    assert state.containers["show"].exit_code == 0, sink.messages()
    assert sink.messages() == ["from-definition overridden yes s3cr3t fast AWS_ECS_FARGATE", "/tmp", "1234", "5678"]


def test_task_size_becomes_docker_limits_and_ports_bind_to_localhost(executor, docker_client, base_image):
    port = free_port()
    task_id, _ = launch(executor, [{
        "name": "web", "image": base_image, "stopTimeout": 1, "portMappings": [{"containerPort": port}],
        "command": ["sh", "-c", f"mkdir -p /www && echo up > /www/index.html && httpd -f -p {port} -h /www"],
    }], cpu="512", memory="1024")
    wait_for(lambda: executor.state(task_id).last_status == "RUNNING")
    container = docker_client.containers.get(executor.state(task_id).containers["web"].runtime_id)
    assert container.attrs["HostConfig"]["NanoCpus"] == 500_000_000
    assert container.attrs["HostConfig"]["Memory"] == 1024 * 1024 * 1024
    bindings = wait_for(lambda: executor.state(task_id).containers["web"].network_bindings)
    assert bindings == [{"bindIP": "127.0.0.1", "containerPort": port, "hostPort": port, "protocol": "tcp"}]
    body = wait_for(lambda: _get(f"http://127.0.0.1:{port}/index.html"))
    assert body == "up\n"
    executor.stop(task_id, "done")
    assert executor.wait(task_id).stop_code == "UserInitiated"


def _get(address: str) -> str | None:
    try:
        with urllib.request.urlopen(address, timeout=1) as response:
            return response.read().decode()
    except OSError:
        return None


def test_an_image_that_cannot_be_found_fails_the_task_before_it_starts(executor):
    def not_in_ecr(ref: str) -> str:
        raise LookupError(f"{ref}: not found")

    missing, _ = launch(executor, [{"name": "app", "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/nope:1"}],
                        resolve_image=not_in_ecr)
    unreachable, _ = launch(executor, [{"name": "app", "image": f"127.0.0.1:{free_port()}/nope:1"}])
    for task_id in (missing, unreachable):
        state = executor.wait(task_id, timeout=60)
        assert state.stop_code == "TaskFailedToStart"
        assert state.stopped_reason.startswith("CannotPullContainerError: ")
        assert state.started_at is None and state.pull_started_at is not None
        assert state.containers["app"].exit_code is None


def test_a_secret_that_does_not_resolve_fails_the_task_without_creating_containers(executor, base_image):
    task_id, _ = launch(executor, [{"name": "app", "image": base_image,
                                    "secrets": [{"name": "X", "valueFrom": "arn:aws:ssm:us-east-1:1:parameter/none"}]}])
    state = executor.wait(task_id)
    assert state.stop_code == "TaskFailedToStart"
    assert state.stopped_reason.startswith("ResourceInitializationError: unable to pull secrets")
    assert state.containers["app"].runtime_id is None


def test_cleanup_removes_every_container_of_this_backend_and_no_other(executor, docker_client, base_image):
    other = docker_client.containers.create(base_image, command=["true"], labels={LABEL_PORT: "someone-else"})
    try:
        task_id, _ = launch(executor, [
            {"name": "a", "image": base_image, "command": ["sleep", "300"]},
            {"name": "b", "image": base_image, "command": ["sleep", "300"]},
        ])
        wait_for(lambda: all(c.last_status == "RUNNING" for c in executor.state(task_id).containers.values()))
        label = f"{LABEL_PORT}={executor.port}"
        assert len(docker_client.containers.list(sparse=True, filters={"label": label})) == 3  # a, b and the pause container
        executor.cleanup()
        assert docker_client.containers.list(all=True, sparse=True, filters={"label": label}) == []
        assert executor.task_ids() == []
        docker_client.containers.get(other.id)  # still there
    finally:
        other.remove(force=True)


def test_the_pause_container_is_busybox_sleeping_and_holds_the_tasks_namespace(executor, docker_client, base_image):
    """Two containers join one pause container's network namespace; it keeps running while they do."""
    from emulator import pause_image
    from emulator.docker_runtime import LABEL_ROLE, LABEL_TASK

    task_id, _ = launch(executor, [
        {"name": "a", "image": base_image, "command": ["sleep", "300"]},
        {"name": "b", "image": base_image, "command": ["sleep", "300"]},
    ])
    wait_for(lambda: all(c.last_status == "RUNNING" for c in executor.state(task_id).containers.values()))
    (pause,) = docker_client.containers.list(filters={"label": [f"{LABEL_TASK}={task_id}", f"{LABEL_ROLE}=pause"]})
    assert pause.attrs["State"]["Running"] and pause.attrs["Config"]["Cmd"] == pause_image.COMMAND
    assert pause.image.tags == [pause_image.PAUSE_IMAGE]
    top = docker_client.api.top(pause.id)
    assert any("sleep infinity" in " ".join(row) for row in top["Processes"]), top
    for name in ("a", "b"):
        runtime_id = executor.state(task_id).containers[name].runtime_id
        assert docker_client.containers.get(runtime_id).attrs["HostConfig"]["NetworkMode"] == f"container:{pause.id}"


def test_an_essential_container_whose_dependency_cannot_be_met_fails_the_task(executor, base_image):
    task_id, _ = launch(executor, [
        {"name": "setup", "image": base_image, "essential": False, "command": ["sh", "-c", "exit 2"]},
        {"name": "app", "image": base_image, "command": ["true"],
         "dependsOn": [{"containerName": "setup", "condition": "SUCCESS"}]},
    ])
    state = executor.wait(task_id)
    assert state.containers["setup"].exit_code == 2
    assert state.containers["app"].exit_code is None
    assert state.containers["app"].reason == "CannotStartContainerError: dependency setup did not reach condition SUCCESS"
    assert (state.stop_code, state.stopped_reason) == ("EssentialContainerExited", state.containers["app"].reason)


def test_a_command_that_cannot_start_fails_the_task_and_forget_removes_its_containers(executor, docker_client,
                                                                                      base_image):
    task_id, _ = launch(executor, [{"name": "app", "image": base_image, "entryPoint": ["/no/such/binary"]}])
    state = executor.wait(task_id)
    assert state.stop_code == "TaskFailedToStart", state
    assert state.stopped_reason.startswith("CannotStartContainerError: ") and "/no/such/binary" in state.stopped_reason
    executor.forget(task_id)
    with pytest.raises(KeyError):
        executor.state(task_id)
    wait_for(lambda: not docker_client.containers.list(all=True, sparse=True, filters={"label": f"fargate-lab.task-id={task_id}"}))


def test_tasks_of_one_service_run_side_by_side_and_one_that_exits_stops_alone(executor, docker_client, base_image):
    """What a service scheduler relies on (services are scheduled by issue 6): same port, separate tasks."""
    port = free_port()
    web = {"name": "web", "image": base_image, "stopTimeout": 1, "portMappings": [{"containerPort": port}],
           "command": ["sh", "-c", f"mkdir -p /www; hostname > /www/index.html; httpd -f -p {port} -h /www & "
                                   "while [ ! -e /www/exit ]; do sleep 0.1; done; exit 1"]}
    first, _ = launch(executor, [dict(web)])
    second, _ = launch(executor, [dict(web)])
    wait_for(lambda: all(executor.state(t).last_status == "RUNNING" for t in (first, second)))
    wait_for(lambda: all(executor.state(t).containers["web"].network_bindings for t in (first, second)))
    ports = [executor.state(t).containers["web"].network_bindings[0]["hostPort"] for t in (first, second)]
    assert port in ports and len(set(ports)) == 2  # the second task could not have the same host port
    bodies = [wait_for(lambda p=p: _get(f"http://127.0.0.1:{p}/index.html")) for p in ports]
    assert bodies[0] != bodies[1]  # two tasks, two network namespaces

    docker_client.containers.get(executor.state(first).containers["web"].runtime_id).exec_run(["touch", "/www/exit"])
    stopped = executor.wait(first)
    assert (stopped.stop_code, stopped.containers["web"].exit_code) == ("EssentialContainerExited", 1)
    assert executor.state(second).last_status == "RUNNING"
    assert _get(f"http://127.0.0.1:{ports[1]}/index.html") == bodies[1]
