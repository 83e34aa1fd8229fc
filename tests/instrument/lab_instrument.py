"""What the tests install in the processes they start, read from the environment those processes inherit.

- ``FARGATE_LAB_RECORD_CALLS=FILE``: every boto3 session the process creates appends the IAM action of each of its
  calls to FILE (``helpers.calls.record_every_session``), for the least-privilege check.
- ``FARGATE_LAB_TEST_BACKOFF_SCALE=SECONDS``: botocore's backoff after a throttling error starts from SECONDS
  instead of 1 s. Its standard retry mode is unchanged otherwise (same attempts, same jitter, same retry quota), so a
  run under injected throttling proves the same retries in a fraction of the waiting.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

RECORD_ENV = "FARGATE_LAB_RECORD_CALLS"
BACKOFF_ENV = "FARGATE_LAB_TEST_BACKOFF_SCALE"
HERE = Path(__file__).resolve().parent


def shorten_backoff(scale: float) -> Callable[[], None]:
    """Make botocore's standard-mode backoff after throttling start from ``scale`` seconds; returns the undo."""
    from botocore.retries.standard import ExponentialBackoff

    before = ExponentialBackoff._DEFAULT_BACKOFF_CONFIG  # botocore 1.44: {"throttling_base_scale": 1, ...}
    if "throttling_base_scale" not in before:
        raise RuntimeError("this botocore has no throttling_base_scale: update tests/instrument/lab_instrument.py")
    ExponentialBackoff._DEFAULT_BACKOFF_CONFIG = dict(before, throttling_base_scale=scale)

    def undo() -> None:
        ExponentialBackoff._DEFAULT_BACKOFF_CONFIG = before

    return undo


def install_from_environment() -> None:
    """Install what the environment asks for (called by ``sitecustomize`` at the process's start)."""
    if os.environ.get(RECORD_ENV):
        from helpers.calls import record_every_session

        record_every_session(os.environ[RECORD_ENV])
    if os.environ.get(BACKOFF_ENV):
        shorten_backoff(float(os.environ[BACKOFF_ENV]))


def instrumented_env(env: Mapping[str, str], *, record_calls: Path | None = None,
                     backoff_scale: float | None = None) -> dict[str, str]:
    """``env`` for a child process that installs this instrumentation at its start (and passes it on to its own
    children, such as papermill's kernels, through the inherited environment)."""
    child = dict(env)
    child["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), env.get("PYTHONPATH", "")) if p)
    if record_calls is not None:
        child[RECORD_ENV] = str(record_calls)
    if backoff_scale is not None:
        child[BACKOFF_ENV] = str(backoff_scale)
    return child
