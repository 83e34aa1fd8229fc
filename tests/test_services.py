"""ECS services on the embedded backend: deploy, wait, roll back (its own server, runtime="simulated").

The simulated executor makes failures deterministic: a service task of an image the embedded
ECR does not hold fails to start (CannotPullContainerError), every other one runs until stopped.
"""

from __future__ import annotations

import time

import pytest

from emulator.fidelity.services import MAX_RESTART_DELAY, failure_threshold, provider_for, restart_delay
from helpers import ecr, images, local, prereqs, services, taskdef, tasks
from helpers.errors import DeploymentFailed, InvalidParameter, ServiceNotFound, TaskFailed
from helpers.session import LabSession
from helpers.tags import SUITE_TAG_KEY
from tests.conftest import ROOT

CLUSTER = "lab"
SERVICE = "web"
FAMILY = "web"
REPOSITORY = "lab/app"


@pytest.fixture(scope="module")
def image_source(tmp_path_factory) -> str:
    return images.assemble(images.DEFAULT_APP_DIR, f"{REPOSITORY}:v1", tmp_path_factory.mktemp("oci"),
                           echo=lambda _: None).source


@pytest.fixture
def sim(simulated_backend, image_source) -> LabSession:
    """A fresh simulated backend with a cluster, a log group, a role and REPOSITORY:v1 and :v2 in ECR."""
    local.reset(simulated_backend.port)
    session = LabSession(backend="local", endpoint_url=simulated_backend.url, region_name="us-east-1",
                         **local.CREDENTIALS)
    prereqs.ensure_cluster(session, CLUSTER)
    prereqs.ensure_log_group(session, taskdef.default_log_group(FAMILY))
    ecr.ensure_repository(session, REPOSITORY)
    for tag in ("v1", "v2"):
        ecr.push(session, image_source, REPOSITORY, tag, progress=False)
    return session


def definition(session: LabSession, tag: str = "v1") -> dict:
    uri, _ = taskdef.ecr_image_uri(session, REPOSITORY, tag)
    role = prereqs.ensure_execution_role(session, allow_create=True)
    return taskdef.fargate_task_definition(FAMILY, uri, cpu=256, memory=512, port=8080, execution_role_arn=role,
                                           environment={"APP_MODE": "server"})


def create(session: LabSession, desired: int = 2, **kwargs) -> dict:
    described = services.ensure_service(session, CLUSTER, SERVICE, definition(session), desired_count=desired,
                                        **kwargs)
    services.deploy(session, CLUSTER, SERVICE, image_tag="v1", timeout=30, poll=0.2, say=lambda _: None)
    return described


def describe(session: LabSession) -> dict:
    return session.client("ecs").describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]


def revisions(session: LabSession) -> list[str]:
    return session.client("ecs").list_task_definitions(familyPrefix=FAMILY)["taskDefinitionArns"]


def running_tasks(session: LabSession) -> list[dict]:
    ecs = session.client("ecs")
    arns = ecs.list_tasks(cluster=CLUSTER, serviceName=SERVICE)["taskArns"]
    return ecs.describe_tasks(cluster=CLUSTER, tasks=arns, include=["TAGS"])["tasks"] if arns else []


