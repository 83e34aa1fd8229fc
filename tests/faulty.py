"""Embedded backends started with faults, on their own ports, for the tests that need them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from helpers import local
from helpers.session import LabSession
from tests.conftest import free_port


@contextmanager
def faulty_backend(spec: str) -> Iterator[LabSession]:
    """A fresh embedded backend that injects ``spec``'s faults; yields a session on it, stops it after."""
    port = free_port()
    info = local.start(port, faults=spec, runtime="simulated")  # as the shared test backend: fast, deterministic
    try:
        yield LabSession(backend="local", endpoint_url=info.url, region_name="us-east-1", **local.CREDENTIALS)
    finally:
        local.stop(port)


def fault_counts(session: LabSession) -> dict[str, int]:
    """How many faults of each kind the backend injected so far."""
    return local.health(int(session.endpoint_url.rsplit(":", 1)[1]))["fault_counts"]
