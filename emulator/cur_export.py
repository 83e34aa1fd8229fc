"""A CUR 2.0 data export of the emulator's own task history, with split cost allocation data, in its S3.

AWS bills a Fargate task per second from the start of its image pull until it stops, rounded up to the
second, one minute at least (Windows: 15 minutes), for the vCPU, memory and extra ephemeral storage it asks
for (https://aws.amazon.com/fargate/pricing/, read 2026-12-02). The CUR 2.0 export lists that as hourly line
items per task (``line_item_resource_id`` is the task ARN) and, with split cost allocation data, the
``split_line_item_*`` columns (the CUR 2.0 table dictionary,
https://docs.aws.amazon.com/cur/latest/userguide/table-dictionary-cur2.html and its split line item page,
https://docs.aws.amazon.com/cur/latest/userguide/table-dictionary-cur2-split-line-item.html, read 2026-12-02;
column names and types from there). A Fargate task has no shared instance, so its split cost is its own cost
and its unused cost is 0.

The export is written to ``s3://fargate-lab-cur/cur/fargate-lab/data/BILLING_PERIOD=YYYY-MM/`` of each
account, as AWS lays out a CUR 2.0 export, on ``POST /_lab/cur-export`` (which also bills running tasks up to now)
and, after a task stopped, before the next S3 request is answered: whoever reads S3 sees every stopped task, and
a fleet of stops costs one write, not one rewrite of the whole export per stop. A stopped task's line items are
made once. Differences from AWS, on purpose: the export is fresh at once (AWS's is hours late and refreshed up to
three times a day); Fargate Spot is billed at a fixed 70% off (AWS's Spot price
varies); ``split_line_item_actual_usage`` equals the reserved usage (no telemetry here).
"""

from __future__ import annotations

import io
import json
import logging
import math
import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from emulator import clock, ecs_events, hooks

log = logging.getLogger("emulator.cur_export")

BUCKET = "fargate-lab-cur"
PREFIX = "cur/fargate-lab/data"
EXPORT_NAME = "fargate-lab"
CONTROL_PATH = "/_lab/cur-export"
RATES_SOURCE = "https://aws.amazon.com/fargate/pricing/ and the Price List API (AmazonECS), read 2026-12-02"
#: USD per vCPU-hour and GB-hour on demand; Windows adds its OS licence per vCPU-hour; storage above 20 GB.
RATES: dict[str, dict[str, float]] = {
    region: {"linux_x86_vcpu": v, "linux_x86_gb": g, "linux_arm_vcpu": av, "linux_arm_gb": ag,
             "windows_vcpu": wv, "windows_gb": wg, "windows_os": 0.046, "ephemeral_gb": e}
    for region, (v, g, av, ag, wv, wg, e) in {
        "us-east-1": (0.04048, 0.004445, 0.03238, 0.00356, 0.046552, 0.0051117, 0.000111),
        "us-east-2": (0.04048, 0.004445, 0.03238, 0.00356, 0.046552, 0.0051117, 0.000111),
        "us-west-2": (0.04048, 0.004445, 0.03238, 0.00356, 0.046552, 0.0051117, 0.000111),
        "eu-west-1": (0.04048, 0.004445, 0.03238, 0.00356, 0.046552, 0.0051117, 0.000111),
        "eu-central-1": (0.04656, 0.00511, 0.03725, 0.00409, 0.053544, 0.0058765, 0.000128),
        "ap-northeast-1": (0.05056, 0.00553, 0.04045, 0.00442, 0.058144, 0.0063595, 0.000133),
    }.items()
}
SPOT_PRICE_SHARE = 0.3  # Fargate Spot "up to 70% off": fixed here
INCLUDED_EPHEMERAL_GIB = 20
MINIMUM_SECONDS = {"LINUX": 60, "WINDOWS": 900}
#: Usage types carry the billing region code, not the region's name (eu-west-1 is "EU").
USAGE_PREFIX = {"us-east-1": "USE1", "us-east-2": "USE2", "us-west-1": "USW1", "us-west-2": "USW2",
                "eu-west-1": "EU", "eu-west-2": "EUW2", "eu-central-1": "EUC1", "ap-northeast-1": "APN1"}

