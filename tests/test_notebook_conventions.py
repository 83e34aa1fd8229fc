"""Every notebook follows the suite's conventions (README, "Contributing")."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
MAX_CELL_LINES = 10
COMPREHENSIONS = (ast.ListComp, ast.DictComp, ast.SetComp, ast.GeneratorExp)


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ has no notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_header_says_goal_creates_cost_and_papermill(path):
    first = load(path)["cells"][0]
    assert first["cell_type"] == "markdown"
    text = source(first)
    assert text.startswith("# ")
    for needle in ("**Goal:**", "**What this creates:**", "**What it costs on AWS:**", "papermill notebooks/"):
        assert needle in text, f"{path.name}: the header lacks {needle!r}"
    assert path.name in text, "the papermill example names the notebook itself"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_one_parameters_cell_with_local_backend(path):
    cells = [c for c in load(path)["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"{path.name}: needs exactly one cell tagged 'parameters'"
    assert re.search(r'^backend = "local"', source(cells[0]), re.M), "backend defaults to 'local'"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_metadata_and_no_outputs(path):
    nb = load(path)
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    assert nb["metadata"]["language_info"]["name"] == "python"
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert not cell.get("outputs") and cell.get("execution_count") is None, f"{path.name} has outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_logic_lives_in_helpers(path):
    for cell in load(path)["cells"]:
        if cell["cell_type"] != "code":
            continue
        text = source(cell)
        assert "input(" not in text, "input() blocks papermill"
        assert not re.search(r"^\s*(def|class) ", text, re.M), f"{path.name}: define functions in helpers"
        assert len(text.splitlines()) <= 25, f"{path.name}: a code cell over 25 lines belongs in helpers"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_code_cells_are_short_calls_without_comprehensions(path):
    """A learner reads a few calls per cell; loops over data and hand-built tables belong in helpers."""
    for cell in load(path)["cells"]:
        if cell["cell_type"] != "code" or "parameters" in cell.get("metadata", {}).get("tags", []):
            continue
        text = source(cell)
        assert len(text.splitlines()) <= MAX_CELL_LINES, f"{path.name}: over {MAX_CELL_LINES} lines:\n{text}"
        assert not any(isinstance(node, COMPREHENSIONS) for node in ast.walk(ast.parse(text))), \
            f"{path.name}: a comprehension in a cell belongs in helpers:\n{text}"
