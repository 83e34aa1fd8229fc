"""What the notebooks print for a learner: the few lines that matter, so their cells stay a call each."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from helpers import taskdef, tasks

Echo = Callable[[str], None]


def definition(td: Mapping[str, Any]) -> str:
    """A task definition in a few lines: family, size, platform, and per container its image, command and env."""
    platform = td.get("runtimePlatform") or {}
    lines = [f"family {td['family']}: cpu {td.get('cpu')} units, memory {td.get('memory')} MiB, "
             f"{platform.get('cpuArchitecture', 'X86_64')} {platform.get('operatingSystemFamily', 'LINUX')}, "
             f"network {td.get('networkMode')}, execution role {td.get('executionRoleArn') or '(none)'}"]
    for container in td.get("containerDefinitions", []):
        env = ", ".join(f"{e['name']}={e['value']}" for e in container.get("environment", [])) or "(none)"
        logs = (container.get("logConfiguration") or {}).get("options", {}).get("awslogs-group", "(no awslogs)")
        lines.append(f"  container {container['name']}: image {container['image']}")
        if "entryPoint" in container:
            lines.append(f"    entryPoint {container['entryPoint']}")
        lines.append(f"    command {container.get('command', 'the image default')}")
        lines.append(f"    environment {env}; logs to {logs}")
    return "\n".join(lines)


def register(session: Any, td: Mapping[str, Any], echo: Echo = print) -> taskdef.Registration:
    """Register ``td`` only when it changed, and say what happened: the diff only when a live revision exists."""
    live = taskdef.latest_active(session, td["family"])
    registration = taskdef.register(session, td)
    name = f"{registration.family}:{registration.revision}"
    if not registration.created:
        echo(f"No change from the latest ACTIVE revision: reusing {name}")
    elif live:
        echo(f"registered {name}; what changed from {registration.family}:{live['revision']}:\n{registration.diff}")
    else:
        echo(f"registered {name}, the family's first ACTIVE revision (nothing to compare with)")
    return registration


def task_logs(session: Any, cluster: str, task_arns: Sequence[str], results: Sequence[tasks.TaskResult],
              echo: Echo = print) -> None:
    """Each task's container logs, and a plain note when the embedded backend only simulated the tasks."""
    for arn in task_arns:
        for container, lines in tasks.task_logs(session, cluster, arn, printer=None).items():
            echo(f"--- {arn.rsplit('/', 1)[-1]} [{container}]")
            echo("\n".join(lines) or "(no log lines)")
    if tasks.simulated(results):
        echo("\nSIMULATED: the embedded backend has no container runtime here, so no container ran; each task went "
             "through ECS's lifecycle and 'exited' with code 0. On AWS, or with Docker, it really runs.")


def cost_per_day_by_kind(found: Any) -> Any:
    """A bar per kind of resource: what it costs per day while it exists (None when nothing was found)."""
    if not len(found):
        return None
    ax = found.groupby("kind")["cost_per_day_usd"].sum().plot.barh(title="USD per day while it exists")
    ax.set_xlabel("USD per day")
    return ax