_lock = threading.RLock()
#: account -> task ARN -> what billing needs of the task (kept after ECS forgets the task).
_record: dict[str, dict[str, dict]] = {}
#: Accounts whose export misses a stopped task; ``EVERY`` until the first write after start (a restart loads the
#: record, not necessarily what was last written to S3).
EVERY = "*"
_stale: set[str] = {EVERY}
#: (account, task ARN, stopped at) -> the stopped task's line items.
_stopped_items: dict[tuple, list[dict]] = {}


def _schema() -> Any:
    import pyarrow as pa

    ts, s, d = pa.timestamp("ms"), pa.string(), pa.float64()
    return pa.schema([
        ("identity_line_item_id", s), ("identity_time_interval", s), ("bill_bill_type", s),
        ("bill_billing_entity", s), ("bill_billing_period_start_date", ts), ("bill_billing_period_end_date", ts),
        ("bill_payer_account_id", s), ("line_item_usage_account_id", s), ("line_item_line_item_type", s),
        ("line_item_usage_start_date", ts), ("line_item_usage_end_date", ts), ("line_item_product_code", s),
        ("line_item_usage_type", s), ("line_item_operation", s), ("line_item_availability_zone", s),
        ("line_item_resource_id", s), ("line_item_usage_amount", d), ("line_item_currency_code", s),
        ("line_item_unblended_rate", s), ("line_item_unblended_cost", d), ("line_item_blended_rate", s),
        ("line_item_blended_cost", d), ("line_item_line_item_description", s), ("product_region_code", s),
        ("product_servicecode", s), ("pricing_unit", s), ("pricing_term", s), ("pricing_public_on_demand_rate", s),
        ("pricing_public_on_demand_cost", d), ("resource_tags", pa.map_(s, s)),
        ("split_line_item_actual_usage", d), ("split_line_item_net_split_cost", d),
        ("split_line_item_net_unused_cost", d), ("split_line_item_parent_resource_id", s),
        ("split_line_item_public_on_demand_split_cost", d), ("split_line_item_public_on_demand_unused_cost", d),
        ("split_line_item_reserved_usage", d), ("split_line_item_split_cost", d),
        ("split_line_item_split_usage", d), ("split_line_item_split_usage_ratio", d),
        ("split_line_item_unused_cost", d),
    ])


def _units(value: Any, unit: str) -> int:
    text = str(value or "0").strip().lower()
    return int(float(text[: -len(unit)].strip()) * 1024) if text.endswith(unit) else int(text)


def _platform(task: Any) -> tuple[str, str]:
    try:
        definition = task._backend.describe_task_definition(task.task_definition_arn)
        platform = definition.runtime_platform or {}
    except Exception:  # noqa: BLE001 - a definition gone: Linux/x86, as ECS's default
        platform = {}
    arch = (platform.get("cpuArchitecture") or "X86_64").upper()
    family = (platform.get("operatingSystemFamily") or "LINUX").upper()
    return arch, "LINUX" if family == "LINUX" else "WINDOWS"


def record(task: Any) -> None:
    """Keep what billing needs of ``task`` (an ``emulator.ecs_events`` listener); a stopped task is exported."""
    with _lock:
        mine = _record.setdefault(task._account_id, {})
        entry = mine.get(task.task_arn)
        if entry is None:
            arch, family = _platform(task)
            group = task.group or ""
            entry = mine[task.task_arn] = {
                "arn": task.task_arn, "region": task.region_name, "cluster": task.cluster_name,
                "service": group.split(":", 1)[1] if group.startswith("service:") else None,
                "arch": arch, "os": family, "spot": task.capacity_provider_name == "FARGATE_SPOT",
                "zone": getattr(task, "availability_zone", None) or f"{task.region_name}a",
            }
        entry.update(cpu=_units(task.cpu, "vcpu"), memory=_units(task.memory, "gb"),
                     ephemeral=int((getattr(task, "ephemeral_storage", None) or {}).get("sizeInGiB")
                                   or INCLUDED_EPHEMERAL_GIB),
                     start=task.pull_started_at or task.started_at or task.created_at, stop=task.stopped_at,
                     stopped=task.last_status == "STOPPED")
        if entry["stopped"]:
            _stale.add(task._account_id)


