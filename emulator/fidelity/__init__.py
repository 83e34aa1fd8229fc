"""Fixes that make moto answer like AWS for what the suite uses.

Each submodule patches one concern and has an ``apply()``; ``apply_all`` imports every
submodule (in name order) and applies it once, inside the server process. This package
is the only place where the embedded backend differs from plain moto.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil

log = logging.getLogger("emulator.fidelity")

_applied = False


def apply_all() -> None:
    global _applied
    if _applied:
        return
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.apply()
        log.info("applied fidelity fix %s", info.name)
    _applied = True
