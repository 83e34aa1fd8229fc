"""Installs the fault injector (emulator.faults) when the server was started with faults."""

from __future__ import annotations

from emulator import hooks, settings
from emulator.faults import FaultInjector, parse_spec


class _ThroughTheServer:
    """Lets a "lost" fault process the request through everything after the injector (fixes, then moto)."""

    def __call__(self, environ: dict, start_response):  # noqa: ANN204 - a WSGI app
        environ[SKIP_KEY] = True
        return hooks.CONFIG["app"](environ, start_response)


SKIP_KEY = "fargate_lab.faults.done"


def middleware_for_settings():  # noqa: ANN201 - a WSGI middleware, or None
    """The fault injector as a middleware when the server was started with faults, else None."""
    spec = parse_spec(settings.current().faults)
    if not spec.active:
        return None
    injector = FaultInjector(spec, app=_ThroughTheServer())
    hooks.CONFIG["fault_counts"] = injector.counts

    def middleware(environ: dict, start_response):  # noqa: ANN202 - a WSGI middleware
        if environ.get(SKIP_KEY):
            return None
        return injector(environ, start_response)

    return middleware
