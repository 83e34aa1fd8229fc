"""The embedded backend's server process: moto's app, the suite's fidelity fixes, a control API.

Runs in its own process (``python -m emulator serve``). Everything here is
specific to the embedded backend; code that talks to AWS never imports it.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from emulator import (
    CLOCK_PATH,
    HEALTH_PATH,
    HOST,
    RESET_PATH,
    SERVER_NAME,
    access,
    clock,
    cur_export,
    extensions,
    hooks,
    persistence,
    settings,
    shapes,
    task_credentials,
    unsupported,
)
from emulator.settings import Settings

log = logging.getLogger("emulator.server")


class ControlApp:
    """WSGI middleware: answers ``/_lab/*`` itself and hands everything else to moto."""

    def __init__(self, moto_app: Callable, port: int) -> None:
        self.moto_app = moto_app
        self.port = port

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == HEALTH_PATH:
            return self._json(start_response, {
                "server": SERVER_NAME, "pid": os.getpid(), "port": self.port, "docker": hooks.docker_available(),
                "runtime": settings.current().runtime, "faults": settings.current().faults,
                "fault_counts": hooks.CONFIG.get("fault_counts", {}), "clock": clock.CLOCK.mode,
            })
        if path == RESET_PATH and environ.get("REQUEST_METHOD") == "POST":
            reset_all()
            return self._json(start_response, {"reset": True})
        if path == CLOCK_PATH:
            return self._clock(environ, start_response)
        for middleware in hooks.MIDDLEWARE:
            answer = middleware(environ, start_response)
            if answer is not None:
                return answer
        return self.moto_app(environ, start_response)

    def _clock(self, environ: dict[str, Any], start_response: Callable) -> list[bytes]:
        """``GET`` tells the clock's mode and moment; ``POST {"mode": ..., "advance_seconds": N}`` changes it."""
        if environ.get("REQUEST_METHOD") == "POST":
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
                body = json.loads(environ["wsgi.input"].read(length) or b"{}") if length else {}
                if not isinstance(body, dict):
                    raise clock.ClockError("the body must be a JSON object")
                unknown = set(body) - {"mode", "advance_seconds"}
                if unknown:
                    raise clock.ClockError(f"unknown field(s) {sorted(unknown)}: use mode and advance_seconds")
                if "mode" in body:
                    clock.CLOCK.set_mode(body["mode"])
                if "advance_seconds" in body:
                    clock.CLOCK.advance(body["advance_seconds"])
            except (ValueError, TypeError) as error:  # ClockError, bad JSON, a non-number
                return self._json(start_response, {"error": str(error)}, "400 Bad Request")
        return self._json(start_response, clock.CLOCK.describe())

    @staticmethod
    def _json(start_response: Callable, body: dict, status: str = "200 OK") -> list[bytes]:
        data = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]


def reset_all() -> None:
    """Run the suite's reset hooks (containers first), then moto's own reset, and forget the saved state; the
    clock is real time again (a reset backend is as a fresh one: a test's advanced clock is not the next test's)."""
    from moto.moto_api._internal import moto_api_backend

    def forget() -> None:
        hooks.run(hooks.ON_RESET)
        moto_api_backend.reset()
        clock.CLOCK.back_to_real_time()  # a test that froze or advanced the clock leaves the next one real time

    persistence.reset(forget)


def build_app(config: Settings) -> ControlApp:
    """The server's WSGI app for ``config`` (which becomes ``settings.current()``)."""
    extensions.check_moto_version()
    settings._current["settings"] = config
    os.environ.setdefault("MOTO_PORT", str(config.port))
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    extensions.install()
    hooks.ON_RESET.append(task_credentials.reset)
    cur_export.apply()  # the CUR 2.0 export of the emulator's task history (emulator/cur_export.py)
    # moto's dispatcher, with a 501 for a service it lacks (emulator/unsupported.py): the last layer before moto
    app = ControlApp(unsupported.UnsupportedServices(DomainDispatcherApplication(create_backend_app)), config.port)
    hooks.CONFIG["app"] = app  # lets a fix re-enter the whole chain (the faults' "lost" answers)
    persistence.start(config)  # what the state directory holds, loaded and reconciled (emulator/persistence.py)
    return app


def serve(config: Settings) -> None:
    """Serve until SIGTERM or SIGINT; on the way out, run the shutdown hooks (remove containers)."""
    from werkzeug.serving import make_server

    from emulator.request_log import LabRequestHandler

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = build_app(config)
    checked = shapes.wrap(persistence.wrap(app), config.check_shapes)  # answers against botocore's model, when asked
    gate = access.guard(checked, config.port, config.state_path(), config.ecr_registry)  # signed requests only
    hooks.CONFIG["gate"] = gate  # task containers reach it through emulator.task_endpoint (AWS_ENDPOINT_URL)
    server = make_server(HOST, config.port, gate, threaded=True, request_handler=LabRequestHandler)

    def shutdown(signum: int, frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    log.info("%s listening on http://%s:%d (pid %d)", SERVER_NAME, HOST, config.port, os.getpid())
    try:
        server.serve_forever()
    finally:
        hooks.run(hooks.ON_SHUTDOWN)
        log.info("stopped")
        sys.stdout.flush()
