"""The tests' one way to get an embedded backend: on a port and in a state directory of the test process's own.

A user's lab runs on the port in ``FARGATE_LAB_PORT`` and keeps its log and caches in ``FARGATE_LAB_STATE_DIR``;
a test run must never reset it, stop it or write beside it. So ``isolate()`` (called by conftest when pytest
loads it, in every process: each pytest-xdist worker gets its own) replaces both variables with a free port and a
fresh temporary directory, whatever the environment said, and drops the variables that would change how the
tests' backends behave (faults, a run id, call recording). nbmake's and papermill's kernels inherit the result.

Every backend a test starts comes from ``embedded_backend``: a free port (or the process's own), simulated tasks
unless a test asks for real containers, an empty state (what an earlier backend on that port kept is removed),
stopped afterwards.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: What a user may have exported that must not reach the tests' backends or kernels.
CLEARED = ("FARGATE_LAB_FAULTS", "FARGATE_LAB_RUN_ID", "FARGATE_LAB_RECORD_CALLS", "FARGATE_LAB_RUNTIME",
           "FARGATE_LAB_ECR_REGISTRY", "FARGATE_LAB_ECR_PASSWORD", "FARGATE_LAB_SIMULATED_EXIT_CODE")
#: Simulated one-off tasks run for 1 s in the tests (3 s by default): waits stay short.
SIMULATED_SECONDS = "1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Isolation:
    """The port and state directory of this test process (one per pytest-xdist worker)."""

    def __init__(self) -> None:
        self.port = 0
        self.state_dir: Path | None = None
        self.user_port: str | None = None
        self.user_state_dir: str | None = None

    def apply(self) -> None:
        """Point FARGATE_LAB_PORT and FARGATE_LAB_STATE_DIR at this process's own; clear what would change the
        tests' backends. Idempotent within a process."""
        if self.state_dir is not None:
            return
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        self.user_port = os.environ.get("FARGATE_LAB_PORT")
        self.user_state_dir = os.environ.get("FARGATE_LAB_STATE_DIR")
        self.port = free_port()
        self.state_dir = Path(tempfile.mkdtemp(prefix=f"fargate-lab-tests-{worker}-"))
        os.environ["FARGATE_LAB_PORT"] = str(self.port)
        os.environ["FARGATE_LAB_STATE_DIR"] = str(self.state_dir)
        os.environ["FARGATE_LAB_SIMULATED_SECONDS"] = SIMULATED_SECONDS
        for name in CLEARED:
            os.environ.pop(name, None)

    def remove(self) -> None:
        """Delete the state directory (its backends are stopped by then)."""
        if self.state_dir is not None:
            shutil.rmtree(self.state_dir, ignore_errors=True)


ISOLATION = Isolation()


@contextmanager
def embedded_backend(runtime: str = "simulated", faults: str | None = None,
                     port: int | None = None) -> Iterator:
    """Start an embedded backend of the caller's own and stop it afterwards; yields its ``local.ServerInfo``.

    ``runtime="simulated"`` (the default) simulates tasks whatever the machine has, so tests that only need ECS's
    answers stay fast and deterministic; ``"docker"`` runs real containers. ``port`` defaults to a free one; a
    port another program took in between is retried with a new one.
    """
    from helpers import local
    from helpers.errors import BackendPortInUse

    for attempt in range(3):
        chosen = port or free_port()
        if local.status(chosen) is None:  # a port used before in this process starts empty, not with its state
            for kept in (f"state-{chosen}", f"ecr-blobs-{chosen}"):
                shutil.rmtree(local.state_dir() / kept, ignore_errors=True)
        try:
            info = local.start(chosen, faults=faults, runtime=runtime)
            break
        except BackendPortInUse:
            if port or attempt == 2:
                raise
    try:
        yield info
    finally:
        local.stop(info.port)


def lab_session(info, region: str = "us-east-1"):
    """A LabSession on the backend ``info`` describes (as ``helpers.connect`` makes one, without starting any)."""
    from helpers import local
    from helpers.session import LabSession

    return LabSession(backend="local", endpoint_url=info.url, region_name=region, **local.CREDENTIALS)
