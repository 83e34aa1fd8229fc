"""How far back a cost question may reach, in one place for every notebook and helper that asks one.

Cost Explorer answers for the last 12 months (more only with an opt-in), so a period is 1 to 365 days; notebook 04
(Cost Explorer) and notebook 05 (history and CUR) accept the same range.
"""

from __future__ import annotations

from helpers.errors import InvalidParameter

MAX_PERIOD_DAYS = 365
VALID_PERIOD = f"a whole number of days from 1 to {MAX_PERIOD_DAYS}, e.g. 14"


def is_period_days(value: object) -> bool:
    """A whole number of days (not a bool) from 1 to ``MAX_PERIOD_DAYS``."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_PERIOD_DAYS


def check_period_days(value: object) -> int:
    """``value`` itself, or InvalidParameter naming ``period_days`` and the valid range."""
    if not is_period_days(value):
        raise InvalidParameter("period_days", value, VALID_PERIOD)
    return value  # type: ignore[return-value]
