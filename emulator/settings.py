"""The server's settings: every ``FARGATE_LAB_*`` variable the emulator reads, read and checked in one place.

``python -m emulator serve`` reads them once at start (``configure``), its flags winning over the environment;
the rest of the emulator asks ``current()``. A bad value stops the server at start with what would be valid.
The README's settings table lists these beside the client's variables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from emulator.errors import InvalidSetting

RUNTIMES = ("auto", "docker", "simulated")
DEFAULT_SIMULATED_SECONDS = 3.0

#: name -> (what it sets, default): the server's variables, as the README's table documents them.
VARIABLES: dict[str, tuple[str, str]] = {
    "FARGATE_LAB_STATE_DIR": ("where the server keeps its log, ECR blobs and start lock", "~/.cache/fargate-lab"),
    "FARGATE_LAB_PERSIST": ("1: keep the backend's state in the state directory across stop, start and crash; 0: "
                            "forget it at stop (the persistence benchmark's baseline)", "1"),
    "FARGATE_LAB_FAULTS": ("fault injection spec, e.g. throttle=0.3,seed=7 (see emulator/faults.py)", "none"),
    "FARGATE_LAB_RUNTIME": ("how ECS tasks run: auto (Docker when an engine answers), docker or simulated", "auto"),
    "FARGATE_LAB_SIMULATED_SECONDS": ("how long a simulated one-off task runs, in seconds", "3"),
    "FARGATE_LAB_ECR_REGISTRY": ("host:port that ECR repository URIs and tokens name instead of the emulator's",
                                 "127.0.0.1:PORT"),
    "FARGATE_LAB_ECR_PASSWORD": ("the password inside ECR authorization tokens", "random per server"),
    "FARGATE_LAB_CHECK_SHAPES": ("a file: every answer is checked against botocore's model, mismatches appended "
                                 "there (`1` under pytest: a fresh file)", "none (not checked)"),
}


@dataclass(frozen=True)
class Settings:
    """How this server runs; ``port`` is None until ``serve`` is given one."""

    port: int | None = None
    state_dir: Path | None = None
    faults: str | None = None
    runtime: str = "auto"
    simulated_seconds: float = DEFAULT_SIMULATED_SECONDS
    ecr_registry: str | None = None
    ecr_password: str | None = None
    check_shapes: str | None = None
    persist: bool = True

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings the ``FARGATE_LAB_*`` variables give; InvalidSetting names a bad one."""
        env = os.environ if environ is None else environ
        base = env.get("FARGATE_LAB_STATE_DIR") or os.path.join(
            env.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "fargate-lab")
        runtime = env.get("FARGATE_LAB_RUNTIME") or "auto"
        if runtime not in RUNTIMES:
            raise InvalidSetting("FARGATE_LAB_RUNTIME", runtime, f"one of {', '.join(RUNTIMES)}")
        raw_seconds = env.get("FARGATE_LAB_SIMULATED_SECONDS") or str(DEFAULT_SIMULATED_SECONDS)
        try:
            seconds = float(raw_seconds)
        except ValueError:
            seconds = -1.0
        if not seconds >= 0:
            raise InvalidSetting("FARGATE_LAB_SIMULATED_SECONDS", raw_seconds, "a number of seconds >= 0, e.g. 3")
        persist = env.get("FARGATE_LAB_PERSIST") or "1"
        if persist not in ("0", "1"):
            raise InvalidSetting("FARGATE_LAB_PERSIST", persist, "1 (keep the state) or 0 (forget it at stop)")
        return cls(state_dir=Path(base), persist=persist == "1", faults=env.get("FARGATE_LAB_FAULTS") or None, runtime=runtime,
                   simulated_seconds=seconds, ecr_registry=env.get("FARGATE_LAB_ECR_REGISTRY") or None,
                   ecr_password=env.get("FARGATE_LAB_ECR_PASSWORD") or None,
                   check_shapes=env.get("FARGATE_LAB_CHECK_SHAPES") or None)

    def state_path(self) -> Path:
        """The state directory, created when missing."""
        path = self.state_dir or Settings.from_environment().state_dir
        path.mkdir(parents=True, exist_ok=True)
        return path


_current: dict[str, Settings] = {}


def configure(port: int | None = None, faults: str | None = None, runtime: str | None = None,
              environ: Mapping[str, str] | None = None) -> Settings:
    """Read the environment once, let the server's flags win, and make the result ``current()``."""
    settings = Settings.from_environment(environ)
    if runtime is not None and runtime not in RUNTIMES:
        raise InvalidSetting("--runtime", runtime, f"one of {', '.join(RUNTIMES)}")
    settings = replace(settings, port=port, faults=faults or settings.faults, runtime=runtime or settings.runtime)
    _current["settings"] = settings
    return settings


def current() -> Settings:
    """This server's settings (read from the environment when ``configure`` was not called: tests, tools)."""
    if "settings" not in _current:
        _current["settings"] = Settings.from_environment()
    return _current["settings"]