def test_deploy_v1_then_v2_then_v2_again(sim):
    described = services.ensure_service(sim, CLUSTER, SERVICE, definition(sim), desired_count=2)
    assert described["deploymentConfiguration"]["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert (described["deploymentConfiguration"]["minimumHealthyPercent"],
            described["deploymentConfiguration"]["maximumPercent"]) == (100, 200)
    assert described["enableECSManagedTags"] is True and described["propagateTags"] == "SERVICE"
    assert described["launchType"] == "FARGATE"
    first = services.deploy(sim, CLUSTER, SERVICE, image_tag="v1", timeout=30, poll=0.2, say=lambda _: None)
    assert (first.outcome, first.revision, first.registered) == ("COMPLETED", 1, False)

    said: list[str] = []
    second = services.deploy(sim, CLUSTER, SERVICE, image_tag="v2", timeout=30, poll=0.2, say=said.append)
    assert (second.outcome, second.revision, second.registered) == ("COMPLETED", 2, True)
    assert second.previous_task_definition.endswith(f"{FAMILY}:1") and second.deployment_id != first.deployment_id
    now = describe(sim)
    assert [(d["id"], d["status"], d["rolloutState"]) for d in now["deployments"]] == [
        (second.deployment_id, "PRIMARY", "COMPLETED")]
    assert (now["runningCount"], now["pendingCount"], now["desiredCount"]) == (2, 0, 2)
    assert len(revisions(sim)) == 2
    live = running_tasks(sim)
    assert len(live) == 2 and all(t["taskDefinitionArn"] == second.task_definition for t in live)
    assert all(t["startedBy"] == second.deployment_id and t["group"] == f"service:{SERVICE}" for t in live)
    tags = {tag["key"]: tag["value"] for tag in live[0]["tags"]}
    assert SUITE_TAG_KEY in tags and tags["aws:ecs:serviceName"] == SERVICE
    text = "\n".join(said)
    assert "has reached a steady state." in text and "COMPLETED: desired 2, running 2" in text
    assert any(line.startswith("  event ") and "has started 2 tasks" in line for line in said)

    said.clear()
    again = services.deploy(sim, CLUSTER, SERVICE, image_tag="v2", timeout=30, poll=0.2, say=said.append)
    assert (again.outcome, again.changed, again.registered) == ("UNCHANGED", False, False)
    assert again.deployment_id == second.deployment_id and len(revisions(sim)) == 2
    assert [d["id"] for d in describe(sim)["deployments"]] == [second.deployment_id]
    assert "Nothing to deploy" in said[0]


def test_a_deployment_progresses_in_time_and_keeps_the_minimum_healthy(sim):
    create(sim, desired=2)
    ecs = sim.client("ecs")
    arn = taskdef.register(sim, definition(sim, "v2")).arn
    answer = ecs.update_service(cluster=CLUSTER, service=SERVICE, taskDefinition=arn)["service"]
    new = answer["deployments"][0]
    assert (new["status"], new["rolloutState"], new["taskDefinition"]) == ("PRIMARY", "IN_PROGRESS", arn)
    assert answer["deployments"][1]["status"] == "ACTIVE"
    seen = set()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        now = describe(sim)
        primary = now["deployments"][0]
        seen.add(primary["rolloutState"])
        assert now["runningCount"] >= 2, "the rolling update went below minimumHealthyPercent (100%)"
        assert now["runningCount"] + now["pendingCount"] <= 4, "the rolling update went above maximumPercent (200%)"
        if primary["rolloutState"] == "COMPLETED":
            break
        time.sleep(0.1)
    assert seen == {"IN_PROGRESS", "COMPLETED"}
    assert len(describe(sim)["deployments"]) == 1


def test_a_broken_image_fails_and_the_circuit_breaker_rolls_back_to_v1(sim):
    create(sim, desired=2)
    v1 = describe(sim)["taskDefinition"]
    said: list[str] = []
    with pytest.raises(DeploymentFailed) as caught:
        services.deploy(sim, CLUSTER, SERVICE, image_tag="missing", timeout=30, poll=0.2, say=said.append)
    failed = caught.value
    assert failed.rolled_back_to == v1 and failed.task_definition.endswith(f"{FAMILY}:2")
    assert len(failed.stopped_tasks) >= failure_threshold(2)
    assert all(t.stop_code == "TaskFailedToStart" and "CannotPullContainerError" in t.stopped_reason
               for t in failed.stopped_tasks)
    assert any("deployment failed: tasks failed to start." in e for e in failed.events)
    assert any("rolling back to deployment" in e for e in failed.events)
    assert "Rolled back" in str(failed) and "CannotPullContainerError" in str(failed)
    now = describe(sim)
    assert now["taskDefinition"] == v1 and now["runningCount"] == 2
    primary = now["deployments"][0]
    assert (primary["taskDefinition"], primary["rolloutState"]) == (v1, "COMPLETED")
    assert all(t["taskDefinitionArn"] == v1 for t in running_tasks(sim))


def test_without_rollback_the_failed_deployment_stays_and_the_old_tasks_keep_running(sim):
    create(sim, desired=2)
    v1 = describe(sim)["taskDefinition"]
    with pytest.raises(DeploymentFailed) as caught:
        services.deploy(sim, CLUSTER, SERVICE, image_tag="missing", timeout=30, rollback_on_failure=False,
                        poll=0.2, say=lambda _: None)
    assert caught.value.rolled_back_to is None and "left as it is" in str(caught.value)
    now = describe(sim)
    primary = now["deployments"][0]
    assert primary["rolloutState"] == "FAILED" and "circuit breaker" in primary["rolloutStateReason"]
    assert now["runningCount"] == 2 and all(t["taskDefinitionArn"] == v1 for t in running_tasks(sim))
    # The next good deployment replaces the failed one.
    result = services.deploy(sim, CLUSTER, SERVICE, image_tag="v2", timeout=30, poll=0.2, say=lambda _: None)
    assert result.outcome == "COMPLETED" and describe(sim)["deployments"][0]["rolloutState"] == "COMPLETED"


