"""EC2 as AWS answers concurrent callers: a security group name is taken once per VPC.

moto looks for a group of the same name and then creates one, so two requests at the same moment (two notebooks
preparing their network) both succeed and leave two groups of one name, which AWS never does: the second gets
``InvalidGroup.Duplicate``. The look and the create happen under one lock here.
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
