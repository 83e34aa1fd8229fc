"""The lab in a browser, as a learner uses it: JupyterLab, Run > Run All Cells, and what the page then shows.

JupyterLab is served on 127.0.0.1 from a copy of the repository (so nothing is saved into notebooks/), launched
through binder/start as Binder launches it (as `make jupyter` does: the embedded backend first, on the test's own
port, then JupyterLab); Debian's Chromium, headless, is driven by Playwright. Screenshots are kept in
test-artifacts/ (gitignored) for a person to look at.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, ROOT, engine_missing, free_port
from tests.lab_browser import CHROMIUM, CellView, chromium, jupyterlab, lab_environment, run_all_cells
from tests.repo_copy import copy_repo

pytestmark = pytest.mark.slow

ARTIFACTS = ROOT / "test-artifacts"
#: The notebooks opened in the browser, in the order a learner meets them, with what each must render.
EXPECTED = {
    "00_environment.ipynb": {"tables": 1, "progress_bars": 0, "images": 0},
    "01_push_to_ecr.ipynb": {"tables": 1, "progress_bars": 1, "images": 0},
    "04_cost_and_state.ipynb": {"tables": 1, "progress_bars": 0, "images": 1},
}
NOTEBOOKS = [name for name in EXPECTED if (ROOT / "notebooks" / name).exists()]


@pytest.fixture(scope="module")
def browser_lab(tmp_path_factory):
    """JupyterLab rooted at a copy of the repository, and a headless Chromium; both stopped afterwards."""
    if not CHROMIUM.exists():
        if os.environ.get("FARGATE_LAB_REQUIRE_BROWSER") == "1":
            pytest.fail(f"FARGATE_LAB_REQUIRE_BROWSER=1 but {CHROMIUM} is missing: apt-get install chromium")
        engine_missing(f"{CHROMIUM} is missing (apt-get install chromium)")
    from helpers import local

    root = copy_repo(tmp_path_factory.mktemp("learner") / "lab")
    shutil.copy(FIXTURES / "browser" / "shows_errors.ipynb", root / "notebooks" / "shows_errors.ipynb")
    state = tmp_path_factory.mktemp("jupyter-state")
    backend_port = free_port()
    env = lab_environment(state, backend_port)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # binder/start's `python`
    ARTIFACTS.mkdir(exist_ok=True)
    patch = pytest.MonkeyPatch()  # the lab's backend keeps its key in the lab's state directory: ask it with that
    patch.setenv("FARGATE_LAB_STATE_DIR", env["FARGATE_LAB_STATE_DIR"])
    try:
        # Launched as Binder launches it: binder/start starts the embedded backend, then execs JupyterLab.
        with jupyterlab(root, env, state, launcher=[str(root / "binder" / "start")]) as lab, chromium() as browser:
            assert local.status(backend_port), "binder/start did not start the embedded backend"
            yield lab, browser
    finally:
        local.stop(backend_port)
        patch.undo()


def run_in_browser(browser_lab, notebook: str) -> list[CellView]:
    """Run every cell of ``notebooks/<notebook>`` in the browser; the screenshot is kept even when it fails."""
    lab, browser = browser_lab
    page = browser.new_page()
    try:
        return run_all_cells(page, lab, f"notebooks/{notebook}")
    finally:
        page.screenshot(path=str(ARTIFACTS / f"jupyterlab-{Path(notebook).stem}.png"), full_page=True)
        page.close()


def describe(cells: list[CellView]) -> str:
    return "\n".join(f"cell {c.index} {c.prompt} {c.source.splitlines()[0][:60] if c.source else ''!r}"
                     + "".join(f"\n    stderr: {text.strip()[-600:]}" for text in c.stderr) for c in cells)


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_notebook_runs_clean_in_jupyterlab(browser_lab, notebook):
    cells = run_in_browser(browser_lab, notebook)
    assert cells, f"{notebook}: the page shows no code cell"
    not_run = [c.index for c in cells if not c.ran]
    assert not not_run, f"{notebook}: cells {not_run} did not run\n{describe(cells)}"
    red = [c for c in cells if c.stderr]
    assert not red, f"{notebook}: cells show errors or stderr output\n{describe(red)}"
    broken = {c.index: c.widget_errors for c in cells if c.widget_errors}
    assert not broken, f"{notebook}: widgets failed to display: {broken}"
    expected = EXPECTED[notebook]
    assert sum(c.tables for c in cells) >= expected["tables"], f"{notebook}: no table rendered\n{describe(cells)}"
    assert sum(c.progress_bars for c in cells) >= expected["progress_bars"], (
        f"{notebook}: no progress bar rendered (a widget, or helpers.progress's line)\n{describe(cells)}")
    assert sum(c.images for c in cells) >= expected["images"], f"{notebook}: no figure rendered\n{describe(cells)}"


def test_the_browser_check_sees_what_goes_wrong(browser_lab):
    """The same check on a notebook that fails on purpose: widgets, tables and figures render; the failure shows."""
    progress, table, figure, warning, failing, after = run_in_browser(browser_lab, "shows_errors.ipynb")
    assert progress.ran and progress.progress_bars == 1 and not progress.stderr and not progress.widget_errors
    assert table.ran and table.tables == 1 and table.images == 0
    assert figure.ran and figure.images == 1 and not figure.stderr
    assert warning.stderr == ["a warning on stderr\n"]
    assert failing.ran and "RuntimeError: boom: the lab failed here" in failing.stderr[0]
    assert "Traceback" in failing.stderr[0]
    assert not after.ran, "Run All stops at the first error; the cell after it stays unrun"
