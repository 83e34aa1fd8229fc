"""``python -m helpers run [NOTEBOOK ...] [-p NAME VALUE ...] [--backend local|aws] [--out DIR]``.

``--on fargate [--matrix FILE] [--parallel N] [--bucket NAME] [--image REF]`` runs each notebook with each
parameter set as its own Fargate task instead (helpers.runbooks.run_on_fargate); ``--on local`` is the default.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from helpers import runner
from helpers.errors import FleetStopped, InvalidParameter, InvalidParameters, MissingPrerequisite

RUNNER_IMAGE_ENV = "FARGATE_LAB_RUNNER_IMAGE"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute notebooks headlessly with papermill, in order")
    run.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook in notebooks/, in order")
    run.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                     help="passed to each notebook that declares NAME (YAML value: 512, true, [a, b])")
    run.add_argument("--backend", choices=["local", "aws"], default=None, help="sets the backend parameter")
    run.add_argument("--out", type=Path, default=None, help="output folder (default: runs/<UTC timestamp>)")
    run.add_argument("--progress", action="store_true", help="show papermill's per-cell progress bar")
    run.add_argument("--on", choices=["local", "fargate"], default="local",
                     help="local: papermill here, in order (default); fargate: one Fargate task per notebook and "
                          "parameter set")
    run.add_argument("--matrix", type=Path, default=None, help="fargate: a YAML list of parameter sets (mappings)")
    run.add_argument("--parallel", type=int, default=4, help="fargate: at most N tasks at once (default 4)")
    run.add_argument("--bucket", default=None,
                     help="fargate: the S3 bucket for the notebooks (default: fargate-lab-runbooks-ACCOUNT-REGION, "
                          "created tagged if missing)")
    run.add_argument("--create-bucket", action="store_true", help="fargate: create --bucket if it does not exist")
    run.add_argument("--create-task-role", action="store_true",
                     help="fargate: create the runner's task role if missing (needs IAM rights the lab policy lacks)")
    run.add_argument("--image", default=os.environ.get(RUNNER_IMAGE_ENV),
                     help=f"fargate: the runner image (python3, papermill, boto3; default ${RUNNER_IMAGE_ENV})")
    args = parser.parse_args(argv)
    if args.on == "fargate":
        return run_on_fargate(args)

    notebooks = args.notebooks or runner.default_notebooks()
    missing = [str(n) for n in notebooks if not Path(n).is_file()]
    if missing:
        print(f"error: no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    parameters = {name: runner.parse_value(value) for name, value in args.parameter}
    if args.backend:
        parameters["backend"] = args.backend
    try:
        runner.check_parameters(notebooks, parameters)
    except InvalidParameters as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    backend = parameters.get("backend", "local")
    url = None
    if backend == "local":
        from helpers import local

        url = local.start().url
        print(f"embedded backend: {url}")
    results = runner.run_notebooks(notebooks, parameters, args.out, progress=args.progress)
    print(runner.summary_table(results))
    print()
    print(runner.closing_summary(results[0].output.parent, backend, url, _still_running(backend, parameters)))
    return 1 if any(r.status == "failed" for r in results) else 0


def run_on_fargate(args: argparse.Namespace) -> int:
    """``--on fargate``: bad input exits 2 before anything is created; any failed notebook exits 1."""
    import yaml

    import helpers
    from helpers import runbooks

    notebooks = args.notebooks or runner.default_notebooks()
    parameters = {name: runner.parse_value(value) for name, value in args.parameter}
    try:
        matrix = yaml.safe_load(args.matrix.read_text()) if args.matrix else None
    except (OSError, yaml.YAMLError) as exc:
        print(f"error: the matrix file {args.matrix} cannot be read: {exc}", file=sys.stderr)
        return 2
    if not args.image:
        print(f"error: no runner image: pass --image REF or set {RUNNER_IMAGE_ENV} (.ci/runner-image builds one "
              "for the embedded backend)", file=sys.stderr)
        return 2
    try:
        runbooks.plan(notebooks, matrix, parameters)
        if args.bucket:
            runbooks.check_bucket(args.bucket)
        session = helpers.connect(backend=args.backend or "local")
        bucket = args.bucket or (f"fargate-lab-runbooks-{session.client('sts').get_caller_identity()['Account']}"
                                 f"-{session.region_name}")
        rows = runbooks.run_on_fargate(
            session, notebooks, matrix, parameters, parallel=args.parallel, bucket=bucket, image=args.image,
            create_bucket=args.create_bucket or not args.bucket, out_dir=args.out, progress=_say,
            create_task_role=args.create_task_role)
    except (InvalidParameter, InvalidParameters, MissingPrerequisite) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FleetStopped as exc:
        if exc.rows:
            print(runbooks.fleet_table(exc.rows))
        print(f"error: {exc}", file=sys.stderr)
        return 130 if isinstance(exc.__cause__, KeyboardInterrupt) else 1
    print(runbooks.fleet_table(rows))
    return 1 if any(r.status == "failed" for r in rows) else 0


def _say(line: str) -> None:
    """A status line as the tasks move: one line per change, stamped, nothing redrawn."""
    print(f"{datetime.now(UTC):%H:%M:%S} {line}", flush=True)


def _still_running(backend: str, parameters: dict) -> list | None:
    """What runs in the lab's regions after the run; None (said as such) when the backend cannot be read."""
    from botocore.exceptions import BotoCoreError, ClientError

    import helpers
    from helpers import local, still_running
    from helpers.cleanup import LAB_REGIONS
    from helpers.errors import LabError

    region = parameters.get("region") if isinstance(parameters.get("region"), str) else None
    try:
        session = helpers.connect(backend=backend, region=region or LAB_REGIONS[0])
        published = still_running.published_ports(local.port()) if backend == "local" else {}
        return still_running.everywhere(session, [session.region_name, *LAB_REGIONS], published)
    except (BotoCoreError, ClientError, LabError):
        return None


if __name__ == "__main__":
    sys.exit(main())
