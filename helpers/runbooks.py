"""Run a notebook as a Fargate task: papermill in a container, the notebook in and out through S3.

Why: one papermill process on one machine does not scale to a runbook per service or region; ECS on Fargate
does, and papermill reads and writes ``s3://`` notebooks itself. The task finds its credentials (the task role)
and, on the embedded backend, the endpoint the way Fargate gives them, so this module is the same on both.
The image must have python3 with papermill, ipykernel and boto3 (``image`` is any reference ECS can pull).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers import prereqs, taskdef, tasks
from helpers.errors import FleetStopped, InvalidParameter, InvalidParameters, TaskTimedOut
from helpers.tags import as_aws, suite_tags, tag_value

FAMILY = "fargate-lab-runbook"
CONTAINER = "papermill"
TASK_ROLE_NAME = "fargate-lab-runbook-task"
TASK_POLICY = Path(__file__).resolve().parent.parent / "iam" / "fargate-lab-runbook-task-policy.json"
BUCKET_PREFIX = "fargate-lab-runbooks-"  # the task role's policy reaches only buckets named so
# S3's rules for a bucket name: https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
_BUCKET = re.compile(r"^(?!xn--)(?!.*-s3alias$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass
class RunbookResult:
    """What one notebook's task did: its exit code is the notebook's success (0) or failure."""

    notebook: str
    parameters: dict[str, Any]
    output_uri: str
    task: tasks.TaskResult

    @property
    def succeeded(self) -> bool:
        return not self.task.failed


def check_bucket(bucket: str) -> str:
    """The bucket name, or InvalidParameter for one S3 would refuse (before anything is created)."""
    if not isinstance(bucket, str) or not _BUCKET.match(bucket) or ".." in bucket:
        raise InvalidParameter("bucket", bucket, "3 to 63 lowercase letters, digits, dots and hyphens, "
                                                 "starting and ending with a letter or digit")
    if not bucket.startswith(BUCKET_PREFIX):
        raise InvalidParameter("bucket", bucket, f"a name starting {BUCKET_PREFIX!r}: the only buckets the runner's "
                                                 "task role may read and write (iam/fargate-lab-runbook-task-policy.json)")
    return bucket


def ensure_task_role(session: Any, name: str = TASK_ROLE_NAME, *, allow_create: bool = False) -> str:
    """The runner's task role: read and write run notebooks under ``runs/`` of ``fargate-lab-runbooks-*`` buckets
    (``iam/fargate-lab-runbook-task-policy.json``); created, tagged, only if ``allow_create``.

    Why not on every run: putting a role's policy (``iam:PutRolePolicy``) would let whoever runs the lab give a role
    they may pass to a task any permission, so the lab's policy does not grant it; an administrator creates the
    role once (on the embedded backend: ``--create-task-role``).
    """
    arn, created = prereqs.ensure_tasks_role(
        session, name, allow_create=allow_create,
        missing=(f"the runbook task role {name!r} does not exist. Create it once, with IAM rights the lab's policy "
                 "does not give: run_on_fargate(..., create_task_role=True), or --create-task-role"),
        description="fargate-lab: a runbook task reads and writes its notebooks in S3")
    if created:
        session.client("iam").put_role_policy(RoleName=name, PolicyName="runbook-notebooks",
                                              PolicyDocument=TASK_POLICY.read_text())
    return arn


def register_runner(session: Any, image: str, log_group: str, *, task_role_arn: str, cpu: str = "512",
                    memory: str = "1024") -> str:
    """The task definition whose one container runs papermill (its command comes with each run): the family's
    latest revision when it already says the same, so repeated runs add no revision."""
    return taskdef.register(session, {
        "family": FAMILY, "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"], "cpu": cpu,
        "memory": memory, "taskRoleArn": task_role_arn,
        "executionRoleArn": prereqs.ensure_execution_role(session, allow_create=True),
        "containerDefinitions": [{"name": CONTAINER, "image": image, "essential": True,
                                  "command": ["python3", "-m", "papermill", "--help"],
                                  "logConfiguration": {"logDriver": "awslogs", "options": {
                                      "awslogs-group": log_group, "awslogs-region": session.region_name,
                                      "awslogs-stream-prefix": "runbook"}}}],
    }).arn


def run_notebook(session: Any, notebook: str | Path, *, bucket: str, image: str, cluster: str,
                 log_group: str, parameters: Mapping[str, Any] | None = None, run_id: str | None = None,
                 timeout: float = 600, create_task_role: bool = False) -> RunbookResult:
    """Upload ``notebook``, run it with ``parameters`` as one Fargate task, wait; the output is in S3.

    The container runs ``papermill s3://BUCKET/runs/RUN/in/NAME s3://BUCKET/runs/RUN/out/NAME -y PARAMETERS``:
    its exit code is 0 when every cell ran. A failed notebook is a result (``succeeded`` False), not an error.
    """
    check_bucket(bucket)
    path = Path(notebook)
    if path.suffix != ".ipynb" or not path.is_file():
        raise InvalidParameter("notebook", str(notebook), "an existing .ipynb file")
    if parameters is not None and not isinstance(parameters, Mapping):
        raise InvalidParameter("parameters", parameters, "a mapping of parameter names to values")
    values = dict(parameters or {})
    run = run_id or uuid.uuid4().hex[:12]
    source, output = (f"s3://{bucket}/runs/{run}/{part}/{path.name}" for part in ("in", "out"))
    session.client("s3").upload_file(str(path), bucket, source.split("/", 3)[3])
    role = ensure_task_role(session, allow_create=create_task_role)
    definition = register_runner(session, image, log_group, task_role_arn=role)
    command = ["python3", "-m", "papermill", "--no-progress-bar", source, output, "-y", json.dumps(values)]
    arns = tasks.run_task(session, cluster, definition, overrides=tasks.command_override(CONTAINER, command),
                          tags={"fargate-lab:runbook": tag_value(path.name)})
    [result] = tasks.wait_for_tasks(session, cluster, arns, timeout=timeout, progress=False, raise_on_failure=False)
    return RunbookResult(notebook=path.name, parameters=values, output_uri=output, task=result)


# -- a fleet of runs -------------------------------------------------------------------------------------------

LOG_GROUP = "/fargate-lab/runbooks"
MAX_PARALLEL = 50
_DONE = ("STOPPED", "MISSING")


@dataclass
class FleetRow:
    """One task of ``run_on_fargate``: a notebook with one parameter set, where its output is, how it ended."""

    notebook: str
    parameters: dict[str, Any]
    status: str  # "ok" or "failed"
    seconds: float | None
    output_uri: str
    stop_code: str | None
    exit_code: int | None
    local_output: Path | None = None
    error: str = ""
    task: tasks.TaskResult | None = None


def check_matrix(matrix: Any) -> list[dict[str, Any]]:
    """The matrix's parameter sets ([{}] for none), or InvalidParameter for anything but a list of mappings."""
    if matrix is None:
        return [{}]
    if (not isinstance(matrix, list) or not matrix
            or not all(isinstance(s, Mapping) and all(isinstance(k, str) for k in s) for s in matrix)):
        raise InvalidParameter("matrix", matrix, "a non-empty list of mappings from parameter name to value, "
                                                 "e.g. [{region: us-east-1}, {region: eu-west-1}]")
    return [dict(s) for s in matrix]


