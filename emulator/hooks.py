"""Registries the extensions (emulator.extensions) and the container runtime plug into, inside the server process."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger("emulator")

ON_RESET: list[Callable[[], None]] = []
ON_SHUTDOWN: list[Callable[[], None]] = []
#: WSGI middlewares tried before moto: each returns an iterable to answer, or None to pass.
MIDDLEWARE: list[Callable[[dict, Callable], Iterable[bytes] | None]] = []

#: What the running server shares with its fixes: "app" (the whole WSGI chain), "fault_counts". Its settings
#: are ``emulator.settings.current()``.
CONFIG: dict[str, Any] = {}

_docker_cache: dict[str, Any] = {"at": 0.0, "ok": False}


def run(registry: list[Callable[[], None]]) -> None:
    """Call every hook; one failing hook does not stop the others."""
    for hook in list(registry):
        try:
            hook()
        except Exception:  # noqa: BLE001 - a hook's failure is logged, the rest still run
            log.exception("hook %s failed", getattr(hook, "__name__", hook))


def docker_available(max_age: float = 10.0) -> bool:
    """Whether a Docker engine answers, checked at most every ``max_age`` seconds."""
    now = time.monotonic()  # real time: how often to ask the engine
    if now - _docker_cache["at"] > max_age:
        from emulator.engine import docker_client

        _docker_cache.update(at=now, ok=docker_client() is not None)
    return bool(_docker_cache["ok"])
