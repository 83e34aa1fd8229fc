"""Tests never touch a backend they did not start: a user's running lab survives `make test` in the same shell.

The user's lab runs on the port they exported (``FARGATE_LAB_PORT``, the README's way to choose one) with their
state directory; the tests run in that environment. A test that resets the shared backend and a notebook run by
nbmake (a kernel that inherits the environment) must leave the user's backend, its resources and its directory
as they were.
"""

from __future__ import annotations

import os
import subprocess
import sys

from helpers import local
from tests.backends import CLEARED, ISOLATION
from tests.conftest import ROOT, free_port, lab_session


def test_this_process_has_its_own_port_and_state_dir_whatever_the_environment_said():
    assert os.environ["FARGATE_LAB_PORT"] == str(ISOLATION.port) != ISOLATION.user_port
    assert os.environ["FARGATE_LAB_STATE_DIR"] == str(ISOLATION.state_dir) != ISOLATION.user_state_dir
    assert ISOLATION.state_dir.is_dir() and ISOLATION.state_dir.name.startswith("fargate-lab-tests-")
    assert set(CLEARED) & set(os.environ) == set()
    assert local.port() == ISOLATION.port and local.state_dir() == ISOLATION.state_dir


def test_the_session_fixture_resets_this_process_s_backend(session):
    """Also run inside the test below, in a user's environment: this reset must not reach the user's lab."""
    assert session.endpoint_url == local.url(ISOLATION.port)
    session.client("ecs").create_cluster(clusterName="made-by-a-test")


def test_a_users_running_backend_is_untouched_by_the_suite(tmp_path, monkeypatch):
    user_state, user_port = tmp_path / "user-state", free_port()
    user = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    user.update(FARGATE_LAB_PORT=str(user_port), FARGATE_LAB_STATE_DIR=str(user_state))
    started = subprocess.run([sys.executable, "-m", "helpers.local", "start"], env=user, cwd=ROOT,
                             capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr
    monkeypatch.setenv("FARGATE_LAB_STATE_DIR", str(user_state))  # this test talks to the lab with the user's key
    try:
        lab = local.status(user_port)
        ecs = lab_session(lab).client("ecs")
        ecs.create_cluster(clusterName="the-users-work")
        before = {p.relative_to(user_state): p.stat().st_size for p in user_state.rglob("*")}
        inner = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "--nbmake",
             "tests/test_isolation.py::test_the_session_fixture_resets_this_process_s_backend",
             "notebooks/00_environment.ipynb"],
            env=user, cwd=ROOT, capture_output=True, text=True, timeout=600)
        after = {p.relative_to(user_state): p.stat().st_size for p in user_state.rglob("*")}  # its log: no request
        assert after == before, "the tests wrote into the user's state directory or called the user's backend:\n" + \
            (user_state / f"server-{user_port}.log").read_text()[-1000:]
        assert inner.returncode == 0, inner.stdout[-4000:] + inner.stderr[-2000:]
        assert "2 passed" in inner.stdout, inner.stdout[-2000:]
        still = local.status(user_port)
        assert still is not None and still.pid == lab.pid, "the tests stopped or replaced the user's backend"
        assert [a.rsplit("/", 1)[1] for a in ecs.list_clusters()["clusterArns"]] == ["the-users-work"]
    finally:
        local.stop(user_port)