def plan(notebooks: Sequence[str | Path], matrix: Any = None,
         parameters: Mapping[str, Any] | None = None) -> list[tuple[Path, dict[str, Any]]]:
    """Every (notebook, parameters) pair to run, each notebook given only the names it declares.

    Before anything runs: each notebook exists, each name is declared by one of them (else the closest name) and
    each value passes the notebook's parameter model; InvalidParameters lists every problem of every set.
    """
    from helpers import runner

    paths = [Path(n) for n in notebooks]
    missing = [str(p) for p in paths if p.suffix != ".ipynb" or not p.is_file()]
    if not paths or missing:
        raise InvalidParameter("notebooks", missing or [], "one or more existing .ipynb files")
    if parameters is not None and not isinstance(parameters, Mapping):
        raise InvalidParameter("parameters", parameters, "a mapping of parameter names to values")
    sets = [{**(parameters or {}), **s} for s in check_matrix(matrix)]
    problems: list[str] = []
    for number, values in enumerate(sets, 1):
        try:
            runner.check_parameters(paths, values)
        except InvalidParameters as exc:
            problems += [f"matrix set {number} {values}: {p}" if matrix is not None else p for p in exc.problems]
    if problems:
        raise InvalidParameters(problems)
    declared = {p: runner.declared_parameters(p) for p in paths}
    return [(p, {k: v for k, v in values.items() if k in declared[p]}) for p in paths for values in sets]


def bucket_exists(session: Any, bucket: str) -> bool:
    """Whether the bucket exists (InvalidParameter when it is someone else's or these credentials may not use it)."""
    from botocore.exceptions import ClientError

    try:
        session.client("s3").head_bucket(Bucket=bucket)
        return True
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code not in ("404", "NoSuchBucket"):
            raise InvalidParameter("bucket", bucket, f"a bucket these credentials may use (S3 answered {code})") from exc
    return False


