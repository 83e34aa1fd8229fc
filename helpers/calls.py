"""The IAM actions (``ecs:RunTask``) of the AWS API operations a run makes, for the least-privilege check.

Recording is an explicit opt-in, never on by itself: ``record_calls(session, path)`` for one session, or
``record_every_session(path)`` for every boto3 session a process creates from then on (the suite-run test installs
it in the runner and the notebooks' kernels). ``iam/fargate-lab-policy.json`` must grant exactly the actions such a
file holds after a full run (tests/test_suite_run.py checks it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import boto3

#: Where a service's IAM action prefix differs from its signing name.
_PREFIX = {"monitoring": "cloudwatch", "execute-api": "execute-api"}
#: Operations IAM authorises as another action (HeadBucket needs s3:ListBucket, HeadObject s3:GetObject).
#: S3's API names differ from its actions: https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html
_AUTHORISED_AS = {"s3:HeadBucket": "s3:ListBucket", "s3:HeadObject": "s3:GetObject",
                  "s3:ListBuckets": "s3:ListAllMyBuckets", "s3:ListObjectsV2": "s3:ListBucket",
                  "s3:ListObjectVersions": "s3:ListBucketVersions", "s3:DeleteObjects": "s3:DeleteObject"}
POLICY_PATH = Path(__file__).resolve().parent.parent / "iam" / "fargate-lab-policy.json"


def action_of(model: Any) -> str:
    """The IAM action of a botocore OperationModel: ``"ecs:RunTask"``."""
    service = model.service_model
    name = service.signing_name or service.endpoint_prefix
    action = f"{_PREFIX.get(name, name)}:{model.name}"
    return _AUTHORISED_AS.get(action, action)


def record_calls(session: boto3.Session, path: str | os.PathLike) -> None:
    """Append the IAM action of every call ``session``'s clients make to ``path`` (botocore's before-call event)."""
    session.events.register("before-call", _recorder(path), unique_id="fargate-lab-record-calls")


def record_every_session(path: str | os.PathLike) -> None:
    """Append the IAM action of every call to ``path``, from every boto3 session this process creates from now on
    (botocore registers its built-in handlers on each new session)."""
    import botocore.handlers

    botocore.handlers.BUILTIN_HANDLERS.append(("before-call", _recorder(path)))


def _recorder(path: str | os.PathLike) -> Any:
    target = os.fspath(path)

    def before_call(model: Any, **kwargs: Any) -> None:
        with open(target, "a", encoding="utf-8") as out:  # one short append per call: safe across processes
            out.write(action_of(model) + "\n")

    return before_call


def recorded_actions(path: str | os.PathLike) -> set[str]:
    """The distinct actions in a record file."""
    return {line.strip() for line in Path(path).read_text().splitlines() if line.strip()}


def policy_actions(path: str | os.PathLike = POLICY_PATH) -> set[str]:
    """Every action the policy document allows (no wildcards are expected in it)."""
    document = json.loads(Path(path).read_text())
    actions: set[str] = set()
    for statement in document["Statement"]:
        if statement.get("Effect") != "Allow":
            continue
        granted = statement.get("Action", [])
        actions.update([granted] if isinstance(granted, str) else granted)
    return actions


def compare(recorded: Iterable[str], granted: Iterable[str]) -> tuple[set[str], set[str]]:
    """(actions made but not granted, actions granted but never made)."""
    recorded, granted = set(recorded), set(granted)
    return recorded - granted, granted - recorded


#: Actions authorised without a call of their own, and the calls that need them: tagging at creation
#: (the create call is authorised for the tag action too) and handing a role to ECS.
IMPLIED_BY: dict[str, set[str]] = {
    "ecr:TagResource": {"ecr:CreateRepository"},
    "ecs:TagResource": {"ecs:CreateCluster", "ecs:RegisterTaskDefinition", "ecs:RunTask", "ecs:CreateService"},
    "logs:TagResource": {"logs:CreateLogGroup"},
    "iam:TagRole": {"iam:CreateRole"},
    "ec2:CreateTags": {"ec2:CreateSecurityGroup"},
    "secretsmanager:TagResource": {"secretsmanager:CreateSecret"},
    "iam:PassRole": {"ecs:RegisterTaskDefinition", "ecs:RunTask", "ecs:CreateService"},
    # Athena reads the table's metadata and data, and writes the results, with the caller's permissions.
    "glue:GetDatabase": {"athena:StartQueryExecution"},
    "glue:GetTable": {"athena:StartQueryExecution"},
    "glue:GetPartitions": {"athena:StartQueryExecution"},
    "s3:GetBucketLocation": {"athena:StartQueryExecution"},
    "s3:ListBucket": {"athena:StartQueryExecution"},
    "s3:GetObject": {"athena:StartQueryExecution", "athena:GetQueryResults"},
    "s3:PutObject": {"athena:StartQueryExecution"},
    "s3:AbortMultipartUpload": {"athena:StartQueryExecution", "athena:StopQueryExecution"},
    "s3:ListMultipartUploadParts": {"athena:StartQueryExecution"},
    "s3:ListBucketMultipartUploads": {"athena:StartQueryExecution"},
    # DeleteObjects naming a version is authorised as s3:DeleteObjectVersion for that key.
    "s3:DeleteObjectVersion": {"s3:DeleteObject"},
}
#: Statements (Sid starting so) of what only runs on AWS: CUR 2.0 queries with Athena. On the embedded backend
#: DuckDB answers them, so a suite run never makes these calls; tests/test_iam_policy.py records the Athena path's.
ON_AWS = "OnAws"
#: Statements of what the runbook runner does (run_on_fargate): its bucket, notebooks and task role.
RUNBOOK = "Runbook"
#: Of those, what cleanup does to the runner's buckets (tests/test_cleanup_buckets.py records its calls).
RUNBOOK_CLEANUP = "RunbookCleanup"


def on_aws_actions(path: str | os.PathLike = POLICY_PATH, *, implied: bool | None = None) -> set[str]:
    """Actions of the ``OnAws`` statements: all of them, only the implied ones (``implied=True``, Sid
    ``OnAwsImplied...``) or only the calls (``implied=False``)."""
    return _actions_of(ON_AWS, path, implied)


def runbook_actions(path: str | os.PathLike = POLICY_PATH, *, implied: bool | None = None) -> set[str]:
    """Actions of the ``Runbook`` statements (``helpers.runbooks.run_on_fargate``, which a suite run does not make;
    tests/test_runbook_fleet.py records the runner's calls), as ``on_aws_actions``."""
    return _actions_of(RUNBOOK, path, implied)


def runbook_cleanup_actions(path: str | os.PathLike = POLICY_PATH) -> set[str]:
    """Actions of the ``RunbookCleanup`` statements: deleting the runbook buckets, which the runner never does."""
    return _actions_of(RUNBOOK_CLEANUP, path, None)


def _actions_of(prefix: str, path: str | os.PathLike, implied: bool | None) -> set[str]:
    document = json.loads(Path(path).read_text())
    actions: set[str] = set()
    for statement in document["Statement"]:
        sid = statement.get("Sid", "")
        if not sid.startswith(prefix) or (implied is not None and sid.startswith(prefix + "Implied") != implied):
            continue
        granted = statement.get("Action", [])
        actions.update([granted] if isinstance(granted, str) else granted)
    return actions


def implied_actions(path: str | os.PathLike = POLICY_PATH) -> set[str]:
    """Actions granted for what is not an SDK call the recorder can see (statements whose Sid starts "Implied"):
    iam:PassRole (checked when ECS is handed a role), the registry calls the Docker engine makes."""
    document = json.loads(Path(path).read_text())
    actions: set[str] = set()
    for statement in document["Statement"]:
        if statement.get("Sid", "").startswith("Implied"):
            granted = statement.get("Action", [])
            actions.update([granted] if isinstance(granted, str) else granted)
    return actions