def test_the_timeout_fails_the_deployment_and_rolls_back(sim):
    create(sim, desired=1, circuit_breaker=False)  # without the breaker, ECS retries a broken image forever
    v1 = describe(sim)["taskDefinition"]
    started = time.monotonic()
    with pytest.raises(DeploymentFailed, match="TIMED_OUT") as caught:
        services.deploy(sim, CLUSTER, SERVICE, image_tag="missing", timeout=2, poll=0.2, say=lambda _: None)
    assert time.monotonic() - started >= 2  # it waited its timeout out before failing
    assert caught.value.rolled_back_to == v1 and "Rolled back" in str(caught.value)
    assert caught.value.stopped_tasks and "waiting for 1 more task" in str(caught.value)
    now = describe(sim)
    assert now["taskDefinition"] == v1 and now["deployments"][0]["rolloutState"] == "COMPLETED"


def test_a_task_that_stops_is_replaced(sim):
    create(sim, desired=2)
    ecs = sim.client("ecs")
    victim = running_tasks(sim)[0]["taskArn"]
    ecs.stop_task(cluster=CLUSTER, task=victim, reason="test: chaos")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        live = [t["taskArn"] for t in running_tasks(sim) if t["lastStatus"] == "RUNNING"]
        if len(live) == 2 and victim not in live:
            break
        time.sleep(0.2)
    assert len(live) == 2 and victim not in live
    assert any("has started 1 tasks" in e["message"] for e in describe(sim)["events"])


def test_scale_status_and_delete(sim):
    create(sim, desired=1)
    services.scale(sim, CLUSTER, SERVICE, 3, timeout=20, poll=0.2, say=lambda _: None)
    state = services.status(sim, CLUSTER, SERVICE)
    assert state.service.iloc[0][["desired", "running"]].tolist() == [3, 3]
    assert state.service.iloc[0]["circuit breaker"] == "on (rollback)"
    assert list(state.deployments["rollout"]) == ["COMPLETED"] and len(state.tasks) == 3
    assert "has reached a steady state." in state.events["message"].iloc[0]
    assert services.delete(sim, CLUSTER, SERVICE, timeout=20, poll=0.5, say=lambda _: None) is True
    ecs = sim.client("ecs")
    assert ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]["status"] == "INACTIVE"
    assert ecs.list_services(cluster=CLUSTER)["serviceArns"] == []
    assert ecs.list_tasks(cluster=CLUSTER, serviceName=SERVICE)["taskArns"] == []
    assert services.delete(sim, CLUSTER, SERVICE, say=lambda _: None) is False
    with pytest.raises(ServiceNotFound):
        services.deploy(sim, CLUSTER, SERVICE, image_tag="v1", say=lambda _: None)


def test_ensure_service_is_idempotent_and_checks_first(sim):
    create(sim, desired=2)
    ecs = sim.client("ecs")
    before = describe(sim)
    again = services.ensure_service(sim, CLUSTER, SERVICE, definition(sim, "v2"), desired_count=2)
    assert again["taskDefinition"] == before["taskDefinition"]  # only deploy changes the revision
    assert [d["id"] for d in again["deployments"]] == [d["id"] for d in before["deployments"]]
    for kwargs, name in (({"desired_count": -1}, "desired_count"), ({"desired_count": 1, "max_percent": 90},
                                                                     "max_percent"),
                         ({"desired_count": 1, "propagate_tags": "ALL"}, "propagate_tags")):
        with pytest.raises(InvalidParameter) as caught:
            services.ensure_service(sim, CLUSTER, "other", definition(sim), **kwargs)
        assert caught.value.name == name
    with pytest.raises(InvalidParameter):
        services.deploy(sim, CLUSTER, SERVICE, image_tag="v2", timeout=0)
    with pytest.raises(InvalidParameter):
        services.deploy(sim, CLUSTER, SERVICE, image_tag="v2", task_definition="web:1")
    assert len(ecs.list_services(cluster=CLUSTER)["serviceArns"]) == 1 and len(revisions(sim)) == 1


