"""Fixes that make moto answer like AWS for what the suite uses.

Each submodule patches one service and registers itself in ``FIXES``; ``apply_all``
runs them once inside the server process. This package is the only place where the
embedded backend differs from plain moto.
"""

from __future__ import annotations

import importlib
import logging

log = logging.getLogger("helpers.local.fidelity")

#: Submodules of this package, applied in order.
FIXES: list[str] = []

_applied = False


def apply_all(faults: str | None = None) -> None:
    global _applied
    if _applied:
        return
    for name in FIXES:
        module = importlib.import_module(f"{__name__}.{name}")
        module.apply()
        log.info("applied fidelity fix %s", name)
    _applied = True
