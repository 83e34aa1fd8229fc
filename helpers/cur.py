"""Billed cost per task from the CUR 2.0 data export with split cost allocation data: Athena or DuckDB.

AWS bills each ECS task in the CUR 2.0 export (``line_item_resource_id`` is the task ARN;
``split_line_item_*`` columns split a shared instance's cost; for Fargate the split cost is the
task's own). Cost analysts with months of data query it with Athena (Trino) where it lives;
on one machine, and on the embedded backend (whose S3 holds an export of its own task
history), DuckDB reads the Parquet files directly, through pyarrow's S3 filesystem or from disk.

One SQL text serves both: write ``{cur}`` where the table goes and ``{tag:KEY}`` for a resource
tag (``resource_tags``, a map); ``query`` puts in the Athena table's name or DuckDB's view of the
files, and each engine's way to read a map key that may be absent (Trino: ``element_at``, which
gives NULL; DuckDB: ``map[key]``). Every argument is checked before a query runs.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import boto3
import pandas as pd

from helpers.errors import InvalidParameter, InvalidParameters, QueryFailed
from helpers.periods import check_period_days

ENGINES = ("auto", "athena", "duckdb")
#: Where the embedded backend writes the CUR 2.0 export of its task history (bucket, prefix, export name).
LOCAL_EXPORT = "s3://fargate-lab-cur/cur/fargate-lab/data/"
#: Columns every CUR 2.0 export with split cost allocation data has; a path without them is not one.
REQUIRED_COLUMNS = ("line_item_usage_start_date", "line_item_usage_end_date", "line_item_product_code",
                    "line_item_usage_type", "line_item_resource_id", "line_item_usage_amount",
                    "line_item_unblended_cost", "split_line_item_split_cost", "split_line_item_unused_cost")
RESULT_PAGE = 1000  # get_query_results' largest page


@lru_cache(maxsize=1)
def athena_prices() -> dict:
    """Athena's price per TB scanned and its per-query minimum, with source and date."""
    return json.loads(resources.files("helpers.data").joinpath("athena_prices.json").read_text())


