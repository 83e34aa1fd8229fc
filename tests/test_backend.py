"""The embedded backend's lifecycle: start, reuse from another process, status, reset, stop, port conflicts."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from helpers import local
from helpers.errors import BackendPortInUse
from tests.conftest import ROOT, free_port


def cli(*args: str, port: int) -> subprocess.CompletedProcess:
    env = dict(os.environ, FARGATE_LAB_PORT=str(port))
    return subprocess.run([sys.executable, "-m", "helpers.local", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def own_port():
    port = free_port()
    yield port
    local.stop(port)


def test_start_reuse_status_stop(own_port):
    first = cli("start", port=own_port)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().splitlines()[-1] == f"http://127.0.0.1:{own_port}"
    pid = local.status(own_port).pid

    second = cli("start", port=own_port)  # another process reuses the running server
    assert second.returncode == 0
    assert local.status(own_port).pid == pid

    status = cli("status", port=own_port)
    assert f"http://127.0.0.1:{own_port}" in status.stdout.splitlines()

    assert cli("stop", port=own_port).returncode == 0
    assert local.status(own_port) is None
    gone = cli("status", port=own_port)
    assert gone.returncode != 0 and "not running" in gone.stdout


def test_port_taken_by_another_program_gives_a_clear_error(own_port):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", own_port))
        squatter.listen()
        with pytest.raises(BackendPortInUse, match=rf"port {own_port}.*another program.*FARGATE_LAB_PORT"):
            local.start(own_port)
        result = cli("start", port=own_port)
        assert result.returncode == 1
        assert "in use by another program" in result.stderr


def test_bad_port_variable_is_explained(monkeypatch):
    monkeypatch.setenv("FARGATE_LAB_PORT", "eighty")
    with pytest.raises(Exception, match="FARGATE_LAB_PORT='eighty' is not a port number"):
        local.port()


def test_state_is_shared_between_sessions_and_reset_forgets_it(session):
    import helpers

    session.client("ecs").create_cluster(clusterName="shared")
    other = helpers.connect(backend="local")  # another session, as another kernel would make
    assert "shared" in other.client("ecs").describe_clusters(clusters=["shared"])["clusters"][0]["clusterName"]
    assert cli("reset", port=local.port()).returncode == 0
    assert other.client("ecs").list_clusters()["clusterArns"] == []
