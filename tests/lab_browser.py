"""JupyterLab on 127.0.0.1 and headless Chromium driven by Playwright: the lab as a learner sees it.

Debian's ``chromium`` is used as installed (``.ci/run`` installs it); Playwright never downloads a browser.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
#: JupyterLab's user settings for the test: no news pop-up (it would ask to reach the internet).
LAB_SETTINGS = {"@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"}}


@dataclass
class JupyterLab:
    """A running JupyterLab server: its URL, root folder and log."""

    url: str
    root: Path
    log: Path
    process: subprocess.Popen = field(repr=False)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


def lab_environment(state: Path, backend_port: int) -> dict[str, str]:
    """The server's (and so its kernels') environment: own Jupyter dirs and an own embedded-backend port."""
    env = dict(os.environ)
    for name in ("config", "data", "runtime", "settings", "workspaces", "ipython"):
        (state / name).mkdir(parents=True, exist_ok=True)
    env.update(
        JUPYTER_CONFIG_DIR=str(state / "config"), JUPYTER_DATA_DIR=str(state / "data"),
        JUPYTER_RUNTIME_DIR=str(state / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(state / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(state / "workspaces"), IPYTHONDIR=str(state / "ipython"),
        FARGATE_LAB_PORT=str(backend_port), FARGATE_LAB_STATE_DIR=str(state / "backend"),
    )
    for name, settings in LAB_SETTINGS.items():
        path = state / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings))
    return env


@contextmanager
def jupyterlab(
    root: Path, env: dict[str, str], state: Path, launcher: list[str] | None = None, timeout: float = 90.0
) -> Iterator[JupyterLab]:
    """Serve JupyterLab on a free 127.0.0.1 port, token disabled, rooted at ``root``; stop it afterwards.

    ``launcher`` goes before the server's command, as Binder puts ``binder/start`` before it.
    """
    port = free_port()
    log = state / "jupyterlab.log"
    command = [*(launcher or []),
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0", "--IdentityProvider.token=", f"--ServerApp.root_dir={root}",
        "--ServerApp.allow_root=True", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]
    with open(log, "ab") as out:
        process = subprocess.Popen(command, env=env, cwd=root, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    lab = JupyterLab(f"http://127.0.0.1:{port}", root, log, process)
    try:
        _wait_until_answers(lab, timeout)
        yield lab
    finally:
        process.terminate()  # the server shuts its kernels down on SIGTERM
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_answers(lab: JupyterLab, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lab.process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited (code {lab.process.returncode}):\n{lab.log_tail()}")
        try:
            with urllib.request.urlopen(lab.url + "/api/status", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    raise RuntimeError(f"JupyterLab did not answer within {timeout:.0f} s:\n{lab.log_tail()}")


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (Debian's) with a new, empty profile; yields a Playwright browser context."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1800},
        )
        try:
            yield context
        finally:
            context.close()


@dataclass
class CellView:
    """One code cell as the page shows it after the run."""

    index: int
    prompt: str
    source: str
    stderr: list[str]  # what the learner sees in red: tracebacks (JupyterLab renders errors as stderr) and warnings
    tables: int
    progress_bars: int
    images: int  # rendered PNG/SVG outputs: matplotlib figures
    widget_errors: list[str]  # "Error displaying widget": the widget's model never reached the page

    @property
    def ran(self) -> bool:
        """The prompt shows an execution count: ``[3]:``, not ``[ ]:`` or ``[*]:``."""
        return any(ch.isdigit() for ch in self.prompt)


# Reads every code cell of the open notebook: its prompt, its stderr outputs (errors included), and what rendered.
_READ_CELLS = """
() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell')].map((cell, index) => ({
  index,
  prompt: (cell.querySelector('.jp-InputArea-prompt') || {}).textContent || '',
  source: [...cell.querySelectorAll('.jp-InputArea-editor .cm-line')].map(line => line.textContent).join('\\n'),
  stderr: [...cell.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
           .map(e => e.textContent),
  tables: cell.querySelectorAll('.jp-OutputArea-output table.dataframe').length,
  progress_bars: cell.querySelectorAll('.jp-OutputArea-output .widget-hprogress .progress-bar').length
    + [...cell.querySelectorAll('.jp-OutputArea-output[data-mime-type="text/plain"]')]
        // helpers.progress's final line: with a total "100%|...", without one (a push that compresses as it
        // uploads knows no total) "uploading: 1.16MB [00:00, 6.35MB/s]"
        .filter(o => /\\d+%\\||: [\\d.]+\\w* \\[[\\d:]+, [^\\]]*\\/s\\]/.test(o.textContent)).length,
  images: cell.querySelectorAll('.jp-OutputArea-output[data-mime-type^="image/"] :is(img, svg)').length,
  widget_errors: [...cell.querySelectorAll('.jp-OutputArea-output')].map(o => o.innerText)
                   .filter(t => t.includes('Error displaying widget')),
}))
"""

# The status bar says "Python 3 (ipykernel) | Idle" once the kernel has started and connected
# (the toolbar's indicator already says "idle" before any kernel exists, so it cannot tell).
_KERNEL_READY = """
() => [...document.querySelectorAll('.jp-StatusBar-Widget')].some(w => /\\|\\s*Idle/.test(w.textContent))
"""

# True once Run All has finished: the kernel is idle, no cell is running or queued, and at least one cell ran.
_RUN_FINISHED = """
() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  if (!panel) return false;
  const indicator = panel.querySelector('.jp-Notebook-ExecutionIndicator');
  if (!indicator || indicator.getAttribute('data-status') !== 'idle') return false;
  const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')].map(p => p.textContent);
  return !prompts.some(p => p.includes('*')) && prompts.some(p => /\\d/.test(p));
}
"""


def run_all_cells(page: Any, lab: JupyterLab, notebook: str, timeout: float = 300.0) -> list[CellView]:
    """Open ``notebook`` (relative to the lab's root), wait for its kernel, Run > Run All Cells, wait until done."""
    workspace = f"test-{uuid.uuid4().hex[:8]}"  # a new workspace: no tab of an earlier page is restored
    page.goto(f"{lab.url}/lab/workspaces/{workspace}/tree/{notebook}")
    page.wait_for_selector(".jp-NotebookPanel .jp-CodeCell", timeout=60_000)
    page.wait_for_function(_KERNEL_READY, timeout=120_000, polling=250)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    try:
        page.wait_for_function(_RUN_FINISHED, timeout=timeout * 1000, polling=500)
    except Exception as exc:  # noqa: BLE001 - the server's log says more than Playwright's timeout
        raise AssertionError(f"{notebook}: Run All did not finish within {timeout:.0f} s; "
                             f"JupyterLab's log ends with:\n{lab.log_tail()}") from exc
    page.wait_for_timeout(500)  # let the last outputs (widgets) finish rendering
    return [CellView(**cell) for cell in page.evaluate(_READ_CELLS)]
