"""Embedded backends started with faults, on their own ports, for the tests that need them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from helpers import local
from helpers.session import LabSession
from tests.backends import embedded_backend, lab_session


@contextmanager
def faulty_backend(spec: str) -> Iterator[LabSession]:
    """A fresh embedded backend that injects ``spec``'s faults; yields a session on it, stops it after."""
    with embedded_backend(faults=spec) as info:  # simulated tasks, as the shared test backend: fast, deterministic
        yield lab_session(info)


def fault_counts(session: LabSession) -> dict[str, int]:
    """How many faults of each kind the backend injected so far."""
    return local.health(int(session.endpoint_url.rsplit(":", 1)[1]))["fault_counts"]