def scan_cost(bytes_scanned: int) -> float:
    """USD Athena bills for a query that scanned ``bytes_scanned``: rounded up to the MB, at least 10 MB."""
    prices = athena_prices()
    if not bytes_scanned:
        return 0.0
    mb = max(prices["minimum_mb_per_query"], -(-int(bytes_scanned) // 2**20))
    return mb * 2**20 / 1e12 * prices["usd_per_tb_scanned"]


# --- choosing the engine ------------------------------------------------------------------------------------------


def _backend(session: boto3.Session) -> str:
    return getattr(session, "backend", "aws")


def choose_engine(session: boto3.Session, engine: str = "auto", *, cur_path: str | None = None,
                  database: str | None = None, table: str | None = None,
                  output_location: str | None = None) -> tuple[str, str | None]:
    """("athena" or "duckdb", the path DuckDB reads or None), or a clear error naming the parameter."""
    if engine not in ENGINES:
        raise InvalidParameter("engine", engine, f"one of {', '.join(ENGINES)}")
    athena_settings = {"database": database, "table": table, "output_location": output_location}
    if engine == "athena" or (engine == "auto" and not cur_path and _backend(session) != "local"):
        missing = [name for name, value in athena_settings.items() if not value]
        if missing:
            why = ("the Athena engine needs it" if engine == "athena" else
                   "engine 'auto' on AWS without cur_path uses Athena, which needs it")
            raise InvalidParameters([f"{name} is missing: {why} (or give cur_path, an export on disk or in S3, "
                                     f"with engine='duckdb')" for name in missing])
        if not str(output_location).startswith("s3://"):
            raise InvalidParameter("output_location", output_location, "an S3 URI, e.g. s3://my-bucket/athena/")
        return "athena", None
    if cur_path:
        return "duckdb", str(cur_path)
    if _backend(session) == "local":
        return "duckdb", LOCAL_EXPORT
    raise InvalidParameter("cur_path", cur_path, "a CUR 2.0 export on disk or in S3 (engine 'duckdb' on AWS reads "
                                                 "the files; use engine 'athena' to query them where they are)")


# --- DuckDB ---------------------------------------------------------------------------------------------------------


def _s3_filesystem(session: boto3.Session) -> Any:
    from pyarrow import fs

    credentials = session.get_credentials()
    frozen = credentials.get_frozen_credentials() if credentials else None
    endpoint = getattr(session, "endpoint_url", None)
    kwargs: dict[str, Any] = {"region": session.region_name or "us-east-1"}
    if frozen:
        kwargs.update(access_key=frozen.access_key, secret_key=frozen.secret_key, session_token=frozen.token)
    if endpoint:
        scheme, _, host = endpoint.partition("://")
        kwargs.update(endpoint_override=host, scheme=scheme)
    return fs.S3FileSystem(**kwargs)


def dataset(session: boto3.Session, cur_path: str) -> Any:
    """The export's Parquet files as a pyarrow dataset (local path or s3:// URI), checked to be CUR 2.0."""
    import pyarrow.dataset as ds
    from pyarrow import ArrowInvalid

    if cur_path.startswith("s3://"):
        filesystem, path = _s3_filesystem(session), cur_path.removeprefix("s3://").rstrip("/")
        from pyarrow import fs

        if filesystem.get_file_info(path).type == fs.FileType.NotFound:
            raise InvalidParameter("cur_path", cur_path, "an S3 location that exists and holds a CUR 2.0 export "
                                   "(on the embedded backend: run tasks, then helpers.local.export_cur())")
    else:
        filesystem, path = None, str(Path(cur_path).expanduser())
        if not Path(path).exists():
            raise InvalidParameter("cur_path", cur_path, "a directory or Parquet file that exists (a CUR 2.0 "
                                   "export's data folder)")
    try:
        data = ds.dataset(path, filesystem=filesystem, format="parquet", partitioning="hive",
                          exclude_invalid_files=True)
    except (ArrowInvalid, OSError) as exc:
        raise InvalidParameter("cur_path", cur_path, f"a folder of Parquet files ({exc})") from exc
    missing = [c for c in REQUIRED_COLUMNS if c not in data.schema.names]
    if missing or not data.files:
        raise InvalidParameter("cur_path", cur_path, "a CUR 2.0 export with split cost allocation data; "
                               + (f"it has no {', '.join(missing)}" if data.files else "it holds no Parquet file"))
    return data


_TAG = re.compile(r"\{tag:([A-Za-z0-9_:.-]+)\}")


def render(sql: str, engine: str, table: str) -> str:
    """``sql`` with ``{cur}`` and ``{tag:KEY}`` filled in for ``engine`` ("athena" or "duckdb")."""
    def tag(match: re.Match) -> str:
        key = match[1]
        return f"element_at(resource_tags, '{key}')" if engine == "athena" else f"resource_tags['{key}']"

    return _TAG.sub(tag, sql.replace("{cur}", table))


def _duckdb(session: boto3.Session, sql: str, cur_path: str) -> pd.DataFrame:
    import duckdb

    data = dataset(session, cur_path)
    text = render(sql, "duckdb", "cur")
    with duckdb.connect() as con:
        con.register("cur", data)
        try:
            result = con.execute(text).df()
        except duckdb.Error as exc:
            raise QueryFailed("DuckDB", str(exc).splitlines()[0], text) from exc
    result.attrs.update(engine="duckdb", source=f"CUR 2.0 export at {cur_path} (DuckDB)", bytes_scanned=None,
                        scan_cost_usd=0.0)
    return result


# --- Athena ---------------------------------------------------------------------------------------------------------

_ATHENA_TYPES: dict[str, Callable[[pd.Series], pd.Series]] = {
    "double": lambda s: pd.to_numeric(s, errors="coerce"), "float": lambda s: pd.to_numeric(s, errors="coerce"),
    "real": lambda s: pd.to_numeric(s, errors="coerce"), "decimal": lambda s: pd.to_numeric(s, errors="coerce"),
    "bigint": lambda s: pd.to_numeric(s, errors="coerce").astype("Int64"),
    "integer": lambda s: pd.to_numeric(s, errors="coerce").astype("Int64"),
    "timestamp": lambda s: pd.to_datetime(s, utc=True, errors="coerce"),
    "date": lambda s: pd.to_datetime(s, errors="coerce").dt.date,
    "boolean": lambda s: s.map({"true": True, "false": False}).astype("boolean"),
}


def _wait(athena: Any, query_id: str, *, max_wait_seconds: float, progress: Callable[[str], None] | None) -> dict:
    """Poll until the query ends (0.2 s, growing to 2 s between looks); the execution as Athena last said."""
    deadline, pause, last = time.monotonic() + max_wait_seconds, 0.2, ""
    while True:
        execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        state = execution["Status"]["State"]
        scanned = (execution.get("Statistics") or {}).get("DataScannedInBytes", 0)
        line = f"athena {query_id}: {state}, {scanned / 2**20:.1f} MB scanned"
        if progress and line != last:
            progress(line)
            last = line
        if state in ("SUCCEEDED", "FAILED", "CANCELLED"):
            return execution
        if time.monotonic() > deadline:
            athena.stop_query_execution(QueryExecutionId=query_id)
            raise QueryFailed("Athena", f"still {state} after {max_wait_seconds:.0f} s (stopped; raise "
                                        "max_wait_seconds for a larger scan)", execution["Query"])
        time.sleep(pause)
        pause = min(2.0, pause * 1.5)


def _results(athena: Any, query_id: str) -> pd.DataFrame:
    """Every row of a finished query (get_query_results, paginated; the header row comes first, once)."""
    columns: list[dict] = []
    rows: list[list[str | None]] = []
    pages = athena.get_paginator("get_query_results").paginate(QueryExecutionId=query_id,
                                                               PaginationConfig={"PageSize": RESULT_PAGE})
    for number, page in enumerate(pages):
        if number == 0:
            columns = page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
        data = page["ResultSet"]["Rows"]
        if number == 0 and data and [d.get("VarCharValue") for d in data[0]["Data"]] == [c["Name"] for c in columns]:
            data = data[1:]  # a SELECT's first row repeats the column names
        rows += [[d.get("VarCharValue") for d in row["Data"]] for row in data]
    frame = pd.DataFrame(rows, columns=[c["Name"] for c in columns])
    for column in columns:
        convert = _ATHENA_TYPES.get(column["Type"].split("(")[0].lower())
        if convert:
            frame[column["Name"]] = convert(frame[column["Name"]])
    return frame


def _athena(session: boto3.Session, sql: str, *, database: str, table: str, workgroup: str, output_location: str,
            max_wait_seconds: float, progress: Callable[[str], None] | None) -> pd.DataFrame:
    athena = session.client("athena")
    text = render(sql, "athena", f'"{database}"."{table}"')
    started = athena.start_query_execution(QueryString=text, QueryExecutionContext={"Database": database},
                                           WorkGroup=workgroup, ResultConfiguration={"OutputLocation": output_location})
    query_id = started["QueryExecutionId"]
    execution = _wait(athena, query_id, max_wait_seconds=max_wait_seconds, progress=progress)
    status = execution["Status"]
    if status["State"] != "SUCCEEDED":
        raise QueryFailed("Athena", status.get("StateChangeReason") or status["State"], text)
    scanned = int((execution.get("Statistics") or {}).get("DataScannedInBytes", 0))
    result = _results(athena, query_id)
    result.attrs.update(engine="athena", source=f"CUR 2.0 table {database}.{table} (Athena, query {query_id})",
                        bytes_scanned=scanned, scan_cost_usd=scan_cost(scanned))
    return result


# --- the one entry point ------------------------------------------------------------------------------------------


def query(session: boto3.Session, sql: str, *, engine: str = "auto", cur_path: str | None = None,
          database: str | None = None, table: str | None = None, workgroup: str = "primary",
          output_location: str | None = None, max_wait_seconds: float = 600,
          progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Run ``sql`` (``{cur}`` where the CUR 2.0 table goes) on Athena or DuckDB; every argument is checked first.

    ``engine``: "athena" (``database``, ``table``, ``output_location`` needed; ``workgroup``), "duckdb"
    (``cur_path``: a local folder or s3:// URI of Parquet files; on the embedded backend, its own export by
    default) or "auto" (DuckDB when there is a path or the backend is the embedded one, else Athena). The
    frame's ``attrs`` say which engine answered, from where, and for Athena the bytes scanned and their cost.
    """
    if "{cur}" not in sql:
        raise InvalidParameter("sql", sql, "SQL with {cur} where the CUR 2.0 table goes, e.g. "
                                           "SELECT count(*) FROM {cur}")
    chosen, path = choose_engine(session, engine, cur_path=cur_path, database=database, table=table,
                                 output_location=output_location)
    if chosen == "athena":
        return _athena(session, sql, database=str(database), table=str(table), workgroup=workgroup,
                       output_location=str(output_location), max_wait_seconds=max_wait_seconds, progress=progress)
    return _duckdb(session, sql, str(path))


# --- ready-made queries (one SQL text for Athena and DuckDB) ------------------------------------------------------

_FARGATE = ("line_item_product_code = 'AmazonECS' AND line_item_line_item_type = 'Usage' "
            "AND line_item_usage_start_date >= TIMESTAMP '{since}' AND line_item_usage_start_date < TIMESTAMP '{until}'")
_CLUSTER = "split_part(line_item_resource_id, '/', 2)"
_SERVICE = "coalesce({tag:aws_ecs_service_name}, '(standalone)')"

QUERIES: dict[str, str] = {
    "cost_per_task": f"""
SELECT line_item_resource_id AS task_arn, {_CLUSTER} AS cluster, {_SERVICE} AS service,
       sum(split_line_item_split_cost) AS split_cost_usd, sum(split_line_item_unused_cost) AS unused_cost_usd,
       sum(line_item_unblended_cost) AS billed_usd, min(line_item_usage_start_date) AS first_hour,
       max(line_item_usage_end_date) AS last_hour
FROM {{cur}} WHERE {_FARGATE}
GROUP BY 1, 2, 3 ORDER BY split_cost_usd DESC, task_arn""",
    "cost_per_service_day": f"""
SELECT CAST(line_item_usage_start_date AS DATE) AS day, {_CLUSTER} AS cluster, {_SERVICE} AS service,
       count(DISTINCT line_item_resource_id) AS tasks, sum(split_line_item_split_cost) AS split_cost_usd,
       sum(split_line_item_unused_cost) AS unused_cost_usd, sum(line_item_unblended_cost) AS billed_usd
FROM {{cur}} WHERE {_FARGATE}
GROUP BY 1, 2, 3 ORDER BY day, cluster, service""",
    "cost_per_cluster_day": f"""
SELECT CAST(line_item_usage_start_date AS DATE) AS day, {_CLUSTER} AS cluster,
       count(DISTINCT line_item_resource_id) AS tasks, sum(split_line_item_split_cost) AS split_cost_usd,
       sum(split_line_item_unused_cost) AS unused_cost_usd, sum(line_item_unblended_cost) AS billed_usd
FROM {{cur}} WHERE {_FARGATE}
GROUP BY 1, 2 ORDER BY day, cluster""",
    "idle_per_service": f"""
SELECT {_CLUSTER} AS cluster, {_SERVICE} AS service, sum(split_line_item_split_cost) AS split_cost_usd,
       sum(split_line_item_unused_cost) AS unused_cost_usd,
       sum(split_line_item_unused_cost) / nullif(sum(split_line_item_split_cost + split_line_item_unused_cost), 0)
           AS unused_share
FROM {{cur}} WHERE {_FARGATE}
GROUP BY 1, 2 ORDER BY unused_cost_usd DESC, cluster, service""",
    "usage": f"""
SELECT line_item_usage_type AS usage_type, pricing_unit AS unit, sum(line_item_usage_amount) AS usage_amount,
       sum(split_line_item_split_usage) AS split_usage, sum(line_item_unblended_cost) AS billed_usd
FROM {{cur}} WHERE {_FARGATE}
GROUP BY 1, 2 ORDER BY billed_usd DESC, usage_type""",
}


def period(period_days: int, now: datetime | None = None) -> tuple[datetime, datetime]:
    """(since, until) for the last ``period_days`` days up to the next whole hour (CUR's line items are hourly)."""
    check_period_days(period_days)
    now = (now or datetime.now(UTC)).astimezone(UTC)
    until = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return until - timedelta(days=period_days), until


def ready(session: boto3.Session, name: str, *, since: datetime, until: datetime, **engine: Any) -> pd.DataFrame:
    """A ready-made query (``QUERIES``: cost per task, per service and day, per cluster and day, idle per service,
    usage) between ``since`` and ``until``. An empty period gives an empty, labelled frame, not an error."""
    if name not in QUERIES:
        raise InvalidParameter("name", name, f"one of {', '.join(QUERIES)}")
    fmt = "%Y-%m-%d %H:%M:%S"
    sql = QUERIES[name].replace("{since}", since.astimezone(UTC).strftime(fmt)).replace(
        "{until}", until.astimezone(UTC).strftime(fmt)).strip()
    result = query(session, sql, **engine)
    result.attrs["period"] = f"{since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} UTC"
    if result.empty:
        result.attrs["note"] = f"no CUR line items in {result.attrs['period']}"
    return result


def describe(result: pd.DataFrame) -> str:
    """One line: where a result comes from, its period, and what the scan cost (Athena)."""
    parts = [f"billed (CUR 2.0): {result.attrs.get('source', '?')}", result.attrs.get("period", "")]
    if result.attrs.get("bytes_scanned") is not None:
        parts.append(f"{result.attrs['bytes_scanned'] / 2**20:.1f} MB scanned, "
                     f"${result.attrs['scan_cost_usd']:.6f} of Athena")
    if result.attrs.get("note"):
        parts.append(result.attrs["note"])
    return "; ".join(p for p in parts if p)


def reconcile(estimate: pd.DataFrame, billed: pd.DataFrame) -> pd.DataFrame:
    """Per task: the estimate from events (``helpers.cost.price_tasks`` of the history) beside CUR's split cost,
    the difference in USD and percent, and why they may differ."""
    left = estimate[["task_arn", "cluster", "service", "spot", "billed_seconds", "cost_usd"]].rename(
        columns={"cost_usd": "estimate_usd"})
    right = billed[["task_arn", "split_cost_usd"]].rename(columns={"split_cost_usd": "billed_usd"})
    both = left.merge(right, on="task_arn", how="outer")
    both["difference_usd"] = both["estimate_usd"] - both["billed_usd"]
    both["difference_pct"] = 100 * both["difference_usd"] / both["billed_usd"]
    why = pd.Series("rounding of hourly usage amounts", index=both.index)
    why = why.mask(both["billed_seconds"] <= 60, "minimum billing (one minute on Linux)")
    why = why.mask(both["spot"].fillna(False).astype(bool), "Spot: the estimate's discount against the billed price")
    why = why.mask(both["billed_usd"].isna(), "not billed yet (CUR is hours late on AWS)")
    why = why.mask(both["estimate_usd"].isna(), "no events kept for it (ran before the history was set up)")
    both["why"] = why
    return both


def agreement(reconciled: pd.DataFrame) -> str:
    """One line on how far the estimate from events and the billed split cost are apart, task by task."""
    both = reconciled.dropna(subset=["estimate_usd", "billed_usd"])
    only_history = int(reconciled["billed_usd"].isna().sum())
    only_billed = int(reconciled["estimate_usd"].isna().sum())
    if both.empty:
        return f"no task both in the history and billed ({only_history} only in history, {only_billed} only billed)"
    worst = both.loc[both["difference_pct"].abs().idxmax()]
    return (f"{len(both)} task(s) in history and bill: largest difference per task "
            f"{abs(worst['difference_pct']):.3f}% ({worst['why']}); {only_history} only in history, "
            f"{only_billed} only billed")


def _by_day(estimate: pd.DataFrame) -> pd.DataFrame:
    """Each task's estimate split over the UTC days of its billing window, in proportion to its seconds there."""
    rows = []
    for task in estimate.dropna(subset=["billing_start", "billing_end", "cost_usd"]).itertuples():
        start, end = pd.Timestamp(task.billing_start), pd.Timestamp(task.billing_end)
        seconds = max((end - start).total_seconds(), 0.0)
        day = start.normalize()
        while True:
            part = (min(end, day + pd.Timedelta(days=1)) - max(start, day)).total_seconds()
            share = part / seconds if seconds else 1.0
            rows.append({"day": day.date(), "cluster": task.cluster, "service": task.service,
                         "task_arn": task.task_arn, "estimate_usd": task.cost_usd * share})
            day += pd.Timedelta(days=1)
            if day >= end:
                break
    return pd.DataFrame(rows, columns=["day", "cluster", "service", "task_arn", "estimate_usd"])


def per_service_day(estimate: pd.DataFrame, per_day: pd.DataFrame) -> pd.DataFrame:
    """Per day, cluster and service: the history's tasks, the estimate from events (a task split over the days it
    ran) and the billed split cost (``ready(..., "cost_per_service_day")``), with their difference."""
    days = _by_day(estimate)
    days["service"] = days["service"].fillna("(standalone)")  # CUR's name for a task of no service
    history = days.groupby(["day", "cluster", "service"], as_index=False).agg(
        history_tasks=("task_arn", "nunique"), estimate_usd=("estimate_usd", "sum"))
    billed = per_day[["day", "cluster", "service", "split_cost_usd"]].rename(columns={"split_cost_usd": "billed_usd"})
    billed = billed.assign(day=pd.to_datetime(billed["day"]).dt.date)
    both = history.merge(billed, on=["day", "cluster", "service"], how="outer")
    both["difference_usd"] = both["estimate_usd"] - both["billed_usd"]
    both.attrs["source"] = "history: kept events; estimate: the history priced; billed: CUR 2.0 split cost"
    return both.sort_values(["day", "cluster", "service"], ignore_index=True)
