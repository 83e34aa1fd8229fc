"""Plots a person can read: CPU ticks as numbers, a task timeline that stays legible with many tasks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from helpers import plots, whatif  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def tick_texts(axis) -> list[str]:
    axis.figure.canvas.draw()
    return [t.get_text() for t in axis.get_ticklabels() if t.get_text()]


def test_the_sizes_plot_labels_cpu_ticks_256_512_not_powers_of_two():
    options = whatif.cheaper_sizes(2048, 8192)
    ax = plots.sizes_against_cheaper(2048, 8192, options, (512, 2048))
    x = tick_texts(ax.xaxis)
    assert {"256", "512", "1024", "2048"} <= set(x)
    assert not any("^" in t or "$" in t or "e" in t for t in x + tick_texts(ax.yaxis))


def _tasks(n_per_service: int, services: list[str], one_off: int) -> pd.DataFrame:
    start = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    rows = []
    for s, service in enumerate(services):
        for k in range(n_per_service):  # two at a time, as a service with desired count 2 replaces them
            begin = start + timedelta(minutes=5 * (k // 2) + s)
            rows.append(dict(cluster="demo", service=service, family=f"fam-{service}", task_id=f"{service}{k:032d}",
                             last_status="STOPPED", billing_start=begin, billing_end=begin + timedelta(minutes=4)))
    for k in range(one_off):
        begin = start + timedelta(minutes=2 + k)
        rows.append(dict(cluster="demo", service=None, family="batch", task_id=f"b{k:031d}", last_status="RUNNING",
                         billing_start=begin, billing_end=begin + timedelta(minutes=30)))
    frame = pd.DataFrame(rows)
    for column in ("billing_start", "billing_end"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def test_the_task_timeline_groups_tasks_by_service_and_draws_every_task():
    data = _tasks(30, ["web", "api"], one_off=12)  # 72 tasks: past what one label per task can show
    ax = plots.task_timeline(data)
    assert len(ax.patches) == len(data)  # none left out
    labels = tick_texts(ax.yaxis)
    assert labels == ["demo / web (30 tasks)", "demo / api (30 tasks)", "demo / batch (one-off) (12 tasks)"]


def test_the_task_timeline_labels_never_overlap_and_stay_a_readable_size():
    for data in (_tasks(3, ["web"], 1), _tasks(30, ["web", "api", "worker"], 25)):
        ax = plots.task_timeline(data)
        fig = ax.figure
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        boxes = [t.get_window_extent(renderer) for t in ax.yaxis.get_ticklabels() if t.get_text()]
        assert all(not a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
        assert min(t.get_fontsize() for t in ax.yaxis.get_ticklabels()) >= 8
        bar_heights_pt = [p.get_window_extent(renderer).height * 72 / fig.dpi for p in ax.patches]
        assert min(bar_heights_pt) >= 8  # a bar stays as tall as a line of text, however many tasks
