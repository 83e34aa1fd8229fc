"""Cost Explorer parsing, against the embedded backend's Cost Explorer (empty, then seeded)."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, date, datetime

import pandas as pd
import pytest

from helpers import billing
from helpers.errors import InvalidParameter


def _group(service: str, usage_type: str, usd: str, quantity: str, unit: str) -> dict:
    return {"Keys": [service, usage_type], "Metrics": {"UnblendedCost": {"Amount": usd, "Unit": "USD"},
                                                       "UsageQuantity": {"Amount": quantity, "Unit": unit}}}


def seed(backend, results: list[dict]) -> None:
    from helpers import local
    from helpers.local.auth import signed_request

    request = signed_request(f"{backend.url}/moto-api/static/ce/cost-and-usage-results", local.CREDENTIALS, "POST",
                             json.dumps({"results": results}).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as answer:
        assert answer.status == 201


def test_no_data_says_so_plainly(session):
    billed = billing.daily_costs(session, period_days=7)
    assert billed.empty and list(billed.columns) == list(billing.COLUMNS)
    assert "no billing data" in billing.billing_status(billed)


def test_seeded_answer_is_parsed_with_pages(session, backend):
    first = {"ResultsByTime": [{
        "TimePeriod": {"Start": "2026-11-20", "End": "2026-11-21"}, "Total": {}, "Estimated": False,
        "Groups": [_group("Amazon Elastic Container Service", "USE1-Fargate-vCPU-Hours:perCPU", "1.2144", "30", "hours"),
                   _group("Amazon Elastic Container Service", "USE1-Fargate-GB-Hours", "0.2667", "60", "GB-Hours")]}],
        "NextPageToken": "page2", "DimensionValueAttributes": []}
    second = {"ResultsByTime": [{
        "TimePeriod": {"Start": "2026-11-21", "End": "2026-11-22"}, "Total": {}, "Estimated": True,
        "Groups": [_group("Amazon EC2 Container Registry (ECR)", "USE1-TimedStorage-ByteHrs", "0.0131", "0.13",
                          "GB-Mo")]}], "DimensionValueAttributes": []}
    seed(backend, [first, second])
    billed = billing.daily_costs(session, period_days=2, end=date(2026, 11, 22))
    assert len(billed) == 3
    assert billed["cost_usd"].sum() == pytest.approx(1.2144 + 0.2667 + 0.0131)
    assert list(billed["service"]) == ["ECS", "ECS", "ECR"]
    assert billed["date"].dt.tz is not None and list(billed["estimated"]) == [False, False, True]
    assert "$1.49" in billing.billing_status(billed)

    priced = pd.DataFrame({"billing_start": pd.to_datetime([datetime(2026, 11, 20, 10, tzinfo=UTC)]),
                           "cost_usd": [1.40]})
    both = billing.estimate_vs_billed(priced, billed).set_index("date")
    day = pd.Timestamp("2026-11-20", tz="UTC")
    assert both.loc[day, "billed_usd"] == pytest.approx(1.4811)
    assert both.loc[day, "difference_usd"] == pytest.approx(1.40 - 1.4811)


def test_period_is_checked_before_any_call(session):
    with pytest.raises(InvalidParameter, match="period_days"):
        billing.daily_costs(session, period_days=0)
