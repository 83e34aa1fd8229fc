"""The cost model against figures computed by hand (us-east-1 rates from the shipped table)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from helpers import cost
from helpers.errors import InvalidParameter

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def test_golden_quarter_vcpu_half_gb_ten_minutes():
    # (0.25 x 0.04048 + 0.5 x 0.004445) $/h x 600 s / 3600
    assert cost.fargate_task_cost(256, 512, 600) == pytest.approx(0.0020570833, abs=1e-10)


def test_thirty_seconds_bill_sixty():
    assert cost.billed_seconds(30) == 60
    assert cost.fargate_task_cost(256, 512, 30) == pytest.approx(0.0123425 * 60 / 3600, rel=1e-12)
    assert cost.billed_seconds(60.2) == 61  # per second, rounded up


def test_arm():
    # 1 vCPU, 2 GB ARM for one hour: 0.03238 + 2 x 0.00356
    assert cost.fargate_task_cost(1024, 2048, 3600, arch="ARM64") == pytest.approx(0.03950, abs=1e-10)


def test_windows_adds_os_licence_and_its_minimum():
    # 1 vCPU, 2 GB Windows for one hour at the 2026 rates: 0.046552 + 2 x 0.0051117 + 0.046 licence
    hourly = 0.046552 + 2 * 0.0051117 + 0.046
    assert cost.fargate_task_cost(1024, 2048, 3600, os_family="WINDOWS_SERVER_2022_CORE") == pytest.approx(hourly)
    minimum = cost.price_table()["minimum_billed_seconds"]["WINDOWS"]
    assert cost.fargate_task_cost(1024, 2048, 30, os_family="WINDOWS_SERVER_2019_FULL") == pytest.approx(
        hourly * minimum / 3600)


def test_spot_discounts_compute_only_and_is_configurable():
    on_demand = cost.fargate_hourly_rate(2048, 4096)
    assert cost.fargate_hourly_rate(2048, 4096, spot=True) == pytest.approx(on_demand * 0.3)
    assert cost.fargate_hourly_rate(2048, 4096, spot=True, spot_discount=0.5) == pytest.approx(on_demand * 0.5)
    with pytest.raises(InvalidParameter):
        cost.fargate_hourly_rate(256, 512, spot=True, spot_discount=1.5)


def test_fifty_gib_ephemeral_storage_pays_thirty_extra():
    base = cost.fargate_task_cost(256, 512, 3600)
    assert cost.fargate_task_cost(256, 512, 3600, ephemeral_gib=50) - base == pytest.approx(30 * 0.000111)


def test_every_region_of_the_issue_has_rates_and_others_are_refused():
    for region in ("us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1"):
        assert cost.fargate_hourly_rate(256, 512, region=region) > 0
        figures = cost.price_table()["figure_sources"][region]
        assert set(figures) == {"linux_x86", "linux_arm", "windows_x86", "windows_os_license", "ephemeral_storage"}
        assert all(f["source"] and f["date"] and isinstance(f["verified"], bool) for f in figures.values())
    with pytest.raises(InvalidParameter, match="region"):
        cost.fargate_hourly_rate(256, 512, region="mars-north-1")


def _tasks() -> pd.DataFrame:
    rows = [
        # 10 minutes from pull start: the golden figure
        dict(region="us-east-1", cpu=256, memory=512, pull_started_at=T0, started_at=T0 + timedelta(seconds=20),
             created_at=T0 - timedelta(seconds=5), stopped_at=T0 + timedelta(minutes=10), last_status="STOPPED"),
        # no pull time: billed from startedAt; 30 s bills 60
        dict(region="us-east-1", cpu=256, memory=512, pull_started_at=None, started_at=T0, created_at=None,
             stopped_at=T0 + timedelta(seconds=30), last_status="STOPPED"),
        # still running: billed until "now"
        dict(region="us-east-1", cpu=1024, memory=2048, arch="ARM64", pull_started_at=None, started_at=None,
             created_at=T0, stopped_at=None, last_status="RUNNING"),
        # stopped, but no stoppedAt: unknown, not a guess
        dict(region="us-east-1", cpu=256, memory=512, pull_started_at=T0, started_at=None, created_at=None,
             stopped_at=None, last_status="STOPPED"),
        # unknown size
        dict(region="us-east-1", cpu=None, memory=None, pull_started_at=T0, started_at=None, created_at=None,
             stopped_at=T0 + timedelta(minutes=1), last_status="STOPPED"),
    ]
    frame = pd.DataFrame(rows)
    for column in ("pull_started_at", "started_at", "created_at", "stopped_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    frame["task_arn"] = [f"t{i}" for i in range(len(frame))]
    return frame


def test_price_tasks_billing_window_and_unknowns():
    priced = cost.price_tasks(_tasks(), now=T0 + timedelta(hours=1))
    assert priced.loc[0, "cost_usd"] == pytest.approx(0.0020570833, abs=1e-10)
    assert priced.loc[1, "billed_seconds"] == 60
    assert priced.loc[2, "billed_seconds"] == 3600  # from createdAt to now
    assert priced.loc[2, "cost_usd"] == pytest.approx(0.03950)
    assert pd.isna(priced.loc[3, "cost_usd"]) and pd.isna(priced.loc[4, "cost_usd"])
    assert list(priced["cost_basis"]) == [cost.ESTIMATE] * 3 + [cost.UNKNOWN] * 2


def test_vectorized_matches_scalar_for_every_combination():
    rows = []
    for region in ("us-east-1", "eu-central-1", "ap-northeast-1"):
        for arch, os_family in (("X86_64", "LINUX"), ("ARM64", "LINUX"), ("X86_64", "WINDOWS_SERVER_2022_FULL")):
            for spot in (False, True) if os_family == "LINUX" else (False,):  # Spot does not run Windows
                rows.append(dict(region=region, cpu=2048, memory=6144, arch=arch, os_family=os_family, spot=spot,
                                 ephemeral_gib=64, seconds=45.3))
    frame = pd.DataFrame(rows)
    vector = cost.hourly_rate_frame(frame)
    billed = cost.billed_seconds_frame(frame["seconds"], frame["os_family"])
    for i, row in frame.iterrows():
        kwargs = dict(region=row.region, arch=row.arch, os_family=row.os_family, spot=row.spot,
                      ephemeral_gib=row.ephemeral_gib)
        assert vector[i] == pytest.approx(cost.fargate_hourly_rate(row.cpu, row.memory, **kwargs))
        assert vector[i] * billed[i] / 3600 == pytest.approx(
            cost.fargate_task_cost(row.cpu, row.memory, row.seconds, **kwargs))


def test_running_rate_and_timeline():
    priced = cost.price_tasks(_tasks(), now=T0 + timedelta(hours=1))
    assert cost.running_cost_rate(priced) == pytest.approx(0.03950)
    timeline = cost.cost_rate_timeline(priced)
    at = timeline.set_index("time")["usd_per_hour"]
    assert at[pd.Timestamp(T0)] == pytest.approx(0.0123425 * 2 + 0.03950)  # three tasks start at T0
    assert at[pd.Timestamp(T0 + timedelta(hours=1))] == pytest.approx(0)


def test_service_projection_uses_desired_count_and_730_hours():
    services = pd.DataFrame([dict(region="us-east-1", service="web", desired_count=3, task_definition_arn="td:1",
                                  spot_share=0.5)])
    definitions = pd.DataFrame([dict(task_definition_arn="td:1", cpu=512, memory=1024, arch="X86_64",
                                     os_family="LINUX", ephemeral_gib=20)])
    projection = cost.service_projection(services, definitions)
    hourly = cost.fargate_hourly_rate(512, 1024)
    assert projection.loc[0, "usd_per_month"] == pytest.approx(3 * 730 * (hourly * 0.5 + hourly * 0.3 * 0.5))


def test_ecr_storage_counts_a_shared_layer_once():
    layers = pd.DataFrame([
        dict(region="us-east-1", repository="a", image_digest="i1", layer_digest="base", size_bytes=2**30),
        dict(region="us-east-1", repository="a", image_digest="i1", layer_digest="a1", size_bytes=2**29),
        dict(region="us-east-1", repository="a", image_digest="i2", layer_digest="base", size_bytes=2**30),
        dict(region="us-east-1", repository="b", image_digest="i3", layer_digest="base", size_bytes=2**30),
    ])
    storage = cost.ecr_storage(layers).set_index("repository")
    assert storage.loc["a", "usd_per_month"] == pytest.approx(0.15)
    assert storage.loc["b", "usd_per_month"] == pytest.approx(0.10)
    assert storage.loc["(registry total)", "usd_per_month"] == pytest.approx(0.15)


def test_cost_by_counts_only_running_tasks_in_the_rate_now():
    by_region = cost.cost_by(cost.price_tasks(_tasks(), now=T0 + timedelta(hours=1)), "region").iloc[0]
    assert by_region["tasks"] == 5
    assert by_region["usd_per_hour_now"] == pytest.approx(0.03950)
    assert by_region["cost_usd"] == pytest.approx(0.0020570833 + 0.0123425 / 60 + 0.03950, abs=1e-9)


@pytest.mark.parametrize("region, figure, expected", [
    # the 2026 Price List recordings (figure_sources says where each comes from)
    ("us-east-1", ("windows_x86", "vcpu"), 0.046552), ("us-east-1", ("windows_x86", "gb"), 0.0051117),
    ("us-east-2", ("windows_x86", "vcpu"), 0.046552), ("us-east-2", ("windows_x86", "gb"), 0.0051117),
    ("ap-northeast-1", ("ephemeral_storage",), 0.000133),
    ("eu-central-1", ("linux_x86", "vcpu"), 0.04656), ("eu-central-1", ("linux_x86", "gb"), 0.00511),
    ("eu-central-1", ("linux_arm", "vcpu"), 0.03725), ("eu-central-1", ("linux_arm", "gb"), 0.00409),
    ("us-east-1", ("windows_os_license",), 0.046),
])
def test_the_2026_rates(region, figure, expected):
    value = cost.price_table()["regions"][region]
    for key in figure:
        value = value[key]
    assert value == expected


def test_windows_elsewhere_is_1_15_x_linux_and_marked_unverified():
    table = cost.price_table()
    for region in ("us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1"):
        rates = table["regions"][region]
        assert rates["windows_x86"]["vcpu"] == pytest.approx(1.15 * rates["linux_x86"]["vcpu"], rel=1e-6)
        assert rates["windows_x86"]["gb"] == pytest.approx(1.15 * rates["linux_x86"]["gb"], rel=1e-4)
        assert table["figure_sources"][region]["windows_x86"]["verified"] is False


def test_spot_does_not_run_windows_said_plainly():
    with pytest.raises(InvalidParameter, match="Fargate Spot does not run Windows") as raised:
        cost.fargate_hourly_rate(1024, 2048, os_family="WINDOWS_SERVER_2022_CORE", spot=True)
    assert raised.value.name == "spot"
    with pytest.raises(InvalidParameter, match="Fargate Spot does not run Windows"):
        cost.fargate_task_cost(2048, 4096, 600, os_family="WINDOWS_SERVER_2019_FULL", spot=True)
    frame = pd.DataFrame([dict(cpu=1024, memory=2048, os_family="WINDOWS_SERVER_2022_CORE", spot=True),
                          dict(cpu=256, memory=512, os_family="LINUX", spot=True)])
    with pytest.raises(InvalidParameter, match="1 Windows row"):
        cost.hourly_rate_frame(frame)


@pytest.mark.parametrize("cpu", [256, 512, 8192, 16384])
def test_windows_takes_1_2_or_4_vcpu_only(cpu):
    with pytest.raises(InvalidParameter, match="1, 2 or 4 vCPU") as raised:
        cost.fargate_hourly_rate(cpu, cpu * 2, os_family="WINDOWS_SERVER_2022_CORE")
    assert raised.value.name == "cpu"
    with pytest.raises(InvalidParameter, match="1, 2 or 4 vCPU"):
        cost.hourly_rate_frame(pd.DataFrame([dict(cpu=cpu, memory=cpu * 2, os_family="WINDOWS_SERVER_2022_CORE")]))
    for ok in (1024, 2048, 4096):
        assert cost.fargate_hourly_rate(ok, ok * 2, os_family="WINDOWS_SERVER_2022_CORE") > 0
    with pytest.raises(InvalidParameter, match="x86 only"):
        cost.fargate_hourly_rate(1024, 2048, os_family="WINDOWS_SERVER_2022_CORE", arch="ARM64")
