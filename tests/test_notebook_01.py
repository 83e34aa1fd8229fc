"""Notebook 01 as a runbook: papermill with parameters, run twice; the second run uploads nothing."""

from __future__ import annotations

import papermill
import pytest

from helpers import ecr, images
from tests.conftest import ROOT

NOTEBOOK = ROOT / "notebooks" / "01_push_to_ecr.ipynb"


def outputs(path) -> str:
    import nbformat

    text = []
    for cell in nbformat.read(path, as_version=4).cells:
        for output in cell.get("outputs", []):
            text.append(output.get("text") or output.get("data", {}).get("text/plain", ""))
    return "\n".join(text)


def test_pushing_an_archive_twice_skips_every_layer_the_second_time(session, tmp_path):
    built = images.assemble(images.DEFAULT_APP_DIR, "t:1", tmp_path / "oci", echo=lambda _: None)
    params = {"repository": "fargate-lab/runbook", "image_tag": "r1", "image_archive": built.source}
    for run in ("first", "second"):
        papermill.execute_notebook(str(NOTEBOOK), str(tmp_path / f"{run}.ipynb"), parameters=params,
                                   cwd=str(NOTEBOOK.parent), progress_bar=False, kernel_name="python3")
    first, second = outputs(tmp_path / "first.ipynb"), outputs(tmp_path / "second.ipynb")
    assert "2 blob(s) uploaded" in first
    assert "0 blob(s) uploaded (0 bytes), 2 already there" in second and "uploaded " not in second.replace(
        "blob(s) uploaded", "")
    table = ecr.image_table(session, "fargate-lab/runbook")
    assert list(table["tag"]) == ["r1"]


def test_a_bad_parameter_fails_the_run_before_anything_is_created(session, tmp_path):
    with pytest.raises(papermill.PapermillExecutionError, match="InvalidParameter"):
        papermill.execute_notebook(str(NOTEBOOK), str(tmp_path / "out.ipynb"),
                                   parameters={"repository": "Not/Valid"}, cwd=str(NOTEBOOK.parent),
                                   progress_bar=False, kernel_name="python3")
    assert session.client("ecr").describe_repositories()["repositories"] == []
