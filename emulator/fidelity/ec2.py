"""EC2 as AWS answers: a security group name is taken once per VPC; groups in use are not deleted; a task's ENI
gets an address of its subnet.

moto looks for a group of the same name and then creates one, so two requests at the same moment (two notebooks
preparing their network) both succeed and leave two groups of one name, which AWS never does: the second gets
``InvalidGroup.Duplicate``. The look and the create happen under one lock here. DeleteSecurityGroup of a group a
network interface uses is EC2's ``DependencyViolation``; the ENI moto's RunTask makes gets the subnet's next free
address instead of a random one (``emulator.fidelity.networking``).
"""

from __future__ import annotations

import threading
from typing import Any

from moto.ec2.models import EC2Backend

_CREATE = threading.Lock()


class AtomicSecurityGroupsBackend(EC2Backend):
    """moto's EC2 backend whose CreateSecurityGroup checks and creates in one step."""

    def create_security_group(self, *args: Any, **kwargs: Any) -> Any:
        with _CREATE:
            return super().create_security_group(*args, **kwargs)

    def delete_security_group(self, name: str | None = None, group_id: str | None = None) -> None:
        from moto.ec2.exceptions import DependencyViolationError

        from emulator.fidelity import networking

        networking.sync_tasks()  # a task that stopped since the last read releases its ENI first
        group = self.get_security_group_by_name_or_id(group_id or name)
        if group is not None and networking.group_in_use(self, group.id):
            raise DependencyViolationError(f"resource {group.id} has a dependent object")
        return super().delete_security_group(name, group_id)

    def get_all_network_interfaces(self, *args: Any, **kwargs: Any) -> Any:
        from emulator.fidelity import networking

        networking.sync_tasks()  # DescribeNetworkInterfaces shows no ENI of a task that has stopped
        return super().get_all_network_interfaces(*args, **kwargs)

    def create_network_interface(self, subnet: Any, private_ip_address: Any, *args: Any, **kwargs: Any) -> Any:
        from emulator.fidelity import networking

        if kwargs.get("description") == networking.MOTO_TASK_ENI:
            subnet = self.get_subnet(subnet) if isinstance(subnet, str) else subnet
            private_ip_address = networking.subnet_address(subnet)
        return super().create_network_interface(subnet, private_ip_address, *args, **kwargs)
