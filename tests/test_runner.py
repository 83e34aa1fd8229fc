"""The headless runner: parameters reach the notebooks that declare them; a failure stops the run visibly."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from helpers.runner import default_notebooks, parse_value
from tests.conftest import FIXTURES, ROOT

RUNNER = FIXTURES / "runner"
#: What a passing run must not print (stdout or stderr), whoever prints it: kernels, papermill, the runner.
NOISE = re.compile(r"warning|error|traceback|keyboardinterrupt|timeout waiting", re.I)


def noise(result: subprocess.CompletedProcess) -> list[str]:
    """Lines of a run's output that read as a warning or an error."""
    return [line for line in (result.stdout + result.stderr).splitlines() if NOISE.search(line)]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "helpers", "run", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def outputs(path: Path) -> str:
    nb = json.loads(path.read_text())
    texts = []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            texts.append("".join(out.get("text", "")) + "".join(out.get("traceback", [])) + out.get("evalue", ""))
    return "\n".join(texts)


def test_parameters_reach_only_the_notebooks_that_declare_them(tmp_path, session):
    result = run(str(RUNNER / "a_params.ipynb"), str(RUNNER / "b_other.ipynb"),
                 "-p", "greeting", "bonjour", "-p", "sizes", "[256, 512]", "--out", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "greeting=bonjour sizes=[256, 512] type=list" in outputs(tmp_path / "a_params.ipynb")
    assert "other=1 has_greeting=False" in outputs(tmp_path / "b_other.ipynb")
    assert "without encryption" not in result.stderr and not noise(result), noise(result)
    table = result.stdout
    assert "a_params.ipynb" in table and "b_other.ipynb" in table and table.count(" ok ") == 2
    # the closing summary: where the notebooks are, the backend keeps running, what runs, how to stop
    assert f"executed notebooks: {tmp_path.resolve()}/" in table
    assert f"the embedded backend keeps running at {session.endpoint_url}" in table
    assert "still running in the embedded backend: no service and no task" in table
    assert "stop the backend and its containers: python -m helpers.local stop" in table


def test_a_failing_notebook_stops_the_run_and_keeps_its_output(tmp_path, backend):
    result = run(str(RUNNER / "a_params.ipynb"), str(RUNNER / "c_fails.ipynb"), str(RUNNER / "d_after.ipynb"),
                 "--out", str(tmp_path))
    assert result.returncode == 1
    assert re.search(r"c_fails.ipynb +failed", result.stdout)
    assert re.search(r"d_after.ipynb +not run", result.stdout)
    assert "RuntimeError: boom" in result.stdout
    kept = tmp_path / "c_fails.ipynb"
    assert kept.exists() and "boom: the runbook failed here" in outputs(kept)
    assert not (tmp_path / "d_after.ipynb").exists()


def test_missing_notebook_is_an_error(tmp_path):
    result = run("notebooks/nope.ipynb", "--out", str(tmp_path))
    assert result.returncode == 2 and "no such notebook" in result.stderr


def test_parameter_values_are_typed():
    assert parse_value("512") == 512
    assert parse_value("true") is True
    assert parse_value("v2") == "v2"
    assert parse_value("[echo, hi]") == ["echo", "hi"]
    assert parse_value("none") is None
    assert parse_value("") == ""


def test_default_notebooks_are_the_suite_in_order():
    names = [p.name for p in default_notebooks()]
    assert names == sorted(names) and names[0] == "00_environment.ipynb"


def test_a_misspelt_parameter_fails_the_run_before_any_notebook_starts(tmp_path):
    result = run("notebooks/02_run_fargate_task.ipynb", "-p", "memry", "1024", "--out", str(tmp_path))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "'memry' is not a parameter of any notebook of this run: did you mean 'memory'?" in result.stderr
    assert list(tmp_path.iterdir()) == [], "a notebook ran"


def test_a_bad_value_fails_the_run_before_any_notebook_starts(tmp_path):
    result = run("notebooks/00_environment.ipynb", "notebooks/02_run_fargate_task.ipynb", "-p", "count", "0",
                 "-p", "region", "mars", "--out", str(tmp_path))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "parameter 'count' is 0" in result.stderr and "(in 02_run_fargate_task.ipynb)" in result.stderr
    assert "parameter 'region' is 'mars'" in result.stderr and "00_environment.ipynb, 02_run" in result.stderr
    assert list(tmp_path.iterdir()) == [], "a notebook ran"


def test_a_passing_run_shuts_kernels_down_without_interrupting_them(tmp_path):
    """jupyter_client sends SIGINT to a kernel's process group before every shutdown request; a kernel that has
    answered every cell has nothing to interrupt, and the signal made a passing run print "KeyboardInterrupt caught
    in kernel." A process the notebook started (in the kernel's group) records the signals it gets."""
    import os
    import signal
    import time

    from helpers.runner import run_notebooks

    record = tmp_path / "signals.txt"
    [result] = run_notebooks([RUNNER / "e_watcher.ipynb"], {"record": str(record)}, tmp_path / "out")
    assert result.status == "ok", result.error
    os.kill(int(Path(f"{record}.pid").read_text()), signal.SIGTERM)  # the watcher writes what it saw, then exits
    deadline = time.monotonic() + 20
    while not record.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert record.read_text() == "none", "the kernel's shutdown interrupted its process group"


def test_the_run_id_reaches_the_kernels_and_leaves_the_calling_process_as_it_was(tmp_path, monkeypatch):
    """A run in a process (a test, a notebook server) gives its kernels a run ID and takes it back afterwards: a
    second run gets one of its own, and a later test in that process sees the environment it had."""
    from helpers.runner import run_notebooks
    from helpers.tags import RUN_ID_ENV

    monkeypatch.delenv(RUN_ID_ENV, raising=False)
    [result] = run_notebooks([RUNNER / "f_run_id.ipynb"], {}, tmp_path / "out")
    assert result.status == "ok", result.error
    assert re.search(r"run id: \d{8}T\d{6}Z", outputs(result.output))
    assert RUN_ID_ENV not in os.environ
    monkeypatch.setenv(RUN_ID_ENV, "exported-by-the-operator")
    [again] = run_notebooks([RUNNER / "f_run_id.ipynb"], {}, tmp_path / "again")
    assert "run id: exported-by-the-operator" in outputs(again.output)
    assert os.environ[RUN_ID_ENV] == "exported-by-the-operator"


def _connection_runs(tmp_path: Path, runtime: Path, count: int) -> list[tuple[str, str]]:
    """``count`` runs of a notebook printing its kernel's transport and address, started at the same moment."""
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime)}
    script = ("import sys; from helpers.runner import run_notebooks; "
              "[r] = run_notebooks([sys.argv[1]], {}, sys.argv[2]); sys.exit(r.status != 'ok' and r.error)")
    runs = [subprocess.Popen([sys.executable, "-c", script, str(RUNNER / "g_connection.ipynb"),
                              str(tmp_path / f"out{n}")],
                             cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for n in range(count)]
    seen = []
    for n, run in enumerate(runs):
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, out + err
        transport, address = re.search(r"kernel: (\w+) (\S+)", outputs(tmp_path / f"out{n}" / "g_connection.ipynb"))\
            .groups()
        seen.append((transport, address))
    return seen


def test_runs_started_together_give_each_kernel_sockets_of_its_own_and_leave_none_behind(tmp_path):
    """A TCP kernel's ports are picked free and bound a moment later, so kernels starting together can collide
    ("Address already in use", the kernel dies before kernel_info). The runner's kernels use unix sockets, one
    path per kernel in Jupyter's runtime directory, removed at shutdown."""
    runtime = tmp_path / "runtime"
    seen = _connection_runs(tmp_path, runtime, 3)
    assert {transport for transport, _ in seen} == {"ipc"}
    addresses = [address for _, address in seen]
    assert len(set(addresses)) == 3 and all(Path(a).parent == runtime for a in addresses), addresses
    assert not [p.name for p in runtime.iterdir() if p.is_socket()]


def test_a_runtime_directory_too_long_for_a_socket_path_falls_back_to_tcp(tmp_path):
    runtime = tmp_path / ("r" * 110)
    [(transport, address)] = _connection_runs(tmp_path, runtime, 1)
    assert (transport, address) == ("tcp", "127.0.0.1")
