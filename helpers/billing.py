"""What was billed: daily ECS and ECR cost by usage type from Cost Explorer, and the estimate beside it.

Cost Explorer is the only source of *billed* figures; everything in ``helpers.cost`` is
an estimate from state. Each ``get_cost_and_usage`` request costs $0.01 on AWS, so a
period is fetched with as few requests as its pages need. The embedded backend has no
billing data: Cost Explorer answers with nothing, and ``billing_status`` says so.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import boto3
import pandas as pd

from helpers.periods import check_period_days

#: Cost Explorer's SERVICE dimension values for what this suite uses.
SERVICES = {
    "Amazon Elastic Container Service": "ECS",
    "Amazon EC2 Container Registry (ECR)": "ECR",
}
CE_REGION = "us-east-1"
NO_DATA = ("no billing data: Cost Explorer returned nothing for this period "
           "(the embedded backend has none; on AWS, costs appear about 24 hours after usage)")
COLUMNS = {"date": "datetime64[ns, UTC]", "service": "category", "usage_type": "category", "cost_usd": "float64",
           "usage_quantity": "float64", "usage_unit": "string", "estimated": "boolean"}


def _period(period_days: int, end: date | None) -> tuple[str, str]:
    check_period_days(period_days)
    end = end or datetime.now(UTC).date() + timedelta(days=1)  # End is exclusive: include today
    return (end - timedelta(days=period_days)).isoformat(), end.isoformat()


def daily_costs(session: boto3.Session, period_days: int = 14, end: date | None = None) -> pd.DataFrame:
    """One row per day, service ("ECS"/"ECR") and usage type: date (UTC), service, usage_type, cost_usd
    (unblended), usage_quantity, usage_unit, estimated (Cost Explorer's flag for days not closed yet)."""
    start, stop = _period(period_days, end)
    ce = session.client("ce", region_name=CE_REGION)
    request = {
        "TimePeriod": {"Start": start, "End": stop}, "Granularity": "DAILY",
        "Metrics": ["UnblendedCost", "UsageQuantity"],
        "Filter": {"Dimensions": {"Key": "SERVICE", "Values": list(SERVICES)}},
        "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
    }
    rows = []
    while True:
        answer = ce.get_cost_and_usage(**request)
        for period in answer.get("ResultsByTime", []):
            for group in period.get("Groups", []):
                service, usage_type = (group.get("Keys") + ["", ""])[:2]
                metrics = group.get("Metrics", {})
                rows.append({
                    "date": period["TimePeriod"]["Start"], "service": SERVICES.get(service, service),
                    "usage_type": usage_type,
                    "cost_usd": float(metrics.get("UnblendedCost", {}).get("Amount", 0)),
                    "usage_quantity": float(metrics.get("UsageQuantity", {}).get("Amount", 0)),
                    "usage_unit": metrics.get("UsageQuantity", {}).get("Unit"),
                    "estimated": bool(period.get("Estimated", False)),
                })
        token = answer.get("NextPageToken")
        if not token:
            break
        request["NextPageToken"] = token
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["date"] = pd.to_datetime(frame["date"], utc=True).dt.as_unit("ns")
    return frame.astype({k: v for k, v in COLUMNS.items() if k != "date"})


def billing_status(billed: pd.DataFrame) -> str:
    """A sentence about what Cost Explorer returned, for the notebook to print."""
    if billed.empty:
        return NO_DATA
    days = billed["date"].nunique()
    return (f"billed (Cost Explorer): ${billed['cost_usd'].sum():.2f} over {days} day(s), "
            f"{billed['usage_type'].nunique()} usage type(s)")


def estimate_vs_billed(priced_tasks: pd.DataFrame, billed: pd.DataFrame) -> pd.DataFrame:
    """Per day: the estimate from task state beside billed Fargate cost (usage types containing "Fargate").

    A task's estimate counts on the day its billing starts; stopped tasks older than about an hour are no
    longer visible to the ECS API, so on AWS the estimate covers recent days only.
    """
    estimate = (priced_tasks.dropna(subset=["cost_usd"])
                .assign(date=lambda f: f["billing_start"].dt.floor("D"))
                .groupby("date")["cost_usd"].sum().rename("estimated_usd"))
    fargate = billed[billed["usage_type"].astype("string").str.contains("Fargate", na=False)]
    actual = fargate.groupby("date")["cost_usd"].sum().rename("billed_usd")
    both = pd.concat([estimate, actual], axis=1).sort_index()
    both.index.name = "date"
    both["difference_usd"] = both["estimated_usd"] - both["billed_usd"]
    return both.reset_index()
