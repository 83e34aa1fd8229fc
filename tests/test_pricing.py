"""Price List parsing against a recorded answer's shape; the fallback on a backend without a pricing service."""

from __future__ import annotations

import json

import pytest

from helpers import cost, pricing
from tests.conftest import FIXTURES

RECORDED = json.loads((FIXTURES / "pricing" / "get_products_amazonecs.json").read_text())


@pytest.mark.parametrize("usage_type, expected", [
    ("USE1-Fargate-vCPU-Hours:perCPU", ("linux_x86", "vcpu")),
    ("Fargate-GB-Hours", ("linux_x86", "gb")),
    ("EUC1-Fargate-ARM-vCPU-Hours:perCPU", ("linux_arm", "vcpu")),
    ("USE1-Fargate-Windows-GB-Hours", ("windows_x86", "gb")),
    ("USE1-Fargate-Windows-OS-Hours:perCPU", ("", "windows_os_license")),
    ("USE1-Fargate-EphemeralStorage-GB-Hours", ("", "ephemeral_storage")),
    ("USE1-SpotUsage-Fargate-vCPU-Hours:perCPU", None),
    ("USE1-DataTransfer-Regional-Bytes", None),
])
def test_classify_usage_type(usage_type, expected):
    assert pricing.classify_usage_type(usage_type) == expected


@pytest.mark.parametrize("usage_type, region", [
    ("USE1-Fargate-vCPU-Hours:perCPU", "us-east-1"), ("USE2-Fargate-GB-Hours", "us-east-2"),
    ("USW2-Fargate-ARM-vCPU-Hours:perCPU", "us-west-2"), ("EU-Fargate-Windows-OS-Hours:perCPU", "eu-west-1"),
    ("EUC1-Fargate-EphemeralStorage-GB-Hours", "eu-central-1"), ("APN1-Fargate-GB-Hours", "ap-northeast-1"),
    ("Fargate-GB-Hours", "us-east-1"), ("XYZ9-Fargate-GB-Hours", None), ("EU-DataTransfer-Out-Bytes", None),
])
def test_usage_type_prefixes_are_billing_codes_not_region_codes(usage_type, region):
    assert pricing.region_of_usage_type(usage_type) == region


def test_parse_recorded_answer():
    prices = pricing.parse_price_list(RECORDED["PriceList"])
    # regionCode, else location, else the usage type's prefix (the EU-, USE2-, USW2-, APN1- entries have only that)
    assert set(prices["region"]) == {"us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1",
                                     "ap-northeast-1"}
    by_type = prices.set_index("usage_type")
    assert by_type.loc["EU-Fargate-GB-Hours", "region"] == "eu-west-1"
    assert by_type.loc["USE2-Fargate-Windows-vCPU-Hours:perCPU", "usd"] == pytest.approx(0.046552)
    assert by_type.loc["APN1-Fargate-EphemeralStorage-GB-Hours", "usd"] == pytest.approx(0.000133)
    assert not prices["usage_type"].str.contains("Spot|DataTransfer").any()
    use1 = prices[prices["region"] == "us-east-1"].set_index("usage_type")["usd"]
    assert use1["USE1-Fargate-vCPU-Hours:perCPU"] == pytest.approx(0.04048)
    assert use1["USE1-Fargate-ARM-GB-Hours"] == pytest.approx(0.00356)


def test_rates_from_the_answer_price_like_the_table_and_merge_over_it():
    found = pricing.rates_from_prices(pricing.parse_price_list(RECORDED["PriceList"]))
    assert len(found["us-east-1"]) == len(found["eu-central-1"]) == len(pricing.FIGURES)
    assert found["ap-northeast-1"] == {("linux_x86", "vcpu"): pytest.approx(0.05056),  # an incomplete answer
                                       ("", "ephemeral_storage"): pytest.approx(0.000133)}
    table, counts = pricing.merge_rates(cost.price_table(), found)
    assert counts == {"us-east-1": 8, "eu-central-1": 8, "ap-northeast-1": 2, "eu-west-1": 2, "us-east-2": 1,
                      "us-west-2": 1}
    assert cost.fargate_task_cost(256, 512, 600, table=table) == pytest.approx(0.0020570833, abs=1e-10)
    windows = cost.fargate_hourly_rate(1024, 2048, os_family="WINDOWS_SERVER_2022_CORE", table=table)
    assert windows == pytest.approx(0.046552 + 2 * 0.0051117 + 0.046)
    tokyo, shipped = table["regions"]["ap-northeast-1"], cost.price_table()["regions"]["ap-northeast-1"]
    assert tokyo["linux_x86"]["vcpu"] == pytest.approx(0.05056) and tokyo["linux_arm"] == shipped["linux_arm"]
    assert cost.price_table()["regions"]["us-east-1"]["linux_x86"]["vcpu"] == 0.04048  # the shipped table unchanged
    partial_new, _ = pricing.merge_rates(cost.price_table(), {"sa-east-1": {("linux_x86", "vcpu"): 0.0696}})
    assert "sa-east-1" not in partial_new["regions"]  # a new region needs every figure


def test_the_rate_table_has_a_row_per_region_and_platform_the_table_prices():
    shipped = cost.price_table()
    rates = pricing.rate_table(shipped, ["us-east-1", "sa-east-1", "us-east-1"])  # sa-east-1: no shipped rates
    assert list(rates.columns) == ["region", "platform", "usd_per_vcpu_hour", "usd_per_gb_hour"]
    platforms = {p for p, v in shipped["regions"]["us-east-1"].items() if isinstance(v, dict)}
    assert set(rates["region"]) == {"us-east-1"} and set(rates["platform"]) == platforms == {
        "linux_x86", "linux_arm", "windows_x86"} and len(rates) == len(platforms)
    x86 = rates.set_index("platform").loc["linux_x86"]
    assert (x86["usd_per_vcpu_hour"], x86["usd_per_gb_hour"]) == (0.04048, 0.004445)
    assert pricing.rate_table(shipped, ["sa-east-1"]).empty


def test_refresh_falls_back_to_the_shipped_table_and_says_so(session):
    table, sources = pricing.refresh_price_table(session, ["us-east-1", "sa-east-1"])
    assert table["regions"]["us-east-1"] == cost.price_table()["regions"]["us-east-1"]
    by_region = sources.set_index("region")["source"]
    assert by_region["us-east-1"].startswith("shipped table") and "Price List API unavailable" in by_region["us-east-1"]
    assert "unknown" in by_region["sa-east-1"]
