"""The local Docker engine the runtime drives, when one answers."""

from __future__ import annotations

from typing import Any


def docker_client(timeout: float = 5.0) -> Any | None:
    """A Docker SDK client whose engine answers a ping, or None (no SDK, no engine, no permission)."""
    try:
        import docker

        client = docker.from_env(timeout=timeout)
        client.ping()
        return client
    except Exception:  # noqa: BLE001 - any failure means "no engine here"
        return None
