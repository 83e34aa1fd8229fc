"""CUR 2.0 queries: DuckDB over Parquet on disk, Athena against recorded and emulated answers, bad input.

Columns and types: the CUR 2.0 table dictionary
(https://docs.aws.amazon.com/cur/latest/userguide/table-dictionary-cur2.html and its split line item page,
https://docs.aws.amazon.com/cur/latest/userguide/table-dictionary-cur2-split-line-item.html). Athena's answers:
https://docs.aws.amazon.com/athena/latest/APIReference/API_GetQueryResults.html and
API_GetQueryExecution.html (ResultSet with a header row first; Statistics.DataScannedInBytes).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from botocore.stub import Stubber

from helpers import cur
from helpers.errors import InvalidParameter, InvalidParameters, QueryFailed

SINCE, UNTIL = datetime(2026, 11, 30, tzinfo=UTC), datetime(2026, 12, 2, tzinfo=UTC)
TASK = "arn:aws:ecs:us-east-1:123456789012:task/demo-web/{}"


def _export(path, rows: list[dict]) -> None:
    """A CUR 2.0 export's data folder: BILLING_PERIOD=YYYY-MM/part.parquet with the dictionary's types."""
    schema = pa.schema([
        ("line_item_usage_start_date", pa.timestamp("ms")), ("line_item_usage_end_date", pa.timestamp("ms")),
        ("line_item_product_code", pa.string()), ("line_item_line_item_type", pa.string()),
        ("line_item_usage_type", pa.string()), ("line_item_resource_id", pa.string()),
        ("line_item_usage_amount", pa.float64()), ("line_item_unblended_cost", pa.float64()),
        ("pricing_unit", pa.string()), ("split_line_item_split_cost", pa.float64()),
        ("split_line_item_unused_cost", pa.float64()), ("split_line_item_split_usage", pa.float64()),
        ("resource_tags", pa.map_(pa.string(), pa.string())),
    ])
    folder = path / "BILLING_PERIOD=2026-11"
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / "part-00001.snappy.parquet")


def _row(task: str, hour: int, usage_type: str, amount: float, costs: float, service: str | None = "web",
         unused: float = 0.0) -> dict:
    return {
        "line_item_usage_start_date": datetime(2026, 11, 30) + timedelta(hours=hour),
        "line_item_usage_end_date": datetime(2026, 11, 30) + timedelta(hours=hour + 1),
        "line_item_product_code": "AmazonECS", "line_item_line_item_type": "Usage", "line_item_usage_type": usage_type,
        "line_item_resource_id": TASK.format(task), "line_item_usage_amount": amount,
        "line_item_unblended_cost": costs, "pricing_unit": "hours", "split_line_item_split_cost": costs,
        "split_line_item_unused_cost": unused, "split_line_item_split_usage": amount,
        "resource_tags": [("aws_ecs_service_name", service)] if service else [],
    }


@pytest.fixture
def export(tmp_path):
    rows = [
        _row("a", 0, "USE1-Fargate-vCPU-Hours:perCPU", 0.25, 0.01012),
        _row("a", 0, "USE1-Fargate-GB-Hours", 0.5, 0.0022225),
        _row("a", 25, "USE1-Fargate-vCPU-Hours:perCPU", 0.25, 0.01012, unused=0.001),
        _row("b", 1, "USE1-Fargate-vCPU-Hours:perCPU", 1.0, 0.04048, service=None),
    ]
    _export(tmp_path / "data", rows)
    return str(tmp_path / "data")


class _Session:
    """A session on real AWS for the engine choice, whose Athena client is the one given (stubbed or moto's)."""

    backend = "aws"
    region_name = "us-east-1"

    def __init__(self, athena=None) -> None:
        self.athena = athena

    def client(self, name: str, **kwargs):
        assert name == "athena"
        return self.athena


def test_duckdb_ready_made_queries_on_an_export_on_disk(export):
    session = _Session()
    per_task = cur.ready(session, "cost_per_task", since=SINCE, until=UNTIL, cur_path=export).set_index("task_arn")
    a = per_task.loc[TASK.format("a")]
    assert a["split_cost_usd"] == pytest.approx(0.01012 * 2 + 0.0022225)
    assert a["unused_cost_usd"] == pytest.approx(0.001) and a["cluster"] == "demo-web" and a["service"] == "web"
    assert per_task.loc[TASK.format("b"), "service"] == "(standalone)"  # no service tag: a task of its own
    per_day = cur.ready(session, "cost_per_service_day", since=SINCE, until=UNTIL, cur_path=export)
    assert len(per_day) == 3 and per_day["billed_usd"].sum() == pytest.approx(0.01012 * 2 + 0.0022225 + 0.04048)
    assert "DuckDB" in cur.describe(per_day) and "2026-11-30 00:00" in cur.describe(per_day)
    usage = cur.ready(session, "usage", since=SINCE, until=UNTIL, cur_path=export).set_index("usage_type")
    assert usage.loc["USE1-Fargate-vCPU-Hours:perCPU", "usage_amount"] == pytest.approx(1.5)
    idle = cur.ready(session, "idle_per_service", since=SINCE, until=UNTIL, cur_path=export)
    assert idle.loc[0, "service"] == "web" and idle.loc[0, "unused_cost_usd"] == pytest.approx(0.001)


def test_one_sql_text_renders_for_each_engine():
    sql = "SELECT {tag:aws_ecs_service_name} FROM {cur}"
    assert cur.render(sql, "athena", '"db"."t"') == \
        """SELECT element_at(resource_tags, 'aws_ecs_service_name') FROM "db"."t\""""
    assert cur.render(sql, "duckdb", "cur") == "SELECT resource_tags['aws_ecs_service_name'] FROM cur"


def test_a_period_with_no_data_is_an_empty_labelled_result(export):
    empty = cur.ready(_Session(), "cost_per_task", since=datetime(2025, 1, 1, tzinfo=UTC),
                      until=datetime(2025, 1, 2, tzinfo=UTC), cur_path=export)
    assert empty.empty and "no CUR line items" in cur.describe(empty)


def _not_cur(tmp_path) -> str:
    pq.write_table(pa.table({"x": [1]}), tmp_path / "not_cur.parquet")
    return str(tmp_path / "not_cur.parquet")


#: Issue 16's bad input, a row each: (query arguments, error class, the words its message must have).
BAD_INPUT = {
    "an unknown engine": (lambda tmp: {"engine": "spark"}, InvalidParameter, "engine"),
    "athena without database, table, output location": (
        lambda tmp: {"engine": "athena"}, InvalidParameters,
        "(?s)database is missing.*table is missing.*output_location is missing"),
    "auto on AWS is athena: without an output location": (
        lambda tmp: {"database": "cur", "table": "cur2"}, InvalidParameters, "output_location is missing"),
    "athena with an output location not in S3": (
        lambda tmp: {"engine": "athena", "database": "d", "table": "t", "output_location": "/tmp"},
        InvalidParameter, "output_location.*s3://"),
    "a cur_path that does not exist": (
        lambda tmp: {"cur_path": str(tmp / "nowhere")}, InvalidParameter, "cur_path.*exists"),
    "a cur_path with no CUR 2.0 columns": (
        lambda tmp: {"cur_path": _not_cur(tmp)}, InvalidParameter, "cur_path.*no line_item_usage_start_date"),
}


@pytest.mark.parametrize("arguments,error,words", BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_bad_input_names_the_parameter_before_any_query(tmp_path, arguments, error, words):
    session = _Session(athena=object())  # any call on it would fail: nothing may run, nothing costs money
    with pytest.raises(error, match=words):
        cur.query(session, "SELECT 1 FROM {cur}", **arguments(tmp_path))


def test_sql_without_the_table_is_refused_before_any_query(export):
    with pytest.raises(InvalidParameter, match="sql"):
        cur.query(_Session(athena=object()), "SELECT 1", cur_path=export)


def test_sql_duckdb_rejects_gives_its_message_and_the_query(export):
    with pytest.raises(QueryFailed, match="DuckDB rejected the query") as failed:
        cur.query(_Session(athena=object()), "SELECT no_such_column FROM {cur}", cur_path=export)
    assert "SELECT no_such_column FROM cur" in str(failed.value)  # the query is shown


def _execution(query_id: str, state: str, scanned: int = 0, reason: str | None = None) -> dict:
    status = {"State": state, "SubmissionDateTime": datetime(2026, 12, 2, 12, tzinfo=UTC)}
    if reason:
        status["StateChangeReason"] = reason
    return {"QueryExecution": {"QueryExecutionId": query_id, "Query": "SELECT ...", "StatementType": "DML",
                               "Status": status, "Statistics": {"DataScannedInBytes": scanned,
                                                                "EngineExecutionTimeInMillis": 812}}}


def _column(name: str, kind: str) -> dict:
    return {"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": name, "Label": name, "Type": kind,
            "Precision": 0, "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": kind == "varchar"}


def _stubbed() -> tuple[object, Stubber]:
    client = boto3.client("athena", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


def test_athena_waits_paginates_and_says_what_the_scan_cost():
    client, stub = _stubbed()
    columns = [_column("service", "varchar"), _column("day", "date"), _column("split_cost_usd", "double"),
               _column("tasks", "bigint")]
    stub.add_response("start_query_execution", {"QueryExecutionId": "q-1"}, {
        "QueryString": 'SELECT count(*) FROM "cur"."cur2" WHERE element_at(resource_tags, \'k\') IS NULL',
        "QueryExecutionContext": {"Database": "cur"}, "WorkGroup": "primary",
        "ResultConfiguration": {"OutputLocation": "s3://results/athena/"}})
    stub.add_response("get_query_execution", _execution("q-1", "RUNNING", 0))
    stub.add_response("get_query_execution", _execution("q-1", "SUCCEEDED", 3 * 2**30))
    header = {"Data": [{"VarCharValue": c["Name"]} for c in columns]}
    stub.add_response("get_query_results", {
        "ResultSet": {"Rows": [header, {"Data": [{"VarCharValue": "web"}, {"VarCharValue": "2026-11-30"},
                                                 {"VarCharValue": "0.5"}, {"VarCharValue": "3"}]}],
                      "ResultSetMetadata": {"ColumnInfo": columns}}, "NextToken": "page-2"})
    stub.add_response("get_query_results", {
        "ResultSet": {"Rows": [{"Data": [{"VarCharValue": "api"}, {"VarCharValue": "2026-12-01"},
                                         {"VarCharValue": "1.25"}, {}]}],
                      "ResultSetMetadata": {"ColumnInfo": columns}}})
    lines: list[str] = []
    with stub:
        result = cur.query(_Session(client), "SELECT count(*) FROM {cur} WHERE {tag:k} IS NULL", engine="athena",
                           database="cur", table="cur2", output_location="s3://results/athena/",
                           progress=lines.append)
    stub.assert_no_pending_responses()
    assert list(result["service"]) == ["web", "api"]  # the header row is not data; page 2 followed
    assert result["split_cost_usd"].sum() == pytest.approx(1.75) and str(result["tasks"].dtype) == "Int64"
    assert result.attrs["bytes_scanned"] == 3 * 2**30
    assert result.attrs["scan_cost_usd"] == pytest.approx(3 * 1024 * 2**20 / 1e12 * 5.0)  # $5 per TB
    assert lines[0].endswith("RUNNING, 0.0 MB scanned") and lines[-1].endswith("SUCCEEDED, 3072.0 MB scanned")
    assert "3072.0 MB scanned" in cur.describe(result)


def test_sql_athena_rejects_gives_its_message_and_the_query():
    client, stub = _stubbed()
    stub.add_response("start_query_execution", {"QueryExecutionId": "q-2"})
    reason = "COLUMN_NOT_FOUND: line 1:8: Column 'nope' cannot be resolved or requester is not authorized"
    stub.add_response("get_query_execution", _execution("q-2", "FAILED", 0, reason))
    with stub, pytest.raises(QueryFailed) as failed:
        cur.query(_Session(client), "SELECT nope FROM {cur}", engine="athena", database="cur", table="cur2",
                  output_location="s3://results/")
    assert reason in str(failed.value) and 'SELECT nope FROM "cur"."cur2"' in str(failed.value)


def test_athena_against_moto_emulated_answer():
    from moto import mock_aws
    from moto.athena.models import QueryResults, athena_backends

    with mock_aws():
        backend = athena_backends["123456789012"]["us-east-1"]
        columns = [_column("task_arn", "varchar"), _column("split_cost_usd", "double")]
        rows = [{"Data": [{"VarCharValue": "task_arn"}, {"VarCharValue": "split_cost_usd"}]},
                {"Data": [{"VarCharValue": TASK.format("a")}, {"VarCharValue": "0.0123"}]}]
        backend.query_results_queue.append(QueryResults(rows=rows, column_info=columns))
        client = boto3.client("athena", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        result = cur.ready(_Session(client), "cost_per_task", since=SINCE, until=UNTIL, database="cur",
                           table="cur2", output_location="s3://results/")
    assert list(result["task_arn"]) == [TASK.format("a")] and result["split_cost_usd"][0] == pytest.approx(0.0123)
    assert result.attrs["engine"] == "athena" and result.attrs["scan_cost_usd"] == 0.0


def test_scan_cost_rounds_up_to_the_megabyte_with_a_ten_megabyte_minimum():
    assert cur.scan_cost(0) == 0.0
    assert cur.scan_cost(1) == pytest.approx(10 * 2**20 / 1e12 * 5.0)
    assert cur.scan_cost(11 * 2**20 + 1) == pytest.approx(12 * 2**20 / 1e12 * 5.0)


def test_per_service_day_splits_a_task_over_the_days_it_ran_and_sets_it_beside_the_bill():
    estimate = pd.DataFrame({
        "task_arn": [TASK.format("a"), TASK.format("b")], "cluster": ["demo-web", "demo-web"],
        "service": ["web", None], "cost_usd": [3.0, 1.0],
        "billing_start": pd.to_datetime(["2026-11-30T18:00:00Z", "2026-12-01T01:00:00Z"]),
        "billing_end": pd.to_datetime(["2026-12-01T06:00:00Z", "2026-12-01T02:00:00Z"])})
    per_day = pd.DataFrame({"day": pd.to_datetime(["2026-11-30", "2026-12-01", "2026-12-01"]),
                            "cluster": ["demo-web"] * 3, "service": ["web", "web", "(standalone)"],
                            "split_cost_usd": [1.5, 1.5, 1.02]})
    compared = cur.per_service_day(estimate, per_day).set_index(["day", "service"])
    day1, day2 = datetime(2026, 11, 30).date(), datetime(2026, 12, 1).date()
    assert compared.loc[(day1, "web"), "estimate_usd"] == pytest.approx(1.5)  # 6 of the 12 hours
    assert compared.loc[(day2, "web"), "estimate_usd"] == pytest.approx(1.5)
    assert compared.loc[(day2, "(standalone)"), "history_tasks"] == 1
    assert compared.loc[(day2, "(standalone)"), "difference_usd"] == pytest.approx(-0.02)


def test_agreement_names_the_largest_difference_and_what_is_on_one_side_only():
    estimate = pd.DataFrame({"task_arn": ["a", "b", "c"], "cluster": "c", "service": "s", "spot": False,
                             "billed_seconds": [600, 600, 600], "cost_usd": [1.0, 2.0, 1.0]})
    billed = pd.DataFrame({"task_arn": ["a", "b", "d"], "split_cost_usd": [1.0, 2.02, 5.0]})
    line = cur.agreement(cur.reconcile(estimate, billed))
    assert line.startswith("2 task(s) in history and bill: largest difference per task 0.990%")
    assert line.endswith("1 only in history, 1 only billed")


def test_the_benchmark_prints_duckdb_beside_pandas_and_the_events_seconds(capsys):
    """benchmarks/cost_history_benchmark.py, scaled down (its defaults: 1,000,000 line items, 100,000 events)."""
    import importlib.util
    import inspect
    import re

    from tests.conftest import ROOT

    spec = importlib.util.spec_from_file_location("bench", ROOT / "benchmarks" / "cost_history_benchmark.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    defaults = inspect.signature(bench.main).parameters
    assert (defaults["rows"].default, defaults["events"].default) == (1_000_000, 100_000)
    bench.main(20_000, 2_000)  # it checks DuckDB's and pandas' totals agree
    out = capsys.readouterr().out
    assert re.search(r"20,000 CUR line items per service and day: DuckDB [\d,]+ rows/s .*pandas [\d,]+ rows/s "
                     r".*ratio [\d.]+x", out), out
    assert re.search(r"2,000 task state change events -> 500 tasks in [\d.]+ s", out), out
