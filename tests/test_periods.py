"""One range for a cost period, wherever it is given: notebook 04's and 05's parameters, Cost Explorer's helper and
the CUR period agree on 1 to 365 days (Cost Explorer keeps 12 months without the opt-in:
https://docs.aws.amazon.com/cost-management/latest/userguide/ce-what-is.html)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from helpers import billing, cur
from helpers.errors import InvalidParameter, InvalidParameters
from helpers.parameters import CostHistoryParameters, CostParameters

NOW = datetime(2026, 12, 3, 12, 30, tzinfo=UTC)


def _notebook(model, days) -> None:
    namespace = {name: field.default for name, field in model.model_fields.items()} | {"period_days": days}
    model.check(namespace)


@pytest.mark.parametrize("days", [1, 365])
def test_every_way_in_accepts_the_whole_range(days):
    for model in (CostParameters, CostHistoryParameters):
        _notebook(model, days)
    since, until = cur.period(days, NOW)
    assert (until - since).days == days
    assert billing._period(days, NOW.date())[1] == NOW.date().isoformat()


@pytest.mark.parametrize("days", [0, 366, True, 7.5])
def test_every_way_in_refuses_the_same_values_and_says_the_same_range(days):
    for model in (CostParameters, CostHistoryParameters):
        with pytest.raises(InvalidParameters, match="from 1 to 365"):
            _notebook(model, days)
    for call in (lambda: cur.period(days, NOW), lambda: billing._period(days, NOW.date())):
        with pytest.raises(InvalidParameter, match="period_days.*from 1 to 365"):
            call()