def make_bucket(session: Any, bucket: str) -> None:
    """A new bucket in the session's region, with the suite's tags (cleanup finds it by them)."""
    s3 = session.client("s3")
    extra = {} if session.region_name == "us-east-1" else {
        "CreateBucketConfiguration": {"LocationConstraint": session.region_name}}
    s3.create_bucket(Bucket=bucket, **extra)
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": as_aws(suite_tags(), "Key")})


def _error_of(path: Path) -> str:
    """The first error cell's ``ename: evalue`` of an executed notebook (papermill keeps it there)."""
    import nbformat

    notebook = nbformat.read(str(path), as_version=4)
    for cell in notebook.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if output.get("output_type") == "error":
                return f"{output.get('ename')}: {output.get('evalue')}"
    return ""


def _row(session: Any, path: Path, values: dict, uri: str, result: tasks.TaskResult, out_dir: Path) -> FleetRow:
    exit_code = result.exit_codes.get(CONTAINER)
    row = FleetRow(path.name, values, "failed" if result.failed or result.last_status == "MISSING" else "ok",
                   result.duration_seconds, uri, result.stop_code, exit_code, task=result)
    if row.status == "failed":
        row.error = result.hint or result.stopped_reason or ""
        local = out_dir / uri.rsplit("/", 1)[-1]
        bucket, key = uri.removeprefix("s3://").split("/", 1)
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            session.client("s3").download_file(bucket, key, str(local))
        except Exception:  # noqa: BLE001 - a task that never ran wrote no output; its hint says why
            return row
        row.local_output = local
        row.error = _error_of(local) or row.error
    return row


def _status(results: Sequence[tasks.TaskResult], waiting: int, rows: Sequence[FleetRow]) -> str:
    counts = Counter(r.last_status for r in results)
    failed = sum(r.status == "failed" for r in rows)
    live = ", ".join(f"{n} {status.lower()}" for status, n in sorted(counts.items()) if status not in _DONE)
    return (f"{len(rows)} done ({len(rows) - failed} ok, {failed} failed)" + (f", {live}" if live else "")
            + (f", {waiting} waiting" if waiting else ""))


def run_on_fargate(session: Any, notebooks: Sequence[str | Path], matrix: Any = None,
                   parameters: Mapping[str, Any] | None = None, *, parallel: int = 4, bucket: str, image: str,
                   cluster: str = prereqs.DEFAULT_CLUSTER, log_group: str = LOG_GROUP, create_bucket: bool = False,
                   out_dir: str | Path | None = None, progress: Callable[[str], None] | None = None,
                   timeout: float = 900, poll_seconds: float = 1.0,
                   create_task_role: bool = False) -> list[FleetRow]:
    """Run each notebook with each parameter set as its own Fargate task, at most ``parallel`` at once.

    Outputs go to ``s3://BUCKET/runs/RUN/out/``; a failed one is also downloaded into ``out_dir`` (default
    ``runs/RUN``). ``progress`` gets a status line each time the counts change. Bad input raises before anything
    is created (a missing task role too, unless ``create_task_role``); a failed notebook is a row (status
    "failed"), not an error.
    """
    check_bucket(bucket)
    if not isinstance(parallel, int) or isinstance(parallel, bool) or not 1 <= parallel <= MAX_PARALLEL:
        raise InvalidParameter("parallel", parallel, f"an integer from 1 to {MAX_PARALLEL}")
    if not isinstance(image, str) or not image.strip():
        raise InvalidParameter("image", image, "an image reference ECS can pull, e.g. ACCOUNT.dkr.ecr.REGION"
                                               ".amazonaws.com/fargate-lab-runner:TAG")
    runs = plan(notebooks, matrix, parameters)
    exists = bucket_exists(session, bucket)
    if not exists and not create_bucket:
        raise InvalidParameter("bucket", bucket, "an existing bucket: pass create_bucket=True (--create-bucket) "
                                                 "to create it, tagged as the suite's")
    role = ensure_task_role(session, allow_create=create_task_role)
    if not exists:
        make_bucket(session, bucket)
    run = uuid.uuid4().hex[:12]
    out = Path(out_dir) if out_dir else Path("runs") / run
    per_notebook = len(runs) // len({p for p, _ in runs})
    s3 = session.client("s3")
    for path in dict.fromkeys(p for p, _ in runs):
        s3.upload_file(str(path), bucket, f"runs/{run}/in/{path.name}")
    prereqs.ensure_cluster(session, cluster)
    prereqs.ensure_log_group(session, log_group)
    definition = register_runner(session, image, log_group, task_role_arn=role)
    waiting = list(enumerate(runs))
    running: dict[str, int] = {}
    uris: dict[int, str] = {}
    rows: dict[int, FleetRow] = {}
    deadline = time.monotonic() + timeout
    try:
        _drive(session, cluster, definition, bucket, run, runs, waiting, running, uris, rows, out, parallel,
               per_notebook, deadline, timeout, poll_seconds, progress)
    except TaskTimedOut:
        raise  # its tasks are stopped already
    except (Exception, KeyboardInterrupt) as exc:
        raise _stop_fleet(session, cluster, run, running, runs, rows, exc) from exc
    return [rows[i] for i in range(len(runs))]