def test_plan_shows_the_image_change_as_a_diff(sim):
    create(sim, desired=1)
    chosen = services.plan(sim, CLUSTER, SERVICE, image_tag="v2")
    assert chosen.changes and ":v1" in chosen.diff and ":v2" in chosen.diff
    assert "will change" in chosen.summary()
    same = services.plan(sim, CLUSTER, SERVICE, image_tag="v1")
    assert not same.changes and same.summary().startswith("No change")


def test_a_one_off_task_of_a_missing_embedded_ecr_image_fails_to_start(sim):
    td = definition(sim, "nope")
    td["containerDefinitions"][0]["environment"] = []
    arn = taskdef.register(sim, td).arn
    with pytest.raises(TaskFailed, match="CannotPullContainerError") as caught:
        tasks.wait_for_tasks(sim, CLUSTER, tasks.run_task(sim, CLUSTER, arn), timeout=20, progress=False)
    assert caught.value.results[0].stop_code == "TaskFailedToStart"
    assert "image could not be pulled" in caught.value.results[0].hint


def test_notebook_03_records_a_deployment_and_fails_a_papermill_run_on_a_failed_deploy(
        sim, simulated_backend, tmp_path):
    import os
    import subprocess
    import sys

    notebook = str(ROOT / "notebooks" / "03_deploy_service.ipynb")
    env = {**os.environ, "FARGATE_LAB_PORT": str(simulated_backend.port)}
    good = tmp_path / "good.ipynb"
    run = subprocess.run([sys.executable, "-m", "papermill", notebook, str(good), "-p", "cluster", CLUSTER,
                          "-p", "desired_count", "1", "--no-progress-bar"], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    record = services.read_record(good)
    assert record["outcome"] == "COMPLETED" and record["revision"] == 1 and record["deployment_id"].startswith(
        "ecs-svc/")

    bad = tmp_path / "bad.ipynb"
    run = subprocess.run([sys.executable, "-m", "papermill", notebook, str(bad), "-p", "cluster", CLUSTER,
                          "-p", "desired_count", "1", "-p", "image_tag", "broken", "-p", "push_if_missing", "False",
                          "--no-progress-bar"], env=env, capture_output=True, text=True)
    assert run.returncode != 0
    assert "DeploymentFailed" in run.stderr and "CannotPullContainerError" in run.stderr
    with pytest.raises(LookupError):
        services.read_record(bad)
    now = sim.client("ecs").describe_services(cluster=CLUSTER, services=["sample-app"])["services"][0]
    assert now["taskDefinition"] == record["task_definition"]  # rolled back to the recorded revision


def test_a_capacity_provider_strategy_spreads_the_tasks_base_first_then_by_weight(sim):
    strategy = [{"capacityProvider": "FARGATE", "weight": 1, "base": 1},
                {"capacityProvider": "FARGATE_SPOT", "weight": 2}]
    assert [provider_for(strategy, counts) for counts in ({}, {"FARGATE": 1}, {"FARGATE": 1, "FARGATE_SPOT": 2})] \
        == ["FARGATE", "FARGATE_SPOT", "FARGATE"]
    services.ensure_service(sim, CLUSTER, SERVICE, definition(sim), desired_count=4, capacity=strategy)
    services.deploy(sim, CLUSTER, SERVICE, image_tag="v1", timeout=30, poll=0.2, say=lambda _: None)
    providers = sorted(t.get("capacityProviderName", "") for t in running_tasks(sim))
    assert providers == ["FARGATE", "FARGATE", "FARGATE_SPOT", "FARGATE_SPOT"]
    assert describe(sim)["deployments"][0]["capacityProviderStrategy"] == strategy
    with pytest.raises(InvalidParameter):
        services.ensure_service(sim, CLUSTER, "other", definition(sim), desired_count=1, capacity="EC2")


def test_the_circuit_breaker_threshold_and_the_restart_back_off_follow_ecs():
    assert [failure_threshold(n) for n in (1, 2, 6, 7, 10, 400, 1000)] == [3, 3, 3, 4, 5, 200, 200]
    assert [restart_delay(n) for n in (0, 1, 2, 3, 4)] == [0, 0, 1, 2, 4] and restart_delay(50) == MAX_RESTART_DELAY
