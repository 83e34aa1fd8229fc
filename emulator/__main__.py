"""``python -m emulator serve --port PORT [--faults SPEC] [--runtime auto|docker|simulated]``.

``python -m emulator check-faults SPEC`` exits 0 for a valid fault spec, else 2 with what would be valid: the
client's launcher asks it before it starts a detached server.

``python -m emulator credentials [--rotate]`` creates the installation's access key in the state directory when
missing (``--rotate``: replaces it) and prints the file's path, never the key.
"""

from __future__ import annotations

import argparse
import sys

from emulator.errors import EmulatorError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulator", description="The embedded AWS backend's server.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="serve in the foreground until SIGTERM or SIGINT")
    serve_parser.add_argument("--port", type=int, required=True)
    serve_parser.add_argument("--faults", default=None, help="fault injection spec (see emulator/faults.py); "
                              "default: $FARGATE_LAB_FAULTS")
    serve_parser.add_argument("--runtime", choices=["auto", "docker", "simulated"], default=None,
                              help="default: $FARGATE_LAB_RUNTIME or auto")
    check_parser = commands.add_parser("check-faults", help="validate a fault injection spec")
    check_parser.add_argument("spec")
    keys_parser = commands.add_parser("credentials", help="create (or --rotate) the installation's access key")
    keys_parser.add_argument("--rotate", action="store_true", help="replace the key: the old one stops working")
    args = parser.parse_args(argv)
    from emulator.faults import parse_spec

    try:
        if args.command == "check-faults":
            parse_spec(args.spec)
            return 0
        from emulator import settings

        if args.command == "credentials":
            from emulator import credentials

            state = settings.Settings.from_environment().state_path()
            (credentials.rotate if args.rotate else credentials.ensure)(state)
            print(credentials.path(state))
            return 0
        from emulator.server import serve

        configured = settings.configure(port=args.port, faults=args.faults, runtime=args.runtime)
        parse_spec(configured.faults)
        serve(configured)
    except EmulatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
