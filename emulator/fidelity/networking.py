"""A Fargate task's network interface as ECS manages it.

moto 5.2.5 gives a task's ENI a random ``10.x`` address whatever the subnet, no public IP when
``assignPublicIp`` is ENABLED, and keeps the ENI ``in-use`` (its attachment ATTACHED) after the task stopped;
deleting a security group an ENI still uses succeeds. ECS allocates the address from the subnet, associates a
public IP when asked, deletes the ENI when the task is deprovisioned and shows the attachment DELETED
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-task-networking.html,
https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Attachment.html); EC2 refuses to delete a group
that a network interface uses with ``DependencyViolation``
(https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteSecurityGroup.html).
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("emulator.fidelity.networking")

#: The description moto's RunTask gives the ENI it creates (how the EC2 backend recognizes a task's ENI).
MOTO_TASK_ENI = "moto ECS"


class _Reserved:
    """What holds a subnet address while the ENI that gets it is being made."""


def subnet_address(subnet: Any) -> str:
    """The next free address of ``subnet`` (as EC2 allocates a primary private IP)."""
    return subnet.get_available_subnet_ip(_Reserved())


def _eni_id(task: Any) -> str | None:
    for attachment in task.attachments or []:
        for detail in attachment.get("details", []):
            if detail["name"] == "networkInterfaceId":
                return detail["value"]
    return None


def _ec2(task: Any) -> Any:
    from moto.ec2 import ec2_backends

    return ec2_backends[task._account_id][task.region_name]


def attached(task: Any, networking: dict | None) -> None:
    """Right after RunTask made the task's ENI: ECS's description, requester-managed, a public IP when asked."""
    from moto.ec2.utils import random_public_ip

    eni_id = _eni_id(task)
    if eni_id is None:
        return
    eni = _ec2(task).get_network_interface(eni_id)
    attachment = task.attachments[0]
    eni.description = f"arn:aws:ecs:{task.region_name}:{task._account_id}:attachment/{attachment['id']}"
    eni.requester_managed = True
    config = (networking or {}).get("awsvpcConfiguration") or {}
    if str(config.get("assignPublicIp", "DISABLED")).upper() == "ENABLED":
        eni.public_ip = random_public_ip()


def released(task: Any) -> None:
    """The task was deprovisioned: its ENI and its address are gone, its attachment DELETED."""
    eni_id = _eni_id(task)
    if eni_id is None:
        return
    ec2 = _ec2(task)
    eni = ec2.enis.get(eni_id)
    if eni is not None:
        eni.subnet.del_subnet_ip(eni.private_ip_address)
        ec2.delete_network_interface(eni_id)
    task.attachments[0]["status"] = "DELETED"


def sync_tasks() -> None:
    """Bring every live task up to date (a task's state, and so its ENI's release, advances when it is read)."""
    from emulator.fidelity import ecs

    ecs._sync_live()


def group_in_use(ec2: Any, group_id: str) -> str | None:
    """The id of a network interface that uses security group ``group_id``, or None."""
    for eni in list(ec2.enis.values()):
        if any(group.id == group_id for group in eni.group_set):
            return eni.id
    return None
