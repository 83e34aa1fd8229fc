"""AWS managed policies the suite attaches exist, as in every AWS account.

moto loads none unless MOTO_IAM_LOAD_MANAGED_POLICIES is set (and then all of them,
which is slow); ``ManagedPoliciesBackend`` loads the few the suite uses, in every IAM backend.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from moto.iam.models import AWSManagedPolicy, IAMBackend

#: The AWS managed policies the suite may attach (by name).
SUITE_POLICIES = ("AmazonECSTaskExecutionRolePolicy", "AmazonEC2ContainerRegistryReadOnly", "CloudWatchLogsFullAccess")


@lru_cache(maxsize=1)
def _policy_data() -> dict[str, Any]:
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    everything = json.loads(aws_managed_policies_data)
    return {name: everything[name] for name in SUITE_POLICIES if name in everything}


class ManagedPoliciesBackend(IAMBackend):
    """Every IAM backend starts with the AWS managed policies the suite attaches."""

    def _init_aws_policies(self) -> list:
        policies = super()._init_aws_policies()
        known = {p.name for p in policies}
        policies += [AWSManagedPolicy.from_data(name, self.account_id, self.region_name, data)
                     for name, data in _policy_data().items() if name not in known]
        return policies
