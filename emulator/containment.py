"""Containers stay contained, as on Fargate: what a task definition may ask for, and what a container gets.

Fargate runs no privileged container, shares no host namespace (network, PID, IPC), mounts no host path and
adds no capability but ``SYS_PTRACE`` to Docker's default set. The embedded backend drives the learner's Docker
engine, which is root, so it holds the same line twice: RegisterTaskDefinition refuses such a Fargate task
definition with ECS's ClientException (``registration_problem``), and the Docker runtime checks every
container's create arguments before the engine sees them (``check_create``), whatever the task definition's
compatibilities. Ports are published on 127.0.0.1 only. The ipcMode and pidMode messages are ECS's own; the
others say the same in ECS's style (AWS does not document their exact wording).
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-security-considerations.html
https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_KernelCapabilities.html
"""

from __future__ import annotations

from typing import Any

from emulator.errors import EmulatorError

#: The only capability a Fargate task may add to Docker's default set.
FARGATE_ADDABLE_CAPABILITIES = frozenset({"SYS_PTRACE"})
LOOPBACK = "127.0.0.1"
#: Docker create arguments the runtime never passes (a host resource or a way around the container's walls).
FORBIDDEN_CREATE_ARGS = ("privileged", "volumes", "mounts", "devices", "device_requests", "pid_mode", "ipc_mode",
                         "uts_mode", "userns_mode", "cgroupns", "security_opt", "volumes_from", "sysctls",
                         "cgroup_parent", "device_cgroup_rules", "runtime", "extra_hosts", "links")


class NotContained(EmulatorError):
    """A container would get more of the host than a Fargate task ever does."""


def _capabilities(definition: dict) -> list[str]:
    linux = definition.get("linuxParameters") or {}
    return [str(c).upper() for c in ((linux.get("capabilities") or {}).get("add") or [])]


def registration_problem(container_definitions: list[dict], volumes: list[dict] | None, ipc_mode: str | None,
                         pid_mode: str | None) -> str | None:
    """ECS's ClientException message for a Fargate task definition that asks for the host, or None."""
    if ipc_mode:
        return "Tasks using the Fargate launch type do not support ipcMode."
    if pid_mode and pid_mode != "task":
        return (f"Tasks using the Fargate launch type do not support pidMode '{pid_mode}'. "
                "The supported value for pidMode is 'task'.")
    for volume in volumes or []:
        if (volume.get("host") or {}).get("sourcePath"):
            return (f"Fargate compatible task definitions do not support sourcePath in host volumes "
                    f"(volume '{volume.get('name')}'); a volume without a host path is a task-local bind mount.")
        if volume.get("dockerVolumeConfiguration"):
            return (f"Fargate compatible task definitions do not support dockerVolumeConfiguration "
                    f"(volume '{volume.get('name')}').")
    for definition in container_definitions or []:
        name = definition.get("name")
        if definition.get("privileged"):
            return f"Fargate compatible task definitions do not support privileged containers (container '{name}')."
        extra = [c for c in _capabilities(definition) if c not in FARGATE_ADDABLE_CAPABILITIES]
        if extra:
            return (f"Fargate compatible task definitions only support adding the SYS_PTRACE kernel capability; "
                    f"container '{name}' adds {', '.join(extra)}.")
        linux = definition.get("linuxParameters") or {}
        if linux.get("devices"):
            return f"Fargate compatible task definitions do not support devices (container '{name}')."
        if definition.get("dockerSecurityOptions"):
            return f"Fargate compatible task definitions do not support dockerSecurityOptions (container '{name}')."
    return None


def capability_args(definition: dict) -> dict[str, Any]:
    """Docker's ``cap_add``/``cap_drop`` for a container: drops as asked, adds only what Fargate allows."""
    linux = definition.get("linuxParameters") or {}
    capabilities = linux.get("capabilities") or {}
    args: dict[str, Any] = {}
    added = [c for c in _capabilities(definition) if c in FARGATE_ADDABLE_CAPABILITIES]
    if added:
        args["cap_add"] = added
    dropped = [str(c).upper() for c in capabilities.get("drop") or []]
    if dropped:
        args["cap_drop"] = dropped
    return args


def check_create(name: str, kwargs: dict[str, Any], own_volumes: frozenset[str] = frozenset(),
                 own_containers: frozenset[str] = frozenset()) -> None:
    """Raise NotContained unless ``kwargs`` (for docker's ``containers.create``) keep the container contained.

    Mounts may only be the task's own Docker volumes (``own_volumes``), never a host path; ``volumes_from`` only
    names the task's own containers (``own_containers``, Docker ids).
    """
    from emulator.task_endpoint import NETWORK

    checked = dict(kwargs)
    for mount in checked.pop("mounts", None) or []:
        if not isinstance(mount, dict) or mount.get("Type") != "volume" or mount.get("Source") not in own_volumes:
            raise NotContained(f"container {name!r} would mount {mount!r}: only the task's own volumes")
    for source in checked.pop("volumes_from", None) or []:
        if str(source).split(":")[0] not in own_containers:
            raise NotContained(f"container {name!r} would take volumes from {source!r}: only its task's containers")
    for key in FORBIDDEN_CREATE_ARGS:
        if checked.get(key) not in (None, False, [], {}):
            raise NotContained(f"container {name!r} would get {key}={kwargs[key]!r}: Fargate never gives that")
    network = kwargs.get("network_mode")
    if network is not None and not str(network).startswith("container:") and network not in ("bridge", "none",
                                                                                             NETWORK):
        raise NotContained(f"container {name!r} would join network {network!r}: only its task's own namespace")
    extra = set(kwargs.get("cap_add") or []) - FARGATE_ADDABLE_CAPABILITIES
    if extra:
        raise NotContained(f"container {name!r} would add capabilities {sorted(extra)}: Fargate adds only SYS_PTRACE")
    for port, binding in (kwargs.get("ports") or {}).items():
        bindings = binding if isinstance(binding, list) else [binding]
        for one in bindings:
            if not (isinstance(one, tuple) and one and one[0] == LOOPBACK):
                raise NotContained(f"container {name!r} would publish {port} on {one!r}: only on {LOOPBACK}")
