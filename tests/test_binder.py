"""Binder: an environment built from binder/'s files alone runs every notebook, with no AWS account and no Docker.

Binder (repo2docker) reads only binder/: it installs binder/requirements.txt on binder/runtime.txt's Python, runs
binder/postBuild once, and at each launch runs binder/start with the notebook server's command as arguments. The
test does the same in a fresh virtual environment on a copy of the repository, and has binder/start exec a command
that runs every notebook through papermill. Binder has no Docker engine, so neither does the test.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port
from tests.repo_copy import copy_repo

BINDER = ROOT / "binder"


def pins(path: Path) -> dict[str, str]:
    """``name -> version`` for each ``name==version`` line (extras and case ignored)."""
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^\s*([A-Za-z0-9_.-]+)(\[[^\]]*\])?==(\S+)", line)
        if match:
            found[match.group(1).lower()] = match.group(3)
    return found


#: In requirements.txt for developers and CI only; a learner on Binder does not need them.
DEVELOPER_ONLY = {"pytest", "pytest-xdist", "execnet", "ruff", "nbmake", "playwright", "import-linter", "parliament",
                  "awscli", "ecs-deploy"}


def test_binder_pins_are_the_project_pins_without_developer_tools():
    binder, project = pins(BINDER / "requirements.txt"), pins(ROOT / "requirements.txt")
    wanted = {name: version for name, version in project.items() if name not in DEVELOPER_ONLY}
    missing = {name: version for name, version in wanted.items() if name not in binder}
    assert not missing, f"requirements.txt pins what binder/requirements.txt lacks; add: {missing}"
    differ = {name: (binder[name], wanted.get(name)) for name in binder if wanted.get(name) != binder[name]}
    assert not differ, f"binder/requirements.txt disagrees with requirements.txt (binder, project): {differ}"


def test_binder_scripts_are_executable_and_python_is_pinned():
    for script in ("postBuild", "start"):
        assert os.access(BINDER / script, os.X_OK), f"binder/{script} must be executable"
    major, minor = re.fullmatch(r"python-(\d+)\.(\d+)\s*", (BINDER / "runtime.txt").read_text()).groups()
    assert (int(major), int(minor)) >= (3, 11), "the lab needs Python 3.11 or newer"


def run(command: list[str], env: dict[str, str], cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"{' '.join(command)} exited {result.returncode}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result


@pytest.mark.slow
def test_every_notebook_runs_in_an_environment_built_from_binder_alone(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    bin_dir = venv / "bin"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "DOCKER_HOST")}
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(venv),
        FARGATE_LAB_PORT=str(free_port()), FARGATE_LAB_STATE_DIR=str(tmp_path / "state"),
        DOCKER_HOST=f"unix://{tmp_path / 'no-docker-engine.sock'}",  # Binder has no Docker engine
    )
    # --no-compile: byte-compiling pandas, matplotlib and jupyterlab would double the install time of this test.
    run(["python", "-m", "pip", "install", "--quiet", "--no-compile", "-r", str(repo / "binder" / "requirements.txt")],
        env, repo, timeout=900)
    run([str(repo / "binder" / "postBuild")], env, repo, timeout=300)
    out = tmp_path / "runs"
    # binder/start must have started the embedded backend before it execs the command: `status` checks that.
    check_and_run = f"python -m helpers.local status && python -m helpers run --out {out}"
    try:
        result = run([str(repo / "binder" / "start"), "bash", "-c", check_and_run], env, tmp_path, timeout=900)
    finally:
        subprocess.run([str(bin_dir / "python"), "-m", "helpers.local", "stop"], env=env, cwd=tmp_path,
                       capture_output=True, timeout=60)
    assert "docker engine: no" in result.stdout, "the test must run without a Docker engine, as on Binder"
    notebooks = sorted(p.name for p in (repo / "notebooks").glob("*.ipynb"))
    assert notebooks
    for name in notebooks:
        assert re.search(rf"^{re.escape(name)} +ok ", result.stdout, re.M), f"{name} did not succeed:\n{result.stdout}"
        assert (out / name).exists()
