"""The notebooks across a crash of the backend, and four at once: papermill runs against a backend the test started.

Tasks are simulated (what is tested is the backend's state, not containers), so the runs stay short. The
backend is killed with SIGKILL, the way a closed laptop or an OOM kill ends it, and started again on the same
state directory and port.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import local
from tests.backends import free_port, lab_session
from tests.conftest import ROOT

NOTEBOOKS = ROOT / "notebooks"
SERVICE_FAMILY = "fargate-lab-sample-app"


@pytest.fixture
def port():
    chosen = free_port()
    yield chosen
    local.stop(chosen)


def _papermill(port: int, notebook: str, out: Path, **parameters) -> subprocess.Popen:
    """A papermill run of ``notebook`` whose kernel talks to the backend on ``port``."""
    arguments = ["-y", json.dumps(parameters)] if parameters else []  # JSON is YAML: lists and booleans typed
    env = {**os.environ, "FARGATE_LAB_PORT": str(port)}
    return subprocess.Popen(
        [sys.executable, "-m", "papermill", str(NOTEBOOKS / notebook), str(out), *arguments, "--no-progress-bar",
         "--cwd", str(NOTEBOOKS)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _helpers_run(port: int, notebook: str, out: Path, **parameters) -> subprocess.Popen:
    """``python -m helpers run`` of ``notebook`` into the folder ``out``: how an operator runs several at once (its
    kernels talk over unix sockets, so kernels starting together cannot pick the same TCP port)."""
    arguments = [a for name, value in parameters.items() for a in ("-p", name, json.dumps(value))]
    env = {**os.environ, "FARGATE_LAB_PORT": str(port)}
    return subprocess.Popen([sys.executable, "-m", "helpers", "run", str(NOTEBOOKS / notebook), *arguments,
                             "--out", str(out)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _passes(*runs: subprocess.Popen) -> None:
    for run in runs:
        out, err = run.communicate(timeout=900)
        assert run.returncode == 0, f"{run.args[3]} failed:\n{out[-2000:]}\n{err[-4000:]}"


def _kill_and_start(info: local.ServerInfo) -> local.ServerInfo:
    os.kill(info.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while local._pid_alive(info.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    again = local.start(info.port, runtime="simulated")
    assert again.pid != info.pid
    return again


def _state_of(session) -> dict:
    """What the notebooks make, without the tasks (a restart replaces those): to compare two moments."""
    ecs, ecr = session.client("ecs"), session.client("ecr")
    clusters = sorted(ecs.list_clusters()["clusterArns"])
    services = {}
    for cluster in clusters:
        arns = ecs.list_services(cluster=cluster)["serviceArns"]
        for found in ecs.describe_services(cluster=cluster, services=arns)["services"] if arns else []:
            services[found["serviceArn"]] = (found["status"], found["taskDefinition"], found["desiredCount"],
                                             [d["id"] for d in found["deployments"]])
    images = {r["repositoryName"]: sorted((i["imageDigest"], tuple(sorted(i.get("imageTags", []))))
                                          for i in ecr.describe_images(repositoryName=r["repositoryName"])[
                                              "imageDetails"])
              for r in ecr.describe_repositories()["repositories"]}
    return {
        "clusters": clusters, "services": services, "images": images,
        "task definitions": sorted(ecs.list_task_definitions()["taskDefinitionArns"]),
        "log groups": sorted(g["logGroupName"] for g in session.client("logs").describe_log_groups()["logGroups"]),
        "roles": sorted(r["Arn"] for r in session.client("iam").list_roles()["Roles"]),
        "security groups": sorted((g["GroupName"], g["GroupId"]) for g in session.client("ec2").describe_security_groups()[
            "SecurityGroups"]),
    }


def _service_tasks(session, cluster: str = "fargate-lab", service: str = "sample-app") -> set[str]:
    return set(session.client("ecs").list_tasks(cluster=cluster, serviceName=service)["taskArns"])


def test_a_crash_between_notebooks_loses_nothing_and_notebook_03_again_registers_nothing(port, tmp_path):
    info = local.start(port, runtime="simulated")
    _passes(_papermill(port, "01_push_to_ecr.ipynb", tmp_path / "01.ipynb"))
    _passes(_papermill(port, "03_deploy_service.ipynb", tmp_path / "03.ipynb"))
    session = lab_session(info)
    once = _state_of(session)
    assert once["task definitions"][-1].endswith(f"{SERVICE_FAMILY}:1")
    before = _service_tasks(session)
    assert len(before) == 2

    session = lab_session(_kill_and_start(info))
    assert _state_of(session) == once  # nothing acknowledged was lost
    _passes(_papermill(port, "03_deploy_service.ipynb", tmp_path / "03-again.ipynb"))
    assert _state_of(session) == once  # the second run registered, created and deployed nothing new
    after = _service_tasks(session)
    assert len(after) == 2 and not after & before  # the service is steady again on new tasks only

    _passes(_papermill(port, "04_cost_and_state.ipynb", tmp_path / "04.ipynb", regions=["us-east-1"],
                       period_days=3))
    _passes(_papermill(port, "99_cleanup.ipynb", tmp_path / "99.ipynb", dry_run=False, confirm=True))
    assert "0 suite resource(s) left" in (tmp_path / "99.ipynb").read_text()


def test_four_notebooks_at_once_then_kill_9_and_all_four_are_kept(port, tmp_path):
    info = local.start(port, runtime="simulated")
    families = [f"at-once-{n}" for n in range(3)]
    runs = [_helpers_run(port, "02_run_fargate_task.ipynb", tmp_path / family, family=family) for family in families]
    runs.append(_helpers_run(port, "03_deploy_service.ipynb", tmp_path / "service", desired_count=1))
    _passes(*runs)
    session = lab_session(info)
    kept = _state_of(session)
    ecs = session.client("ecs")
    one_offs = {family: ecs.list_tasks(cluster="fargate-lab", family=family, desiredStatus="STOPPED")["taskArns"]
                for family in families}
    assert all(len(arns) == 1 for arns in one_offs.values()), one_offs
    assert [name for name, _ in kept["security groups"]].count("fargate-lab-tasks") == 1

    session = lab_session(_kill_and_start(info))
    assert _state_of(session) == kept
    assert sorted(a.rsplit("/", 1)[-1] for a in kept["task definitions"]) == sorted(
        [f"{family}:1" for family in families] + [f"{SERVICE_FAMILY}:1"])
    ecs = session.client("ecs")
    for family, arns in one_offs.items():
        (task,) = ecs.describe_tasks(cluster="fargate-lab", tasks=arns)["tasks"]
        assert (task["lastStatus"], task["containers"][0].get("exitCode")) == ("STOPPED", 0), family
