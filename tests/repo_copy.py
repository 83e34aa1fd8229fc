"""A copy of the repository as a learner gets it (a clone, no .venv, no runs), for tests that write into it."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import ROOT

#: What a fresh clone does not have: the developer's environment, outputs, caches.
NOT_IN_A_CLONE = (
    ".git", ".venv", "runs", "test-artifacts", "build", "*.egg-info", "__pycache__",
    ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints",
)


def copy_repo(dest: Path) -> Path:
    """Copy the working tree (uncommitted changes included) to ``dest``, leaving out what a clone lacks."""
    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(*NOT_IN_A_CLONE), symlinks=True)
    return dest
