"""Every answer the embedded backend gives during the run is checked against botocore's service model.

With FARGATE_LAB_CHECK_SHAPES=1, the backends the tests start inherit a file name (set here before any starts)
and append each mismatch to that file (emulator/shapes.py); at the end of the run a mismatch fails it, naming the
operation and the member. A FARGATE_LAB_CHECK_SHAPES given from outside is used as it is.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

import pytest

ENV = "FARGATE_LAB_CHECK_SHAPES"
_made: list[Path] = []


def pytest_configure(config):
    """Opt-in for now (``FARGATE_LAB_CHECK_SHAPES=1 make test``): "1" becomes a fresh file the backends share."""
    if hasattr(config, "workerinput") or os.environ.get(ENV) != "1":
        return
    handle, name = tempfile.mkstemp(prefix="fargate-lab-shapes-", suffix=".jsonl")
    os.close(handle)
    os.environ[ENV] = name
    _made.append(Path(name))


def mismatches(path: Path) -> dict[tuple[str, str], str]:
    """(operation, member with list indices as [*]) -> one example problem."""
    found: dict[tuple[str, str], str] = {}
    if not path.exists():
        return found
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        member = re.sub(r"\[\d+\]", "[*]", record["member"])
        found.setdefault((record["operation"], member), record["problem"])
    return found


def pytest_sessionfinish(session, exitstatus):
    if hasattr(session.config, "workerinput") or not os.environ.get(ENV):
        return
    found = mismatches(Path(os.environ[ENV]))
    if not found:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"{op} {member}: {problem}" for (op, member), problem in sorted(found.items())]
    if reporter is not None:
        reporter.write_sep("=", f"{len(found)} answers of the embedded backend differ from botocore's model", red=True)
        for line in lines:
            reporter.write_line(line)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_unconfigure(config):
    for path in _made:
        path.unlink(missing_ok=True)
