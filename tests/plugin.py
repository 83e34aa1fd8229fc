"""pytest hooks for every test and notebook of the repository (the root conftest.py loads this plugin).

Tests never touch a backend they did not start: ``ISOLATION.apply()`` gives this process (each pytest-xdist worker
too) its own port and state directory whatever ``FARGATE_LAB_PORT`` and ``FARGATE_LAB_STATE_DIR`` said, before any
test or notebook runs; nbmake's and papermill's kernels inherit them, even when pytest is given only notebooks.

Under pytest-xdist (``make test``), every module runs on one worker (its module-scoped backends start once), the
tests that use the Docker engine share one worker (they build, run and remove images and containers), the notebooks
run in order on one worker (02 uses what 01 pushed), and the slowest groups start first so the rest overlaps them.
"""

from __future__ import annotations

import os
from contextlib import ExitStack

import pytest

from tests.backends import ISOLATION, embedded_backend

ISOLATION.apply()

BASE_IMAGE = "fargate-lab-test/busybox:local"
#: Groups that take minutes, started first under xdist so that everything else runs beside them.
SLOW_FIRST = ("tests/test_suite_run.py", "tests/test_binder.py", "docker", "tests/test_browser.py", "notebooks")
#: Fixtures whose tests use the Docker engine: all of them run on one xdist worker.
DOCKER_FIXTURES = {"docker_client", "base_image"}
#: The prefix of a skip that CI accepts: the test needs an engine this machine does not have.
ENGINE_MISSING = "needs an engine this machine lacks: "

_shared = ExitStack()
_shared_info: list = []


def shared_backend():
    """This process's backend on its own port (``FARGATE_LAB_PORT``), started on first use, stopped at the end."""
    if not _shared_info:
        _shared_info.append(_shared.enter_context(embedded_backend(port=ISOLATION.port)))
    return _shared_info[0]


def build_base_image(client) -> str:
    """Build BASE_IMAGE (FROM scratch plus Debian's static busybox): no registry is reachable in CI."""
    from helpers.images import local_base_image, static_busybox

    if static_busybox() is None:
        raise RuntimeError("the static busybox is missing: apt-get install busybox-static")
    return local_base_image(client, tag=BASE_IMAGE)


def pytest_configure(config):
    """Where an engine answers, build the local base image once (in xdist's controller, before its workers start)
    and make notebook builds use it (kernels inherit the environment): no registry is reachable here or in CI."""
    if hasattr(config, "workerinput") or os.environ.get("FARGATE_LAB_BASE_IMAGE"):
        return
    from helpers.engine import docker_client

    client = docker_client()
    if client is None:
        return
    try:
        os.environ["FARGATE_LAB_BASE_IMAGE"] = build_base_image(client)
    finally:
        client.close()


def _group(item) -> str:
    if DOCKER_FIXTURES & set(getattr(item, "fixturenames", ())) or item.get_closest_marker("docker"):
        return "docker"
    if not isinstance(item, pytest.Function):  # nbmake's notebooks: in order, on one worker
        return "notebooks"
    return item.nodeid.split("::", 1)[0]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """In an xdist worker: group the tests (modules whole, Docker together, notebooks together) and put the slowest
    groups first; the order is the same in every worker, as xdist requires. Known gap: with xdist 3.8 here,
    ``--dist loadgroup`` did not keep these groups on one worker, so ``make test`` uses ``--dist loadscope``
    (modules whole; Docker tests of different modules may overlap)."""
    _deselect_notebooks_run_by_a_test(config, items)
    if not hasattr(config, "workerinput"):
        return

    def rank(item) -> int:
        group = _group(item)
        return SLOW_FIRST.index(group) if group in SLOW_FIRST else len(SLOW_FIRST)

    items.sort(key=rank)
    for item in items:
        group = _group(item)
        item.add_marker(pytest.mark.xdist_group(group))


#: Notebooks a test module runs top to bottom under papermill (and asserts on): nbmake need not run them again.
RUN_BY_A_TEST = {"05_cost_history.ipynb": "test_notebook_05.py"}


def _deselect_notebooks_run_by_a_test(config, items) -> None:
    """Drop nbmake's run of a notebook whose test module is collected too: that module's papermill run fails on
    any cell that fails, as nbmake's does, and notebook 05 alone takes a minute and a half."""
    collected = {item.path.name for item in items}
    drop = [item for item in items
            if item.path.suffix == ".ipynb" and RUN_BY_A_TEST.get(item.path.name) in collected]
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = [item for item in items if item not in drop]


def pytest_runtest_setup(item):
    """A notebook (nbmake) finds this process's backend already running, with simulated tasks, as the tests do."""
    if not isinstance(item, pytest.Function):
        shared_backend()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI (CI=true), a skip fails the test unless it needs an engine CI does not have: nothing of ours skips
    there by accident. Every skip's reason is printed in the summary (``-ra``)."""
    report = yield
    if report.skipped and os.environ.get("CI") == "true" and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if ENGINE_MISSING not in reason:
            report.outcome = "failed"
            report.longrepr = f"skipped in CI, where nothing of ours may skip: {reason}"
    return report


def pytest_sessionfinish(session, exitstatus):
    """Stop this process's backend, then untag what pushes left in the engine under it (127.0.0.1:PORT/...):
    those references point nowhere now. Only this port's references."""
    _shared.close()
    from helpers import local
    from helpers.engine import docker_client

    client = docker_client()
    if client is None:
        return
    prefix = f"{local.HOST}:{ISOLATION.port}/"
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


def pytest_unconfigure(config):
    ISOLATION.remove()
