"""Notebook 05 under plain papermill on the embedded backend: history, estimate and bill, and a reconciliation
that agrees within 1% for every task the backend ran (read from the executed notebook's own output)."""

from __future__ import annotations

import re

import papermill as pm
import pytest

from helpers import history
from tests.conftest import ROOT
from tests.notebook_output import printed_text as _text

NOTEBOOK = ROOT / "notebooks" / "05_cost_history.ipynb"



@pytest.fixture(scope="module")
def executed(backend, tmp_path_factory):
    """The notebook run once (its demo tasks take a minute or two of real time) on a fresh embedded backend."""
    from helpers import local

    local.reset(backend.port)
    out = tmp_path_factory.mktemp("nb05") / "05.ipynb"
    nb = pm.execute_notebook(str(NOTEBOOK), str(out), parameters={"period_days": 2}, kernel_name="python3",
                             progress_bar=False)
    return nb


def test_the_reconciliation_agrees_within_one_percent_for_every_task_the_backend_ran(executed):
    text = _text(executed)
    demo = len(history.DEMO_TASKS)
    assert f"demo tasks: {demo} run to their end" in text
    assert f"history: {demo} task(s)" in text
    found = re.search(r"(\d+) task\(s\) in history and bill: largest difference per task ([\d.]+)%.*; "
                      r"(\d+) only in history, (\d+) only billed", text)
    assert found, text
    both, largest, only_history, only_billed = found.groups()
    assert (int(both), int(only_history), int(only_billed)) == (demo, 0, 0)
    assert float(largest) < 1.0
    estimate, billed = re.search(r"estimate \$([\d.]+) against billed \$([\d.]+)", text).groups()
    assert abs(float(estimate) - float(billed)) <= 0.01 * float(billed)


def test_every_number_says_where_it_comes_from(executed):
    text = _text(executed)
    assert "CUR 2.0 queries run on duckdb, reading s3://fargate-lab-cur/cur/fargate-lab/data/" in text
    assert re.search(r"CUR 2.0 export written: [1-9]\d* line item\(s\) to s3://fargate-lab-cur/", text)
    assert "(ECS task state change events kept in /aws/events/fargate-lab/task-history)" in text  # history
    assert "estimate from events: $" in text
    assert text.count("billed (CUR 2.0): CUR 2.0 export at s3://fargate-lab-cur/cur/fargate-lab/data/ (DuckDB)") == 3
    assert "history: kept events; estimate: the history priced; billed: CUR 2.0 split cost" in text
    assert "Traceback" not in text and "{'" not in text  # no error, no raw dict


def test_athena_without_its_settings_fails_before_anything_is_created(session, tmp_path):
    with pytest.raises(pm.PapermillExecutionError, match="database is missing") as failed:
        pm.execute_notebook(str(NOTEBOOK), str(tmp_path / "05.ipynb"), parameters={"engine": "athena"},
                            kernel_name="python3", progress_bar=False)
    assert "output_location is missing" in str(failed.value)
    assert session.client("events").list_rules()["Rules"] == []  # no rule, no log group: nothing was created
    assert session.client("logs").describe_log_groups()["logGroups"] == []
