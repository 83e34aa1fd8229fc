"""``python -m helpers run [NOTEBOOK ...] [-p NAME VALUE ...] [--backend local|aws] [--out DIR]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from helpers import runner
from helpers.errors import InvalidParameters


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
    args = parser.parse_args(argv)

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
