"""The papermill contract (README, "Runbooks"): no input(), every parameter reachable with -p,
destructive steps only with confirm=True, defaults that delete nothing."""

from __future__ import annotations

import ast
import json
import re

import pytest

from helpers.tags import suite_tags
from tests.conftest import ROOT
from tests.resources import one_of_each, snapshot

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
DESTRUCTIVE = re.compile(r"\bcleanup\.cleanup\(|\bdelete_?\w*\(|\bteardown\w*\(|confirm\s*=\s*confirm")


def code_cells(path) -> list[dict]:
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def text(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_no_input_anywhere():
    """input() blocks a headless run forever: not in helpers, not in notebooks."""
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "helpers").rglob("*.py")
                 if re.search(r"(?<![\w.])input\(", p.read_text())]
    offenders += [p.name for p in NOTEBOOKS for c in code_cells(p) if re.search(r"(?<![\w.])input\(", text(c))]
    assert offenders == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_parameter_is_reachable_with_dash_p(path):
    """papermill skips a parameter line it cannot parse (e.g. '=' inside its comment): -p would be ignored."""
    import papermill

    cell = next(c for c in code_cells(path) if "parameters" in c.get("metadata", {}).get("tags", []))
    assigned = [t.id for node in ast.parse(text(cell)).body if isinstance(node, ast.Assign)
                for t in node.targets if isinstance(t, ast.Name)]
    assert list(papermill.inspect_notebook(str(path))) == assigned


def destructive(path) -> bool:
    return any(DESTRUCTIVE.search(text(c)) for c in code_cells(path))


def test_the_cleanup_notebook_is_found_destructive():
    """The pattern finds the notebook that deletes, so the check below checks something."""
    assert any(p.name == "99_cleanup.ipynb" and destructive(p) for p in NOTEBOOKS)


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if destructive(p)], ids=lambda p: p.name)
def test_destructive_steps_need_confirm(path):
    cells = code_cells(path)
    parameters = next(text(c) for c in cells if "parameters" in c.get("metadata", {}).get("tags", []))
    assert re.search(r"^confirm = False\b", parameters, re.M), f"{path.name}: destructive, so confirm = False"


def test_the_cleanup_notebook_deletes_nothing_by_default(session, tmp_path):
    import papermill

    one_of_each(session, "kept-by-default", suite_tags())
    before = snapshot(session)
    papermill.execute_notebook(str(ROOT / "notebooks" / "99_cleanup.ipynb"), str(tmp_path / "out.ipynb"),
                               cwd=str(ROOT / "notebooks"), progress_bar=False)
    assert snapshot(session) == before
