"""Tables a person can read: what ``helpers.display.table`` shows of a frame, as text and as HTML."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from helpers import display
from helpers.display import table

TASK_ARN = "arn:aws:ecs:us-east-1:123456789012:task/fargate-lab/0123456789abcdef0123456789abcdef"
TD_ARN = "arn:aws:ecs:us-east-1:123456789012:task-definition/fargate-lab-hello:7"
DIGEST = "sha256:" + "ab12" * 16
E_NOTATION = re.compile(r"\d[eE][+-]?\d")


def test_money_has_fixed_decimals_per_column_and_no_e_notation():
    frame = pd.DataFrame({"kind": ["task", "log group", "repository"],
                          "cost_per_day_usd": [5.9244e-01, 0.0, 1.2e-05]})
    shown = table(frame)
    assert list(shown.frame["cost_per_day_usd"]) == ["0.592440", "0.000000", "0.000012"]
    assert not E_NOTATION.search(repr(shown)) and not E_NOTATION.search(shown._repr_html_())
    assert list(table(frame.iloc[:2]).frame["cost_per_day_usd"]) == ["0.59", "0.00"]  # at least cents


def test_sizes_are_in_mb():
    shown = table(pd.DataFrame({"tag": ["v1", "v2"], "size_bytes": [12_345_678, 2_000]}))
    assert list(shown.frame.columns) == ["tag", "size_mb"]
    assert list(shown.frame["size_mb"]) == ["12.3457", "0.0020"]  # the smallest still shows two digits
    assert list(table(pd.DataFrame({"size_bytes": [12_345_678, 99_000_000]})).frame["size_mb"]) == ["12.35", "99.00"]
    assert display.megabytes(12_345_678) == "12.35 MB"


def test_ids_are_short():
    frame = pd.DataFrame({"task_arn": [TASK_ARN], "task_definition_arn": [TD_ARN], "digest": [DIGEST],
                          "repository": ["arn:aws:ecr:us-east-1:123456789012:repository/fargate-lab/sample-app"]})
    row = table(frame).frame.iloc[0].to_dict()
    assert row == {"task": "0123456789abcdef0123456789abcdef", "task_definition": "fargate-lab-hello:7",
                   "digest": "sha256:ab12ab12ab12", "repository": "fargate-lab/sample-app"}
    # an ARN column beside its own short id is not shown twice
    assert list(table(pd.DataFrame({"task_id": ["x"], "task_arn": [TASK_ARN]})).frame.columns) == ["task_id"]


def test_unknown_is_empty():
    frame = pd.DataFrame({"task": ["a", "b"], "exit_code": pd.array([0, None], dtype="Int64"),
                          "duration": [1.5, np.nan], "scan_status": [None, "COMPLETE"],
                          "stopped_at": pd.to_datetime(["2026-12-02T10:00:00Z", None])})
    shown = table(frame)
    assert shown.frame.iloc[1].to_dict() == {"task": "b", "exit_code": "", "duration": "", "scan_status": "COMPLETE",
                                             "stopped_at": ""}
    assert shown.frame.iloc[0]["stopped_at"] == "2026-12-02 10:00:00"
    for text in (repr(shown), shown._repr_html_()):
        assert not re.search(r"\b(None|NaN|NaT|nan)\b|<NA>|&lt;NA&gt;", text)


def test_long_text_is_wrapped_not_cut():
    hint = ("The image could not be pulled: check that the image name and tag exist, that the execution role may "
            "pull it (AmazonECSTaskExecutionRolePolicy for ECR), and that the subnet reaches the registry.")
    shown = table(pd.DataFrame({"task": ["t1"], "hint": [hint]}))
    text = repr(shown)
    assert "..." not in text and "…" not in text
    assert " ".join(line[len("t1"):].strip() if line.startswith("t1") else line.strip()
                    for line in text.splitlines()[1:]) == hint
    assert max(len(line) for line in text.splitlines()) <= len("task") + 2 + display.WRAP
    html = shown._repr_html_()
    assert "<br>" in html and html.replace("<br>", " ").count("AmazonECSTaskExecutionRolePolicy") == 1
    assert pd.DataFrame({"hint": [hint]})._repr_html_().count("...") == 1  # what pandas alone would show


def test_an_index_becomes_columns_and_an_empty_frame_says_so():
    pivot = pd.DataFrame({"date": ["2026-12-01"], "Fargate": [0.0123456]}).set_index("date")
    assert list(table(pivot).frame.columns) == ["date", "Fargate"]
    assert repr(table(pd.DataFrame(columns=["a"]))) == "(no rows)"


def test_the_data_is_not_changed():
    frame = pd.DataFrame({"cost_usd": [1e-7]})
    shown = table(frame)
    assert shown.data is frame and frame["cost_usd"][0] == 1e-7


def test_a_notebook_shows_every_data_frame_readably_after_one_call():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    frame = pd.DataFrame({"cost_per_day_usd": [5.9244e-01], "exit_code": [None]})
    before, _ = shell.display_formatter.format(frame)
    assert "5.924400e-01" in before["text/html"] or "0.59244" in before["text/plain"]
    assert display.readable_tables(shell) is True
    after, _ = shell.display_formatter.format(frame)
    assert after["text/plain"] == repr(table(frame)) and after["text/html"] == table(frame)._repr_html_()
    assert "0.59" in after["text/plain"] and "None" not in after["text/plain"] + after["text/html"]


def test_a_long_table_shows_its_first_rows_and_counts_the_rest():
    shown = table(pd.DataFrame({"n": range(100)}), max_rows=60)
    assert len(shown) == 60 and repr(shown).endswith("(40 more rows)")
