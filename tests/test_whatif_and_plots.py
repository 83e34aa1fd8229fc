"""What-if arithmetic by hand, rightsizing to valid sizes, and plots that draw data (or say there is none)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from helpers import cost, plots, whatif  # noqa: E402
from helpers.errors import InvalidParameter  # noqa: E402
from helpers.fargate import is_valid_size  # noqa: E402


def _projection() -> pd.DataFrame:
    services = pd.DataFrame([
        dict(region="us-east-1", cluster="c", service="web", desired_count=2, task_definition_arn="a", spot_share=0.0),
        dict(region="us-east-1", cluster="c", service="win", desired_count=1, task_definition_arn="w", spot_share=0.0),
    ])
    definitions = pd.DataFrame([
        dict(task_definition_arn="a", cpu=1024, memory=4096, arch="X86_64", os_family="LINUX", ephemeral_gib=20),
        dict(task_definition_arn="w", cpu=1024, memory=2048, arch="X86_64", os_family="WINDOWS_SERVER_2022_CORE",
             ephemeral_gib=20),
    ])
    return cost.service_projection(services, definitions)


def test_what_if_by_hand():
    scenarios = whatif.what_if(_projection(), peak_cpu=0.4, peak_memory=0.4, headroom=0.25).set_index("service")
    web = scenarios.loc["web"]
    assert web["as_is"] == pytest.approx(2 * 730 * (0.04048 + 4 * 0.004445))
    assert web["arm"] == pytest.approx(2 * 730 * (0.03238 + 4 * 0.00356))
    assert web["spot"] == pytest.approx(web["as_is"] * 0.3)
    assert web["arm_spot"] == pytest.approx(web["arm"] * 0.3)
    # peak 0.4 x 1.25 = half: 512 CPU and 2048 MiB, a valid size
    assert web["right_size"] == "512 / 2048"
    assert web["rightsized"] == pytest.approx(2 * 730 * (0.5 * 0.04048 + 2 * 0.004445))
    assert pd.isna(scenarios.loc["win", "arm"])  # Windows on Fargate has no ARM
    # Fargate Spot does not run Windows: no Spot figure, and the reason beside it
    assert pd.isna(scenarios.loc["win", "spot"]) and pd.isna(scenarios.loc["win", "arm_spot"])
    assert "Fargate Spot does not run Windows" in scenarios.loc["win", "note"]
    assert "x86 only" in scenarios.loc["win", "note"] and scenarios.loc["web", "note"] == ""
    assert scenarios.loc["win", "as_is"] == pytest.approx(730 * (0.046552 + 2 * 0.0051117 + 0.046))
    assert scenarios.loc["win", "right_size"] == "1024 / 2048"  # Windows cannot go below 1024 CPU


def test_a_windows_service_with_a_spot_weight_is_priced_on_demand_and_says_why():
    services = pd.DataFrame([dict(region="us-east-1", cluster="c", service="win", desired_count=1,
                                  task_definition_arn="w", spot_share=0.5)])
    definitions = pd.DataFrame([dict(task_definition_arn="w", cpu=2048, memory=4096, arch="X86_64",
                                     os_family="WINDOWS_SERVER_2022_CORE", ephemeral_gib=20)])
    projection = cost.service_projection(services, definitions)
    assert projection.loc[0, "usd_per_hour"] == pytest.approx(2 * 0.046552 + 4 * 0.0051117 + 2 * 0.046)
    assert "Fargate Spot does not run Windows" in projection.loc[0, "note"]
    scenarios = whatif.what_if(projection)
    assert pd.isna(scenarios.loc[0, "spot"]) and "Fargate Spot does not run Windows" in scenarios.loc[0, "note"]


def test_the_biggest_rightsizing_is_the_service_saving_most_with_its_cheaper_sizes():
    projection = _projection()
    scenarios = whatif.what_if(projection, peak_cpu=0.4, peak_memory=0.4, headroom=0.25)
    best = whatif.biggest_rightsizing(projection, scenarios, peak_cpu=0.4, peak_memory=0.4, headroom=0.25)
    # web: 1024/4096 to 512/2048 saves half of 2 x 730 h x its rate; win (already the smallest Windows size) nothing
    assert (best.service, best.cpu, best.memory, best.right) == ("web", 1024, 4096, (512, 2048))
    assert best.saving_usd_per_month == pytest.approx(730 * (0.04048 + 4 * 0.004445))
    assert str(best) == "web: requested 1024/4096, right size 512/2048 (assumed peak), $42.53 per month less (estimate)"
    assert (512, 2048) in set(zip(best.options["cpu"], best.options["memory"], strict=True))
    assert (best.options["usd_per_hour"] < cost.fargate_hourly_rate(1024, 4096)).all()


def test_no_biggest_rightsizing_when_no_service_would_cost_less():
    projection = _projection()
    scenarios = whatif.what_if(projection, peak_cpu=1, peak_memory=1)  # the peak fills what is requested
    assert whatif.biggest_rightsizing(projection, scenarios, peak_cpu=1, peak_memory=1) is None
    assert whatif.biggest_rightsizing(projection.iloc[:0], scenarios.iloc[:0], peak_cpu=0.4, peak_memory=0.4) is None


def test_windows_rightsizes_to_1_2_or_4_vcpu():
    assert whatif.rightsize(4096, 8192, peak_cpu=0.1, peak_memory=0.1, os_family="WINDOWS_SERVER_2022_CORE") == (
        1024, 2048)
    options = whatif.cheaper_sizes(4096, 16384, os_family="WINDOWS_SERVER_2022_CORE")
    assert set(options["cpu"]) == {1024, 2048, 4096}


def test_rightsize_always_valid_and_never_larger():
    for cpu, memory in [(256, 512), (512, 3072), (4096, 30720), (16384, 122880)]:
        for peak in (0.05, 0.5, 1.0):
            right = whatif.rightsize(cpu, memory, peak_cpu=peak, peak_memory=peak)
            assert is_valid_size(*right)
            assert right[0] <= cpu and right[1] <= memory
    with pytest.raises(InvalidParameter, match="peak_cpu"):
        whatif.rightsize(256, 512, peak_cpu=0, peak_memory=0.5)


def test_cheaper_sizes_are_cheaper_and_valid():
    options = whatif.cheaper_sizes(2048, 8192)
    current = cost.fargate_hourly_rate(2048, 8192)
    assert not options.empty and (options["usd_per_hour"] < current).all()
    assert all(is_valid_size(c, m) for c, m in zip(options["cpu"], options["memory"], strict=True))


def _priced() -> pd.DataFrame:
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    tasks = pd.DataFrame({
        "task_arn": ["a", "b"], "task_id": ["aaaaaaaa1", "bbbbbbbb2"], "cluster": ["c1", "c2"],
        "family": ["f", "g"], "service": ["web", None], "region": "us-east-1", "cpu": [256, 1024],
        "memory": [512, 2048], "last_status": ["STOPPED", "RUNNING"],
        "pull_started_at": pd.to_datetime([t0, t0 + timedelta(minutes=2)], utc=True),
        "stopped_at": pd.to_datetime([t0 + timedelta(minutes=5), None], utc=True),
    })
    return cost.price_tasks(tasks, now=t0 + timedelta(minutes=10))


def test_plots_draw_data():
    priced = _priced()
    ax = plots.cost_by_cluster_and_service(cost.cost_by(priced))
    assert len(ax.patches) >= 2
    ax = plots.task_timeline(priced)
    assert len(ax.patches) == 2
    ax = plots.cost_rate_over_time(cost.cost_rate_timeline(priced))
    assert ax.lines and max(ax.lines[0].get_ydata()) == pytest.approx(
        cost.fargate_hourly_rate(256, 512) + cost.fargate_hourly_rate(1024, 2048))
    ax = plots.what_if_savings(whatif.what_if(_projection()))
    assert len(ax.patches) == 10
    plt.close("all")


def test_plots_say_no_data_when_empty():
    empty = _priced().iloc[0:0]
    for ax in (plots.cost_by_cluster_and_service(cost.cost_by(empty)), plots.task_timeline(empty),
               plots.cost_rate_over_time(cost.cost_rate_timeline(empty))):
        assert any("no" in t.get_text() for t in ax.texts)
    plt.close("all")
