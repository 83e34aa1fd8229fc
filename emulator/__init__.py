"""The embedded backend: an emulation of the AWS APIs the lab uses, on 127.0.0.1, as a program of its own.

It is moto's server extended where moto differs from AWS (``emulator.fidelity``), a Docker runtime and a
simulated executor for ECS tasks, an image registry, a service scheduler and fault injection. The client
package (``helpers``) starts it as a process (``python -m emulator serve``) and talks to it over HTTP only; the
two never import each other.
"""

from __future__ import annotations

from pathlib import Path

HOST = "127.0.0.1"
HEALTH_PATH = "/_lab/health"
RESET_PATH = "/_lab/reset"
CLOCK_PATH = "/_lab/clock"
SERVER_NAME = "fargate-lab embedded backend"


def state_dir() -> Path:
    """Where the server keeps what it writes (``FARGATE_LAB_STATE_DIR``, else ~/.cache/fargate-lab)."""
    from emulator import settings

    return settings.current().state_path()
