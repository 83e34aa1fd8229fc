"""Running Fargate tasks on the embedded backend with the simulated executor (its own server, runtime="simulated").

These tests need the simulated lifecycle whatever the machine has (CI has a Docker engine,
where "auto" runs containers), so they start their own backend on a free port.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from emulator.executor import LIFECYCLE
from emulator.simulated import SIMULATED_NOTE
from helpers import local, prereqs, taskdef, tasks
from helpers.errors import InvalidParameter, TaskFailed, TaskTimedOut
from helpers.session import LabSession
from helpers.tags import SUITE_TAG_KEY

CLUSTER = "lab"
EXIT = "FARGATE_LAB_SIMULATED_EXIT_CODE"
SECONDS = "FARGATE_LAB_SIMULATED_SECONDS"


@pytest.fixture
def sim(simulated_backend) -> LabSession:
    """A session on a fresh simulated backend, with a cluster, a log group and an execution role."""
    local.reset(simulated_backend.port)
    session = LabSession(backend="local", endpoint_url=simulated_backend.url, region_name="us-east-1",
                         **local.CREDENTIALS)
    prereqs.ensure_cluster(session, CLUSTER)
    prereqs.ensure_log_group(session, taskdef.default_log_group("job"))
    return session


def register(session: LabSession, **kwargs) -> str:
    role = prereqs.ensure_execution_role(session, allow_create=True)
    kwargs.setdefault("command", "echo hello")
    td = taskdef.fargate_task_definition("job", "busybox:latest", cpu=256, memory=512, execution_role_arn=role,
                                         **kwargs)
    return taskdef.register(session, td).arn


def env(**values) -> dict:
    return tasks.command_override("job", environment=values)


def test_a_task_runs_to_exit_code_0_with_every_field_ecs_sets(sim):
    arns = tasks.run_task(sim, CLUSTER, register(sim), count=2)
    assert len(arns) == 2
    results = tasks.wait_for_tasks(sim, CLUSTER, arns, progress=False)
    for result in results:
        assert result.last_status == "STOPPED" and not result.failed
        assert result.exit_codes == {"job": 0}
        assert result.stop_code == "EssentialContainerExited"
        assert result.stopped_reason == "Essential container in task exited"
        assert result.created_at <= result.pull_started_at <= result.pull_stopped_at <= result.started_at
        assert result.started_at < result.stopping_at <= result.stopped_at
        assert (result.cpu, result.memory, result.launch_type) == ("256", "512", "FARGATE")
        assert result.duration_seconds == pytest.approx(1.6, abs=0.5)  # SIMULATED_SECONDS=1 in conftest
        assert "exited with code 0" in result.hint
    table = tasks.results_table(results)
    assert list(table.columns[:4]) == ["task", "status", "exit codes", "duration (s)"]
    assert list(table["exit codes"]) == ["job=0", "job=0"]
    task = sim.client("ecs").describe_tasks(cluster=CLUSTER, tasks=arns[:1], include=["TAGS"])["tasks"][0]
    assert task["platformVersion"] == "1.4.0" and task["executionStoppedAt"] and task["desiredStatus"] == "STOPPED"
    assert any(t["key"] == SUITE_TAG_KEY for t in task["tags"])


def test_the_lifecycle_moves_in_time_not_per_call(sim, simulated_backend):
    local.set_clock("manual", simulated_backend.port)
    (arn,) = tasks.run_task(sim, CLUSTER, register(sim), overrides=env(**{SECONDS: "30"}))
    ecs = sim.client("ecs")
    first = [ecs.describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"][0]["lastStatus"] for _ in range(5)]
    assert first == ["PROVISIONING"] * 5  # moto 5.2.5 moves one state per call: five calls would show five states
    seen = list(first)
    for _ in range(10):
        local.advance_clock(0.1, simulated_backend.port)
        seen.append(ecs.describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"][0]["lastStatus"])
    assert seen[-1] == "RUNNING" and {"PENDING", "ACTIVATING"} <= set(seen)
    assert [LIFECYCLE.index(s) for s in seen] == sorted(LIFECYCLE.index(s) for s in seen)  # in ECS's order
    local.set_clock("real", simulated_backend.port)
    assert ecs.list_tasks(cluster=CLUSTER)["taskArns"] == [arn]  # ListTasks shows desiredStatus RUNNING by default
    ecs.stop_task(cluster=CLUSTER, task=arn, reason="enough")
    (result,) = tasks.wait_for_tasks(sim, CLUSTER, [arn], progress=False, raise_on_failure=False)
    assert (result.stop_code, result.stopped_reason, result.exit_codes) == ("UserInitiated", "enough", {"job": 143})
    assert "StopTask" in result.hint
    assert ecs.list_tasks(cluster=CLUSTER)["taskArns"] == []
    assert ecs.list_tasks(cluster=CLUSTER, desiredStatus="STOPPED")["taskArns"] == [arn]


def test_an_essential_container_exiting_3_raises_task_failed_with_code_3_and_logs(sim):
    arns = tasks.run_task(sim, CLUSTER, register(sim), overrides=env(**{EXIT: "3"}))
    with pytest.raises(TaskFailed) as caught:
        tasks.wait_for_tasks(sim, CLUSTER, arns, progress=False)
    failure = caught.value
    assert [r.exit_codes for r in failure.results] == [{"job": 3}]
    assert failure.results[0].failed and "exited with code 3" in failure.results[0].hint
    assert "exit codes {'job': 3}" in str(failure)
    assert SIMULATED_NOTE in failure.log_tail and "exited with code 3" in failure.log_tail


def test_a_task_that_stops_before_the_first_poll(sim, simulated_backend):
    local.set_clock("manual", simulated_backend.port)
    arns = tasks.run_task(sim, CLUSTER, register(sim), overrides=env(**{SECONDS: "0"}))
    local.advance_clock(5, simulated_backend.port)  # it goes PROVISIONING -> PENDING -> ACTIVATING -> RUNNING -> ... -> STOPPED unseen
    polls = []
    results = tasks.wait_for_tasks(sim, CLUSTER, arns, progress=False, on_poll=polls.append)
    assert len(polls) == 1 and results[0].last_status == "STOPPED" and results[0].exit_codes == {"job": 0}


def test_a_retried_run_task_with_the_same_client_token_starts_one_task(sim):
    definition = register(sim)
    first = tasks.run_task(sim, CLUSTER, definition, client_token="retry-me")
    again = tasks.run_task(sim, CLUSTER, definition, client_token="retry-me")
    assert first == again
    assert sim.client("ecs").list_tasks(cluster=CLUSTER)["taskArns"] == first
    other = tasks.run_task(sim, CLUSTER, definition)
    assert other != first


def test_fargate_spot_shows_launch_type_and_capacity_provider(sim):
    arns = tasks.run_task(sim, CLUSTER, register(sim), capacity="FARGATE_SPOT")
    task = sim.client("ecs").describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"][0]
    assert (task["launchType"], task["capacityProviderName"]) == ("FARGATE", "FARGATE_SPOT")
    tasks.wait_for_tasks(sim, CLUSTER, arns, progress=False)


def test_timeout_stops_the_tasks_or_leaves_them(sim):
    definition = register(sim)
    arns = tasks.run_task(sim, CLUSTER, definition, overrides=env(**{SECONDS: "60"}))
    with pytest.raises(TaskTimedOut, match="had not stopped after 1.5 s.*stopped them"):
        tasks.wait_for_tasks(sim, CLUSTER, arns, timeout=1.5, progress=False)
    ecs = sim.client("ecs")
    assert ecs.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"][0]["desiredStatus"] == "STOPPED"

    kept = tasks.run_task(sim, CLUSTER, definition, overrides=env(**{SECONDS: "60"}))
    with pytest.raises(TaskTimedOut, match="left them running") as caught:
        tasks.wait_for_tasks(sim, CLUSTER, kept, timeout=1, on_timeout="leave", progress=False)
    assert caught.value.results[0].last_status != "STOPPED"
    assert ecs.describe_tasks(cluster=CLUSTER, tasks=kept)["tasks"][0]["desiredStatus"] == "RUNNING"
    tasks.stop_tasks(sim, CLUSTER, kept)


def test_a_missing_log_group_fails_to_start_with_a_hint(sim):
    definition = register(sim, log_group="/fargate-lab/nowhere")
    arns = tasks.run_task(sim, CLUSTER, definition)
    with pytest.raises(TaskFailed) as caught:
        tasks.wait_for_tasks(sim, CLUSTER, arns, progress=False)
    (result,) = caught.value.results
    assert result.stop_code == "TaskFailedToStart"
    assert result.stopped_reason.startswith("ResourceInitializationError")
    assert "log group does not exist" in result.hint


def test_logs_of_a_running_and_a_stopped_task(sim, simulated_backend):
    local.set_clock("manual", simulated_backend.port)
    (arn,) = tasks.run_task(sim, CLUSTER, register(sim), overrides=env(**{SECONDS: "2"}))
    local.advance_clock(1, simulated_backend.port)  # RUNNING from 0.7 s to 2.7 s
    running = tasks.task_logs(sim, CLUSTER, arn)
    assert running == {"job": [f"{SIMULATED_NOTE} container 'job' would run: sh -c echo hello"]}
    local.set_clock("real", simulated_backend.port)  # following polls in real time until the task stops
    printed = []
    followed = tasks.task_logs(sim, CLUSTER, arn, follow=True, poll_seconds=0.3, printer=printed.append)
    assert followed["job"][-1] == f"{SIMULATED_NOTE} container 'job' exited with code 0"
    assert printed[-1] == f"[job] {SIMULATED_NOTE} container 'job' exited with code 0"
    stream = f"ecs/job/{arn.rsplit('/', 1)[-1]}"
    events = sim.client("logs").get_log_events(logGroupName="/fargate-lab/job", logStreamName=stream)["events"]
    assert len(events) == 2


def test_embedded_run_task_accepts_what_fargate_accepts(sim):
    """No container memory and no securityGroups: valid on Fargate, HTTP 500 on plain moto 5.2.5."""
    ecs = sim.client("ecs")
    ecs.register_task_definition(family="raw", requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256",
                                 memory="512", containerDefinitions=[{"name": "a", "image": "busybox"}])
    subnets = prereqs.network(sim)["subnets"]
    answer = ecs.run_task(cluster=CLUSTER, taskDefinition="raw", launchType="FARGATE",
                          networkConfiguration={"awsvpcConfiguration": {"subnets": subnets}})
    task = answer["tasks"][0]
    assert answer["failures"] == [] and task["lastStatus"] == "PROVISIONING"
    assert task["containers"][0]["name"] == "a" and task["createdAt"]
    with pytest.raises(ecs.exceptions.InvalidParameterException, match="does not support launch_type FARGATE"):
        ecs.register_task_definition(family="ec2only", containerDefinitions=[{"name": "a", "image": "x",
                                                                              "memory": 128}])
        ecs.run_task(cluster=CLUSTER, taskDefinition="ec2only", launchType="FARGATE",
                     networkConfiguration={"awsvpcConfiguration": {"subnets": subnets}})


def test_run_task_checks_its_parameters_before_any_call(sim):
    with pytest.raises(InvalidParameter, match="capacity"):
        tasks.run_task(sim, CLUSTER, "job", capacity="EC2")
    with pytest.raises(InvalidParameter, match="count"):
        tasks.run_task(sim, CLUSTER, "job", count=11)
    with pytest.raises(InvalidParameter, match="on_timeout"):
        tasks.wait_for_tasks(sim, CLUSTER, ["x"], on_timeout="ignore")


def test_hints_for_common_stop_reasons():
    assert "image could not be pulled" in tasks.hint_for(
        "TaskFailedToStart", "CannotPullContainerError: pull image manifest has been retried", {"a": None})
    assert "more memory" in tasks.hint_for("EssentialContainerExited", "Essential container in task exited",
                                           {"a": 137}, {"a": "OutOfMemoryError: Container killed due to memory usage"})
    assert "ECS could not prepare the task" in tasks.hint_for("TaskFailedToStart", "ResourceInitializationError: x",
                                                              {"a": None})
    assert "'a' exited with code 127 (command not found)" in tasks.hint_for(
        "EssentialContainerExited", "Essential container in task exited", {"a": 127})
    assert "Spot" in tasks.hint_for("SpotInterruption", "Your Spot Task was interrupted.", {"a": 143})


def test_duration_counts_from_pull_start_to_stop():
    start = tasks.result_from({"taskArn": "arn:x/t", "lastStatus": "RUNNING"}).created_at
    assert start is None
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    result = tasks.TaskResult(task_arn="arn:x/t", last_status="STOPPED", pull_started_at=now,
                              stopped_at=now + timedelta(seconds=42), exit_codes={"a": 0})
    assert result.duration_seconds == 42 and not result.failed


def test_notebook_02_fails_a_papermill_run_when_the_task_fails(sim, simulated_backend, monkeypatch, tmp_path):
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from tests.conftest import ROOT

    monkeypatch.setenv("FARGATE_LAB_PORT", str(simulated_backend.port))
    out = tmp_path / "02.ipynb"
    with pytest.raises(PapermillExecutionError) as caught:
        papermill.execute_notebook(str(ROOT / "notebooks" / "02_run_fargate_task.ipynb"), str(out),
                                   parameters={"environment": {EXIT: "3"}, "cluster": CLUSTER},
                                   progress_bar=False, kernel_name="python3")
    assert caught.value.ename == "TaskFailed"
    assert "exited with code 3" in caught.value.evalue and SIMULATED_NOTE in caught.value.evalue

    papermill.execute_notebook(str(ROOT / "notebooks" / "02_run_fargate_task.ipynb"), str(out),
                               parameters={"count": 2, "capacity": "FARGATE_SPOT", "cluster": CLUSTER},
                               progress_bar=False, kernel_name="python3")
    text = out.read_text()
    assert "SIMULATED: the embedded backend has no container runtime here" in text
    assert re.search(r"registered [\w-]+:2; what changed", text)  # the environment differs from the failed run's
    assert "EssentialContainerExited" in text and "FARGATE_SPOT" in text


def test_secrets_must_exist_for_the_task_to_start(sim):
    secret = sim.client("secretsmanager").create_secret(Name="lab/token", SecretString='{"token": "s3cret"}')["ARN"]
    sim.client("ssm").put_parameter(Name="/lab/level", Value="3", Type="SecureString")
    parameter = "arn:aws:ssm:us-east-1:123456789012:parameter/lab/level"
    good = register(sim, secrets={"TOKEN": f"{secret}:token::", "LEVEL": parameter})
    results = tasks.wait_for_tasks(sim, CLUSTER, tasks.run_task(sim, CLUSTER, good), progress=False)
    assert results[0].exit_codes == {"job": 0}

    missing = register(sim, secrets={"TOKEN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf"})
    with pytest.raises(TaskFailed, match="unable to pull secrets") as caught:
        tasks.wait_for_tasks(sim, CLUSTER, tasks.run_task(sim, CLUSTER, missing), progress=False)
    assert caught.value.results[0].stop_code == "TaskFailedToStart"
    assert "secret cannot be read" in caught.value.results[0].hint


def test_task_definition_tags_propagate_to_the_task(sim):
    (arn,) = tasks.run_task(sim, CLUSTER, register(sim), tags={"purpose": "test"})
    task = sim.client("ecs").describe_tasks(cluster=CLUSTER, tasks=[arn], include=["TAGS"])["tasks"][0]
    tags = {t["key"]: t["value"] for t in task["tags"]}
    assert tags["purpose"] == "test" and tags[SUITE_TAG_KEY] == "fargate-lab"
    definition = sim.client("ecs").describe_task_definition(taskDefinition="job", include=["TAGS"])
    assert {t["key"] for t in definition["tags"]} <= set(tags)


def test_spot_needs_the_capacity_provider_on_the_cluster(sim):
    ecs = sim.client("ecs")
    ecs.create_cluster(clusterName="bare")
    with pytest.raises(ecs.exceptions.InvalidParameterException, match="not associated with the cluster"):
        tasks.run_task(sim, "bare", register(sim), capacity="FARGATE_SPOT")


def test_log_lines_appear_in_time_without_describe_tasks(sim, simulated_backend):
    local.set_clock("manual", simulated_backend.port)
    (arn,) = tasks.run_task(sim, CLUSTER, register(sim), overrides=env(**{SECONDS: "0.2"}))
    local.advance_clock(5, simulated_backend.port)  # stopped by now (after about 1.2 s); nobody called DescribeTasks
    stream = f"ecs/job/{arn.rsplit('/', 1)[-1]}"
    events = sim.client("logs").get_log_events(logGroupName="/fargate-lab/job", logStreamName=stream)["events"]
    assert [e["message"].split("] ", 1)[1] for e in events] == [
        "container 'job' would run: sh -c echo hello", "container 'job' exited with code 0"]


def test_notebook_02_declares_every_parameter_the_issue_lists():
    from helpers.runner import declared_parameters
    from tests.conftest import ROOT

    declared = declared_parameters(ROOT / "notebooks" / "02_run_fargate_task.ipynb")
    assert {"backend", "region", "cluster", "family", "image", "cpu", "memory", "command", "environment", "count",
            "capacity", "arch", "timeout"} <= declared
