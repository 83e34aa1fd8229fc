"""How the emulator extends moto: which moto it was written for, and, in order, everything it installs at start.

Four kinds of seam, each a list below, installed once by ``install()`` in the order written:

- ``BACKENDS``: our subclass of a moto backend class takes its place in moto's ``BackendDict``, so every account
  and region gets an instance of ours (moto builds them from ``BackendDict.backend``). A subclass calls
  ``super()`` where moto's method is right and keeps the emulator's own state beside moto's objects, by ARN or id.
- ``MODELS``: our subclass of a moto model class takes its name in moto's models module, where moto's backend
  builds that model by name (an ECR image inside ``put_image``), so every such object is one of ours.
- ``RESPONSES``: our subclass of a moto responses class takes its place in moto's URL table (``urls.url_paths``),
  which moto's server reads when it first routes a request to the service.
- ``MIDDLEWARE``: WSGI layers in front of moto, tried in order before it (as the control API is): fault injection
  first, as the network would be, then the fast ECR upload path, ECS's request rules, paging, the embedded
  registry.

Then ``STARTUP`` runs (moto's own settings first: its ECS tasks' state transitions) and ``ON_RESET``/
``ON_SHUTDOWN`` are registered. Nothing else of moto is changed: no method of moto's is replaced.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable

from emulator.errors import EmulatorError

log = logging.getLogger("emulator.extensions")

#: The moto release every extension here was written against and tested with (pinned in requirements.txt and
#: in pyproject's ``local`` extra). Another release may have moved what the extensions subclass.
MOTO_VERSION = "5.2.5"

_installed: dict[str, bool] = {}


class WrongMotoVersion(EmulatorError):
    """moto is not the release the emulator was written for: its extensions could silently misbehave."""


def check_moto_version() -> None:
    """Refuse to start under another moto release, naming both."""
    import moto

    found = getattr(moto, "__version__", "unknown")
    if found != MOTO_VERSION:
        raise WrongMotoVersion(
            f"the emulator was written for moto {MOTO_VERSION}, but moto {found} is installed; install the pinned "
            f"release (pip install 'moto[server]=={MOTO_VERSION}', or pip install -r requirements.txt)")


def _backends() -> list[tuple[str, str, type]]:
    """(moto models module, its BackendDict, our subclass of its backend class), in installation order."""
    from emulator import elbv2
    from emulator.fidelity import ec2, ecr, ecs, iam_managed_policies, services

    return [
        ("moto.ecs.models", "ecs_backends", services.ServicesBackend),  # <- ecs.TasksBackend <- moto's
        ("moto.ecr.models", "ecr_backends", ecr.EcrBackend),
        ("moto.logs.models", "logs_backends", ecs.SyncedLogsBackend),
        ("moto.iam.models", "iam_backends", iam_managed_policies.ManagedPoliciesBackend),
        ("moto.ec2.models", "ec2_backends", ec2.AtomicSecurityGroupsBackend),
        ("moto.elbv2.models", "elbv2_backends", elbv2.Elbv2Backend),  # listeners that serve, real health checks
    ]


def _responses() -> list[tuple[str, type]]:
    """(moto urls module, our subclass of the responses class its URL table dispatches to), in order."""
    from emulator.fidelity import ecr, omitted_members, services

    return [
        ("moto.ecs.urls", services.ServicesResponse),  # <- ecs.TasksResponse <- moto's
        ("moto.ecr.urls", ecr.EcrResponse),
        ("moto.secretsmanager.urls", omitted_members.SecretsResponse),  # members AWS omits, not null
        ("moto.events.urls", omitted_members.EventsResponse),
        ("moto.logs.urls", omitted_members.LogsAnswers),
    ]


def _middleware() -> list[Callable | None]:
    """WSGI layers before moto, in the order they see a request (None: not configured)."""
    from emulator import elbv2
    from emulator.fidelity import ecr, faults, paging, registry

    return [faults.middleware_for_settings(), ecr.upload_layer_part_fast, *paging.layers(), registry.middleware,
            elbv2.listeners_middleware]


def _models() -> list[tuple[str, str, type]]:
    """(moto models module, the model class it builds by name, our subclass of it), in installation order."""
    from emulator.fidelity import ecr

    return [("moto.ecr.models", "Image", ecr.LabImage)]


def _lifecycle() -> tuple[list[Callable[[], None]], list[Callable[[], None]], list[Callable[[], None]]]:
    """(at start, at reset, at shutdown), each in the order it runs."""
    from emulator import ecs_events, elbv2, persistence, settings
    from emulator.docker_runtime import sweep_leftovers_in_background
    from emulator.fidelity import ecr, ecs, ecs_fields, services

    # At shutdown the state is written first (the rest clears it); the blob store stays when it is kept.
    kept = settings.current().persist
    return ([ecs.hold_task_states, sweep_leftovers_in_background, elbv2.start],
            [services._reset, ecs._reset, ecr.forget_blobs, ecs_fields.forget, ecs_events.VERSIONS.clear,
             elbv2.stop_all],  # the scheduler first: nothing new starts after it
            [persistence.shutdown, services._shutdown, ecs._shutdown, *([] if kept else [ecr.forget_blobs]),
             elbv2.CHECKER.stop, elbv2.stop_all])


def _install_backend(module_name: str, dict_name: str, ours: type) -> None:
    backend_dict = getattr(importlib.import_module(module_name), dict_name)
    theirs = backend_dict.backend
    if not issubclass(ours, theirs):
        raise TypeError(f"{ours.__name__} does not extend {module_name}.{theirs.__name__}")
    urls = importlib.import_module(theirs.__module__.rsplit(".", 1)[0] + ".urls")
    # moto finds a backend's URL table from the class's module name; ours lives elsewhere, so it says where.
    ours._url_module = property(lambda self: urls)
    backend_dict.backend = ours
    backend_dict.clear()  # nothing built yet at start; from now on every account and region is built from ours


def _install_model(module_name: str, class_name: str, ours: type) -> None:
    module = importlib.import_module(module_name)
    theirs = getattr(module, class_name)
    if not issubclass(ours, theirs):
        raise TypeError(f"{ours.__name__} does not extend {module_name}.{class_name}")
    setattr(module, class_name, ours)


def _install_response(module_name: str, ours: type) -> None:
    urls = importlib.import_module(module_name)
    for path, handler in list(urls.url_paths.items()):
        owner = getattr(handler, "__self__", None)
        if isinstance(owner, type) and issubclass(ours, owner):
            urls.url_paths[path] = ours.dispatch


def install() -> None:
    """Check moto, then install every extension once, in the order of the lists above."""
    from emulator import hooks

    if _installed.get("done"):
        return
    check_moto_version()
    for module_name, dict_name, ours in _backends():
        _install_backend(module_name, dict_name, ours)
        log.info("installed %s for %s.%s", ours.__name__, module_name, dict_name)
    for module_name, class_name, ours in _models():
        _install_model(module_name, class_name, ours)
        log.info("installed %s for %s.%s", ours.__name__, module_name, class_name)
    for module_name, ours in _responses():
        _install_response(module_name, ours)
        log.info("installed %s for %s", ours.__name__, module_name)
    hooks.MIDDLEWARE[:0] = [m for m in _middleware() if m is not None]
    start, reset, shutdown = _lifecycle()
    hooks.ON_RESET[:0] = reset
    hooks.ON_SHUTDOWN[:0] = shutdown
    for step in start:
        step()
    _installed["done"] = True
