"""Temporary credentials of a task's role (``taskRoleArn``), which the backend's signature check accepts.

Issued through the embedded STS (moto's ``assume_role``), so ``GetCallerIdentity`` with them answers the
assumed role (``arn:aws:sts::ACCOUNT:assumed-role/ROLE/TASK_ID``). They expire on the emulator's clock: a request
signed with an expired one gets AWS's ``ExpiredToken`` error; the credentials endpoint hands out a new set before
the old one runs out (botocore refreshes 15 minutes before ``Expiration``), and a set stays valid until it
expires even after its task stopped, as on AWS.
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-iam-roles.html
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from emulator import clock
from emulator.credentials import AccessKey

#: How long one set of a task role's credentials lasts (Fargate's are valid for hours and rotated before expiry).
LIFETIME = timedelta(hours=6)
#: A new set is handed out once the current one has less than this left.
REFRESH_BEFORE = timedelta(minutes=30)


@dataclass(frozen=True)
class TaskCredential:
    key: AccessKey
    token: str
    expiration: datetime
    role_arn: str

    def document(self) -> dict[str, str]:
        """The credentials endpoint's answer (the shape botocore's ContainerProvider reads)."""
        return {"RoleArn": self.role_arn, "AccessKeyId": self.key.access_key_id,
                "SecretAccessKey": self.key.secret_access_key, "Token": self.token,
                "Expiration": self.expiration.strftime("%Y-%m-%dT%H:%M:%SZ")}


_lock = threading.Lock()
_by_key: dict[str, TaskCredential] = {}
_current: dict[str, TaskCredential] = {}  # task id -> the set its endpoint hands out now


def for_task(task_id: str, role_arn: str, account_id: str, region: str) -> TaskCredential:
    """The set the task's credentials endpoint answers now: a new one when the last is about to expire."""
    now = clock.now()
    with _lock:
        current = _current.get(task_id)
        if current is not None and current.expiration - now > REFRESH_BEFORE:
            return current
        credential = _issue(task_id, role_arn, account_id, region, now)
        _current[task_id] = _by_key[credential.key.access_key_id] = credential
        for key_id in [k for k, c in _by_key.items() if c.expiration <= now]:
            del _by_key[key_id]
        return credential


def _issue(task_id: str, role_arn: str, account_id: str, region: str, now: datetime) -> TaskCredential:
    from moto.sts.models import sts_backends
    from moto.utilities.utils import get_partition

    backend = sts_backends[account_id][get_partition(region)]
    assumed = backend.assume_role(region_name=region, role_session_name=task_id, role_arn=role_arn, policy="",
                                  duration=int(LIFETIME.total_seconds()), external_id="")
    return TaskCredential(AccessKey(assumed.access_key_id, assumed.secret_access_key), assumed.session_token,
                          now + LIFETIME, role_arn)


def lookup(access_key_id: str) -> TaskCredential | None:
    with _lock:
        return _by_key.get(access_key_id)


def expired(credential: TaskCredential) -> bool:
    return clock.now() >= credential.expiration


def forget_task(task_id: str) -> None:
    """The task stopped: its endpoint hands out nothing more (issued sets stay valid until they expire)."""
    with _lock:
        _current.pop(task_id, None)


def reset() -> None:
    with _lock:
        _by_key.clear()
        _current.clear()
