"""The members ECS and ECR always answer with, which moto 5.2.5 leaves out.

- A task (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Task.html): ``healthStatus`` (from its
  essential containers' health, UNKNOWN without health checks), ``attributes`` (``ecs.cpu-architecture``) and, on
  Fargate platform 1.4.0, ``fargateEphemeralStorage`` beside ``ephemeralStorage``.
- A container (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Container.html): ``imageDigest`` once
  its image is pulled (known here for images of the embedded ECR), and ``reason`` when the image could not be
  pulled (``CannotPullContainerError: ...``, as the task's ``stoppedReason``).
- A task definition (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_TaskDefinition.html):
  ``registeredBy`` (the caller: the account's root, the identity of the lab's key) and ``requiresAttributes``,
  the capabilities its features need, named as in the developer guide's attribute list
  (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-placement-constraints.html#attributes).
- A service (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Service.html): ``createdBy`` and
  ``enableExecuteCommand``.
- An ECR image (https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_ImageDetail.html):
  ``artifactMediaType`` (its config's media type) and ``lastRecordedPullTime`` (the last pull through the
  registry, BatchGetImage or a task's start).
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import Any

from emulator import clock

#: The digest each container's image will have once pulled, by container ARN (images of the embedded ECR).
_digests: dict[str, str] = {}
#: The last pull of each image, by (registry id, repository name, image digest).
_pulls: dict[tuple[str, str, str], datetime] = {}
_lock = threading.Lock()

#: (feature test on a container definition, the attributes it requires), in AWS's naming.
_CONTAINER_NEEDS = (
    (lambda c: (c.get("logConfiguration") or {}).get("logDriver") == "awslogs",
     ("com.amazonaws.ecs.capability.logging-driver.awslogs", "com.amazonaws.ecs.capability.docker-remote-api.1.19")),
    (lambda c: bool(c.get("healthCheck")),
     ("ecs.capability.container-health-check", "com.amazonaws.ecs.capability.docker-remote-api.1.24")),
    (lambda c: any(":ssm:" in s.get("valueFrom", "") or not s.get("valueFrom", "").startswith("arn:")
                   for s in c.get("secrets") or []), ("ecs.capability.secrets.ssm.environment-variables",)),
    (lambda c: any(":secretsmanager:" in s.get("valueFrom", "") for s in c.get("secrets") or []),
     ("ecs.capability.secrets.asm.environment-variables",)),
    (lambda c: bool(c.get("environmentFiles")), ("ecs.capability.env-files.s3",)),
    (lambda c: bool(c.get("dependsOn")), ("ecs.capability.container-ordering",)),
)


def _private_ecr(image: str) -> bool:
    from emulator.fidelity import ecr

    host = image.partition("/")[0]
    return host == ecr.registry_host() or ".dkr.ecr." in host


def required_attributes(containers: list[dict], network_mode: str | None, task_role: str | None,
                        execution_role: str | None) -> list[dict]:
    """``requiresAttributes`` of a task definition: what its features need, each named once, in a stable order."""
    names: list[str] = ["com.amazonaws.ecs.capability.docker-remote-api.1.18"]
    if network_mode == "awsvpc":
        names.append("ecs.capability.task-eni")
    if task_role:
        names.append("com.amazonaws.ecs.capability.task-iam-role")
    for container in containers:
        for needs, attributes in _CONTAINER_NEEDS:
            if needs(container):
                names.extend(attributes)
        if _private_ecr(container.get("image") or ""):
            names.append("com.amazonaws.ecs.capability.ecr-auth")
            if execution_role:
                names.append("ecs.capability.execution-role-ecr-pull")
        if execution_role and (container.get("logConfiguration") or {}).get("logDriver") == "awslogs":
            names.append("ecs.capability.execution-role-awslogs")
    return [{"name": name} for name in dict.fromkeys(names)]


def caller_arn(account_id: str) -> str:
    """Who made a call with the lab's key: the account's root (the key is the account's own)."""
    return f"arn:aws:iam::{account_id}:root"


def registered(td: Any, account_id: str) -> None:
    """Set what RegisterTaskDefinition's answer adds to a new revision."""
    td.registered_by = caller_arn(account_id)
    td.requires_attributes = required_attributes(td.container_definitions or [], td.network_mode,
                                                 getattr(td, "task_role_arn", None),
                                                 getattr(td, "execution_role_arn", None))


def created_service(service: Any, account_id: str, enable_execute_command: bool | None) -> None:
    service.created_by = caller_arn(account_id)
    service.enable_execute_command = bool(enable_execute_command)


def new_task(task: Any, td: Any, ephemeral_gib: int) -> None:
    """The members a task has from RunTask on: health, attributes, Fargate's ephemeral storage."""
    arch = ((td.runtime_platform or {}).get("cpuArchitecture") or "X86_64").lower()
    task.health_status = "UNKNOWN"
    task.attributes = [{"name": "ecs.cpu-architecture", "value": arch}]
    task.fargate_ephemeral_storage = {"sizeInGiB": ephemeral_gib}
    for container in task.containers:
        container.image_digest = None
        digest = _embedded_digest(container.image or "")
        if digest:
            with _lock:
                _digests[container.container_arn] = digest


def _embedded_digest(image: str) -> str | None:
    """The digest of ``image`` when it names an image of the embedded ECR (None otherwise or when missing)."""
    from emulator.fidelity import ecr
    from emulator.fidelity.ecs import resolve_image

    try:
        resolved = resolve_image(image)
    except LookupError:
        return None
    host, _, rest = resolved.partition("/")
    if host != ecr.registry_host() or not rest:
        return None
    name, reference = rest.split("@", 1) if "@" in rest else rest.rsplit(":", 1)
    repository = ecr.find_repository(name)
    found = ecr.find_image(repository, reference) if repository is not None else None
    if found is None:
        return None
    pulled(repository.registry_id, repository.name, found.get_image_digest())
    return found.get_image_digest()


def synced(task: Any, failed_reason: str | None) -> None:
    """After a task's state was copied: its health, its containers' digests once pulled, a pull failure's reason."""
    health = {c.health_status for c in task.containers}
    task.health_status = ("UNHEALTHY" if "UNHEALTHY" in health else
                          "HEALTHY" if health == {"HEALTHY"} else "UNKNOWN")
    for container in task.containers:
        if task.pull_stopped_at is not None and container.container_arn in _digests:
            container.image_digest = _digests[container.container_arn]
        if failed_reason and failed_reason.startswith("CannotPullContainerError"):
            container.reason = failed_reason


def pulled(registry_id: str, repository: str, digest: str) -> None:
    """Record a pull of an image (the registry's manifest GET, BatchGetImage, a task's start)."""
    with _lock:
        _pulls[(registry_id, repository, digest)] = clock.now()


def last_pull(image: Any) -> datetime | None:
    """``lastRecordedPullTime`` of an ECR image: its last recorded pull, None if never pulled."""
    with _lock:
        return _pulls.get((image.registry_id, image.repository_name, image.get_image_digest()))


def artifact_media_type(image: Any) -> str | None:
    """``artifactMediaType`` of an ECR image: its config's media type (an index has none)."""
    try:
        return (json.loads(image.image_manifest).get("config") or {}).get("mediaType")
    except (TypeError, ValueError):
        return None


def forget() -> None:
    with _lock:
        _pulls.clear()
        _digests.clear()