def _hours(start: datetime, end: datetime) -> Iterable[tuple[datetime, float]]:
    """(hour, seconds of [start, end) in that hour) for each clock hour the span touches."""
    hour = start.replace(minute=0, second=0, microsecond=0)
    while hour < end:
        following = hour + timedelta(hours=1)
        seconds = (min(end, following) - max(start, hour)).total_seconds()
        if seconds > 0:
            yield hour, seconds
        hour = following


def _dimensions(entry: dict) -> list[tuple[str, float, float, str]]:
    """(usage type, quantity per hour of use, USD per unit-hour, public on-demand USD per unit-hour)."""
    rates = RATES.get(entry["region"])
    if rates is None:
        return []
    prefix = USAGE_PREFIX.get(entry["region"], entry["region"])
    vcpu, gb = entry["cpu"] / 1024, entry["memory"] / 1024
    windows, arm = entry["os"] == "WINDOWS", entry["arch"] == "ARM64"
    kind = "Windows-" if windows else "ARM-" if arm else ""
    key = "windows" if windows else "linux_arm" if arm else "linux_x86"
    spot = entry["spot"] and not windows
    share = SPOT_PRICE_SHARE if spot else 1.0
    usage = f"{prefix}-SpotUsage-Fargate-" if spot else f"{prefix}-Fargate-"
    rows = [(f"{usage}{kind}vCPU-Hours:perCPU", vcpu, rates[f"{key}_vcpu"] * share, rates[f"{key}_vcpu"]),
            (f"{usage}{kind}GB-Hours", gb, rates[f"{key}_gb"] * share, rates[f"{key}_gb"])]
    if windows:
        rows.append((f"{prefix}-Fargate-Windows-OS-Hours:perCPU", vcpu, rates["windows_os"], rates["windows_os"]))
    extra = max(0, entry["ephemeral"] - INCLUDED_EPHEMERAL_GIB)
    if extra:
        rows.append((f"{prefix}-Fargate-EphemeralStorage-GB-Hours", extra, rates["ephemeral_gb"],
                     rates["ephemeral_gb"]))
    return rows


def _items(account: str, entry: dict, now: datetime) -> list[dict]:
    """``line_items``, made once for a stopped task (its items never change again)."""
    if not entry["stopped"]:
        return line_items(account, entry, now)
    key = (account, entry["arn"], entry["stop"])
    if key not in _stopped_items:
        _stopped_items[key] = line_items(account, entry, now)
    return _stopped_items[key]


def line_items(account: str, entry: dict, now: datetime) -> list[dict]:
    """The task's hourly line items: per second, rounded up, the minimum added to its last hour."""
    start, end = entry["start"], entry["stop"] or (None if entry["stopped"] else now)
    if start is None or end is None or end <= start:
        return []
    spans = list(_hours(start, end))
    run = sum(seconds for _, seconds in spans)
    billed = max(MINIMUM_SECONDS[entry["os"]], math.ceil(run))
    spans[-1] = (spans[-1][0], spans[-1][1] + billed - run)
    tags = [("aws_ecs_cluster_name", entry["cluster"])] + (
        [("aws_ecs_service_name", entry["service"])] if entry["service"] else [])
    rows = []
    for hour, seconds in spans:
        period = hour.replace(day=1)
        period_end = (period + timedelta(days=32)).replace(day=1)
        for usage_type, quantity, rate, public in _dimensions(entry):
            amount = quantity * seconds / 3600
            costs = amount * rate
            rows.append({
                "identity_line_item_id": uuid.uuid5(uuid.NAMESPACE_URL, f"{entry['arn']}|{hour}|{usage_type}").hex,
                "identity_time_interval": f"{hour:%Y-%m-%dT%H:%M:%SZ}/{hour + timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}",
                "bill_bill_type": "Anniversary", "bill_billing_entity": "AWS",
                "bill_billing_period_start_date": period.replace(tzinfo=None),
                "bill_billing_period_end_date": period_end.replace(tzinfo=None),
                "bill_payer_account_id": account, "line_item_usage_account_id": account,
                "line_item_line_item_type": "Usage", "line_item_usage_start_date": hour.replace(tzinfo=None),
                "line_item_usage_end_date": (hour + timedelta(hours=1)).replace(tzinfo=None),
                "line_item_product_code": "AmazonECS", "line_item_usage_type": usage_type,
                "line_item_operation": "FargateTask", "line_item_availability_zone": entry["zone"],
                "line_item_resource_id": entry["arn"], "line_item_usage_amount": amount,
                "line_item_currency_code": "USD", "line_item_unblended_rate": f"{rate:.10f}",
                "line_item_unblended_cost": costs, "line_item_blended_rate": f"{rate:.10f}",
                "line_item_blended_cost": costs,
                "line_item_line_item_description": f"${rate:.10f} per unit-hour for {usage_type}",
                "product_region_code": entry["region"], "product_servicecode": "AmazonECS", "pricing_unit": "hours",
                "pricing_term": "Spot" if "SpotUsage" in usage_type else "OnDemand",
                "pricing_public_on_demand_rate": f"{public:.10f}", "pricing_public_on_demand_cost": amount * public,
                "resource_tags": tags, "split_line_item_actual_usage": amount,
                "split_line_item_net_split_cost": None, "split_line_item_net_unused_cost": None,
                "split_line_item_parent_resource_id": None,
                "split_line_item_public_on_demand_split_cost": amount * public,
                "split_line_item_public_on_demand_unused_cost": 0.0, "split_line_item_reserved_usage": amount,
                "split_line_item_split_cost": costs, "split_line_item_split_usage": amount,
                "split_line_item_split_usage_ratio": 1.0, "split_line_item_unused_cost": 0.0,
            })
    return rows


