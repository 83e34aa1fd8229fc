"""`make lab`'s install of the lab's own package prints nothing: no setuptools banner on a fresh clone."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import ROOT
from tests.repo_copy import copy_repo

#: The Makefile's install of the package itself (its dependencies come from requirements.txt before it).
INSTALL = "-m pip install --quiet --no-deps -e ."
#: pip's notice about an index location in this machine's pip configuration (not the project's output).
MACHINE_INDEX_NOTICE = re.compile(r"^WARNING: Location '.*' is ignored: it is neither a file nor a directory\.$")


def test_the_editable_install_prints_nothing(tmp_path):
    assert f"$(PY) {INSTALL}" in (ROOT / "Makefile").read_text(), "the Makefile installs the package otherwise"
    repo = copy_repo(tmp_path / "repo")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    # the lab's own pip (the Makefile upgrades pip first), installing into the fresh environment
    result = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                             *INSTALL.split()[2:]], cwd=repo, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    printed = [line for line in (result.stdout + result.stderr).splitlines()
               if line.strip() and not MACHINE_INDEX_NOTICE.match(line)]
    assert printed == [], "\n".join(printed)
    found = subprocess.run([str(venv / "bin" / "python"), "-c", "import importlib.util as u; print(u.find_spec('helpers').origin, u.find_spec('emulator').origin)"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert found.stdout.split() == [str(repo / name / "__init__.py") for name in ("helpers", "emulator")], \
        found.stdout + found.stderr  # the clone's own folders: edits take effect without reinstalling