def _stop_fleet(session: Any, cluster: str, run: str, running: dict[str, int], runs: list, rows: dict[int, FleetRow],
                cause: BaseException) -> FleetStopped:
    """Stop what the run started (StopTask naming the run), and the error saying what ended it and what was stopped."""
    why = "interrupted" if isinstance(cause, KeyboardInterrupt) else f"{type(cause).__name__}: {cause}"
    arns = list(running)
    tasks.stop_tasks(session, cluster, arns, reason=f"fargate-lab: runbook run {run} ended early ({why})")
    which = ", ".join(f"{runs[i][0].name} {_given(runs[i][1])}" for i in sorted(running.values())) or "none"
    return FleetStopped(f"the runbook run {run} ended early ({why}); stopped the {len(arns)} task(s) it had started "
                        f"and not yet finished ({which}); {len(rows)} run(s) had finished.",
                        rows=[rows[i] for i in sorted(rows)], stopped=arns)


def _drive(session: Any, cluster: str, definition: str, bucket: str, run: str, runs: list, waiting: list,
           running: dict[str, int], uris: dict[int, str], rows: dict[int, FleetRow], out: Path, parallel: int,
           per_notebook: int, deadline: float, timeout: float, poll_seconds: float,
           progress: Callable[[str], None] | None) -> None:
    """Start runs as slots free up and collect the finished ones, until every run has a row (``running`` and
    ``rows`` are the caller's, so that on an error it knows what to stop)."""
    said = ""
    while waiting or running:
        while waiting and len(running) < parallel:
            index, (path, values) = waiting.pop(0)
            name = path.name if per_notebook == 1 else f"{path.stem}-{index % per_notebook + 1}.ipynb"
            uris[index] = f"s3://{bucket}/runs/{run}/out/{name}"
            command = ["python3", "-m", "papermill", "--no-progress-bar", f"s3://{bucket}/runs/{run}/in/{path.name}",
                       uris[index], "-y", json.dumps(values)]
            [arn] = tasks.run_task(session, cluster, definition, tags={"fargate-lab:runbook": tag_value(path.name)},
                                   overrides=tasks.command_override(CONTAINER, command))
            running[arn] = index
        results = tasks.describe(session, cluster, list(running))
        for result in results:
            if result.last_status in _DONE:
                index = running.pop(result.task_arn)
                path, values = runs[index]
                rows[index] = _row(session, path, values, uris[index], result, out)
        line = _status(results, len(waiting), list(rows.values()))
        if progress and line != said:
            progress(line)
            said = line
        if running and time.monotonic() >= deadline:
            tasks.stop_tasks(session, cluster, list(running), reason=f"fargate-lab: timed out after {timeout:g} s")
            raise TaskTimedOut(f"{len(running)} runbook task(s) had not stopped after {timeout:g} s; stopped them. "
                               "Raise timeout= if the notebooks need longer.", results, "")
        if running and not (waiting and len(running) < parallel):
            time.sleep(poll_seconds)  # polling DescribeTasks, as wait_for_tasks does


def _given(parameters: Mapping[str, Any]) -> str:
    return ",".join(f"{k}={json.dumps(v, separators=(',', ':'))}" for k, v in parameters.items()) or "-"


def fleet_table(rows: Sequence[FleetRow]) -> str:
    """The summary: notebook, parameters, status, seconds, stop code, exit code and output, then each failure."""
    head = ("notebook", "parameters", "status", "seconds", "stop code", "exit", "output")
    body = [(r.notebook, _given(r.parameters), r.status, "" if r.seconds is None else f"{r.seconds:.1f}",
             r.stop_code or "", "" if r.exit_code is None else str(r.exit_code), r.output_uri) for r in rows]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in [head, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for r in rows:
        if r.status == "failed":
            lines.append(f"\n{r.notebook} ({_given(r.parameters)}) failed: {r.error}"
                         + (f"\nexecuted notebook downloaded to: {r.local_output}" if r.local_output else ""))
    return "\n".join(lines)