def write(account: str | None = None) -> dict[str, int]:
    """(Re)write each account's export (one Parquet file per billing period); line items written per account."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from moto.s3.models import s3_backends

    now = clock.now()
    written: dict[str, int] = {}
    with _lock:
        accounts = [account] if account else list(_record)
        for acct in accounts:
            rows = [row for entry in _record.get(acct, {}).values() for row in _items(acct, entry, now)]
            backend = s3_backends[acct]["global"]
            if BUCKET not in backend.buckets:
                backend.create_bucket(BUCKET, "us-east-1")
            periods: dict[str, list[dict]] = {}
            for row in rows:
                periods.setdefault(f"{row['bill_billing_period_start_date']:%Y-%m}", []).append(row)
            for period, items in periods.items():
                buffer = io.BytesIO()
                pq.write_table(pa.Table.from_pylist(items, schema=_schema()), buffer, compression="snappy")
                key = f"{PREFIX}/BILLING_PERIOD={period}/{EXPORT_NAME}-00001.snappy.parquet"
                backend.put_object(BUCKET, key, buffer.getvalue())
            written[acct] = len(rows)
            _stale.discard(acct)
    return written


def _is_s3(environ: dict) -> bool:
    """An S3 request: signed for the s3 service (SigV4's credential scope), in a header or a presigned query."""
    scope = environ.get("HTTP_AUTHORIZATION", "") + " " + environ.get("QUERY_STRING", "")
    return "/s3/aws4_request" in scope or "%2Fs3%2Faws4_request" in scope


def _write_before_s3(environ: dict, start_response: Callable) -> None:
    """Middleware: before an S3 request, write the exports that a stopped task made stale (then let it pass)."""
    if _stale and _is_s3(environ):
        with _lock:
            stale = list(_record) if EVERY in _stale else [acct for acct in _stale if acct in _record]
            _stale.clear()
        for acct in stale:
            write(acct)
    return None


def _control(environ: dict, start_response: Callable) -> list[bytes] | None:
    """``POST /_lab/cur-export``: write every account's export now, running tasks billed up to now."""
    if environ.get("PATH_INFO") != CONTROL_PATH or environ.get("REQUEST_METHOD") != "POST":
        return None
    from emulator.fidelity import ecs

    with ecs._lock:
        for task in list(ecs._live.values()):
            ecs.sync(task)  # bring every running task up to date first
    body = json.dumps({"line_items": write(), "bucket": BUCKET, "prefix": PREFIX}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _reset() -> None:
    with _lock:
        _record.clear()
        _stale.clear()
        _stopped_items.clear()


def apply() -> None:
    """Listen to task changes, answer the control path, forget everything at reset."""
    if record not in ecs_events.LISTENERS:
        ecs_events.LISTENERS.append(record)
        hooks.MIDDLEWARE.append(_control)
        hooks.MIDDLEWARE.append(_write_before_s3)
        hooks.ON_RESET.append(_reset)


