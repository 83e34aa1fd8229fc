"""``python -m helpers.local serve|start|stop|status|reset|credentials|rotate-credentials``.

``eval "$(python -m helpers.local credentials)"`` points the AWS CLI (or any boto3 tool) at the backend with
the installation's key; ``rotate-credentials`` replaces the key (reconnect open sessions afterwards).
"""

from __future__ import annotations

import argparse
import os
import sys

from helpers import local
from helpers.errors import LabError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.local", description="Manage the embedded AWS backend.")
    parser.add_argument("command", choices=["serve", "start", "stop", "status", "reset", "credentials",
                                                 "rotate-credentials"])
    parser.add_argument("--port", type=int, default=None, help=f"default: ${local.PORT_ENV} or {local.DEFAULT_PORT}")
    parser.add_argument("--faults", default=None, help="fault injection, e.g. 'throttle=0.3,error=0.05,slow=0.1' "
                        "(default: $FARGATE_LAB_FAULTS; see emulator/faults.py)")
    parser.add_argument("--runtime", choices=["auto", "docker", "simulated"], default=None,
                        help="how tasks run: on the Docker engine, simulated, or auto (Docker when one answers); "
                             "default: $FARGATE_LAB_RUNTIME or auto")
    args = parser.parse_args(argv)
    runtime = args.runtime or os.environ.get("FARGATE_LAB_RUNTIME", "auto")
    try:
        port = args.port or local.port()
        if args.command == "serve":
            command = [sys.executable, "-m", "emulator", "serve", "--port", str(port), "--runtime", runtime]
            if args.faults:
                command += ["--faults", args.faults]
            os.chdir(local.PROJECT_ROOT)
            os.execv(sys.executable, command)  # the emulator is its own program: this process becomes it
        elif args.command == "start":
            info = local.start(port, faults=args.faults, runtime=runtime)
            print(info.url)
        elif args.command == "stop":
            print("stopped" if local.stop(port) else f"not running on port {port}")
        elif args.command == "status":
            info = local.status(port)
            if not info:
                print(f"not running on port {port}")
                return 3
            print(info.url)
            print(f"pid {info.pid}, docker engine: {'yes' if info.docker else 'no (tasks are simulated)'}")
        elif args.command == "reset":
            local.reset(port)
            print("reset")
        elif args.command == "credentials":
            print("\n".join(local.shell_lines(port)))
        elif args.command == "rotate-credentials":
            path = local.rotate_credentials()
            print(f"new key in {path}; the old one is refused from now on. Reconnect open sessions "
                  "(helpers.connect) and run: eval \"$(python -m helpers.local credentials)\"")
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
