"""Shared fixtures: the embedded backend on a test port, a session, the Docker engine, a local base image."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

# Tests use their own port so they never reset a lab the user has running; nbmake's kernels inherit it.
os.environ.setdefault("FARGATE_LAB_PORT", "4598")
os.environ.setdefault("FARGATE_LAB_SIMULATED_SECONDS", "1")

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
BASE_IMAGE = "fargate-lab-test/busybox:local"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def backend():
    """The embedded backend, started once for the test session and stopped after it.

    Its tasks are simulated whatever the machine has, so tests and notebooks that only need ECS's answers stay
    fast and deterministic; tests of real containers start their own backend with runtime="docker"
    (tests/test_docker_tasks_e2e.py).
    """
    from helpers import local

    info = local.start(runtime="simulated")
    yield info
    local.stop()


@pytest.fixture(scope="module")
def simulated_backend():
    """A backend of the test module's own (free port) whose tasks are always simulated, Docker or not."""
    from helpers import local

    port = free_port()
    info = local.start(port, runtime="simulated")
    yield info
    local.stop(port)


@pytest.fixture
def session(backend):
    """A fresh, empty embedded backend for each test."""
    import helpers
    from helpers import local

    local.reset()
    return helpers.connect(backend="local")


@pytest.fixture(scope="session")
def docker_client():
    """The Docker engine; skipped where none answers, a failure in CI (FARGATE_LAB_REQUIRE_DOCKER=1)."""
    from helpers.engine import docker_client as connect_engine

    client = connect_engine()
    if client is None:
        if os.environ.get("FARGATE_LAB_REQUIRE_DOCKER") == "1":
            pytest.fail("FARGATE_LAB_REQUIRE_DOCKER=1 but no Docker engine answers")
        pytest.skip("no Docker engine answers here")
    return client


def build_base_image(client) -> str:
    """Build BASE_IMAGE (FROM scratch plus Debian's static busybox): no registry is reachable in CI."""
    from helpers.images import local_base_image, static_busybox

    if static_busybox() is None:
        raise RuntimeError("the static busybox is missing: apt-get install busybox-static")
    return local_base_image(client, tag=BASE_IMAGE)


def pytest_sessionstart(session):
    """Where an engine answers, build the local base image and make notebook builds use it (nbmake's kernels
    inherit the environment): no registry is reachable here or in CI."""
    from helpers.engine import docker_client

    client = docker_client()
    if client is None or os.environ.get("FARGATE_LAB_BASE_IMAGE"):
        return
    try:
        os.environ["FARGATE_LAB_BASE_IMAGE"] = build_base_image(client)
    finally:
        client.close()


def pytest_sessionfinish(session, exitstatus):
    """Untag what pushes left in the engine under this session's embedded registry (127.0.0.1:PORT/...): the
    backend stops with the session, so those references point nowhere. Only this port's references."""
    from helpers import local
    from helpers.engine import docker_client

    client = docker_client()
    if client is None:
        return
    prefix = f"{local.HOST}:{local.port()}/"
    try:
        for image in client.images.list():
            for ref in image.tags:
                if ref.startswith(prefix):
                    try:
                        client.images.remove(ref)
                    except Exception:  # noqa: BLE001 - in use by a container, or already gone
                        pass
    finally:
        client.close()


@pytest.fixture(scope="session")
def base_image(docker_client) -> str:
    """A base image built locally (FROM scratch plus Debian's static busybox): no registry is reachable in CI."""
    if not Path("/bin/busybox").exists():
        pytest.fail("the static busybox is missing: apt-get install busybox-static")
    return build_base_image(docker_client)
