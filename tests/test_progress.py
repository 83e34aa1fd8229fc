"""Progress bars: what an executed notebook keeps is the bar at its end, not a frozen 0% nor every redraw."""

from __future__ import annotations

import nbformat
import papermill

from helpers import progress


def _notebook(code: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(code)]
    return nb


def _texts(cell: dict) -> list[str]:
    out = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            out.append(output["text"])
        else:
            out.append(output.get("data", {}).get("text/plain", ""))
    return out


def test_an_executed_notebook_keeps_one_line_at_the_end(tmp_path):
    source = tmp_path / "bar.ipynb"
    nbformat.write(_notebook(
        "from helpers import progress\n"
        "with progress.bar(5, desc='steps', unit='step') as b:\n"
        "    for _ in range(5):\n"
        "        b.update()\n"), source)
    executed = papermill.execute_notebook(str(source), str(tmp_path / "out.ipynb"), progress_bar=False,
                                          kernel_name="python3")
    texts = _texts(executed.cells[0])
    assert len(texts) == 1, texts
    assert texts[0].startswith("steps: 100%") and "5/5" in texts[0]
    assert "\r" not in texts[0] and " 0%" not in texts[0]


def test_outside_a_kernel_the_bar_goes_to_stderr(capsys):
    assert not progress.in_kernel()
    with progress.bar(2, desc="plain") as b:
        b.update(2)
    captured = capsys.readouterr()
    assert "plain: 100%" in captured.err and captured.out == ""
