"""Shared fixtures: the embedded backend on the test process's own port, a session, the Docker engine, a base image.

The hooks that give every test process its own port and state directory, group the tests for pytest-xdist and
fail skips in CI live in tests/plugin.py (loaded by the root conftest.py, so they cover notebooks/ too).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.backends import embedded_backend, free_port, lab_session
from tests.plugin import BASE_IMAGE, ENGINE_MISSING, build_base_image, shared_backend

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"

__all__ = ["BASE_IMAGE", "FIXTURES", "ROOT", "build_base_image", "embedded_backend", "free_port", "lab_session"]


@pytest.fixture(scope="session")
def backend():
    """The embedded backend of this test process, on the port ``helpers.connect`` and the notebooks' kernels use.

    Its tasks are simulated whatever the machine has, so tests and notebooks that only need ECS's answers stay
    fast and deterministic; tests of real containers start their own with ``embedded_backend(runtime="docker")``.
    """
    return shared_backend()


@pytest.fixture(scope="module")
def simulated_backend():
    """A backend of the test module's own (free port) whose tasks are always simulated, Docker or not."""
    with embedded_backend(runtime="simulated") as info:
        yield info


@pytest.fixture
def session(backend):
    """A fresh, empty embedded backend for each test."""
    import helpers
    from helpers import local

    local.reset(backend.port)
    return helpers.connect(backend="local")


def engine_missing(what: str) -> None:
    """Skip a test that needs ``what``, an engine this machine does not have (CI accepts only such skips)."""
    pytest.skip(ENGINE_MISSING + what)


@pytest.fixture(scope="session")
def docker_client():
    """The Docker engine; skipped where none answers, a failure in CI (FARGATE_LAB_REQUIRE_DOCKER=1)."""
    from helpers.engine import docker_client as connect_engine

    client = connect_engine()
    if client is None:
        if os.environ.get("FARGATE_LAB_REQUIRE_DOCKER") == "1":
            pytest.fail("FARGATE_LAB_REQUIRE_DOCKER=1 but no Docker engine answers")
        engine_missing("no Docker engine answers here")
    return client


@pytest.fixture(scope="session")
def base_image(docker_client) -> str:
    """A base image built locally (FROM scratch plus Debian's static busybox): no registry is reachable in CI."""
    if not Path("/bin/busybox").exists():
        pytest.fail("the static busybox is missing: apt-get install busybox-static")
    if os.environ.get("FARGATE_LAB_BASE_IMAGE") == BASE_IMAGE:
        return BASE_IMAGE  # built once by the first process (xdist's controller), before the workers started
    return build_base_image(docker_client)
