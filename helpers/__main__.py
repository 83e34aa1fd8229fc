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
    if parameters.get("backend", "local") == "local":
        from helpers import local

        info = local.start()
        print(f"embedded backend: {info.url}")
    results = runner.run_notebooks(notebooks, parameters, args.out, progress=args.progress)
    print(runner.summary_table(results))
    return 1 if any(r.status == "failed" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
