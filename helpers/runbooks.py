"""Run a notebook as a Fargate task: papermill in a container, the notebook in and out through S3.

Why: one papermill process on one machine does not scale to a runbook per service or region; ECS on Fargate
does, and papermill reads and writes ``s3://`` notebooks itself. The task finds its credentials (the task role)
and, on the embedded backend, the endpoint the way Fargate gives them, so this module is the same on both.
The image must have python3 with papermill, ipykernel and boto3 (``image`` is any reference ECS can pull).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers import prereqs, tasks
from helpers.errors import InvalidParameter
from helpers.tags import as_aws, suite_tags

FAMILY = "fargate-lab-runbook"
CONTAINER = "papermill"
TASK_ROLE_NAME = "fargate-lab-runbook-task"
_TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                  "Principal": {"Service": "ecs-tasks.amazonaws.com"}}]}
# S3's rules for a bucket name: https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
_BUCKET = re.compile(r"^(?!xn--)(?!.*-s3alias$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass
class RunbookResult:
    """What one notebook's task did: its exit code is the notebook's success (0) or failure."""

    notebook: str
    parameters: dict[str, Any]
    output_uri: str
    task: tasks.TaskResult

    @property
    def succeeded(self) -> bool:
        return not self.task.failed


def check_bucket(bucket: str) -> str:
    """The bucket name, or InvalidParameter for one S3 would refuse (before anything is created)."""
    if not isinstance(bucket, str) or not _BUCKET.match(bucket) or ".." in bucket:
        raise InvalidParameter("bucket", bucket, "3 to 63 lowercase letters, digits, dots and hyphens, "
                                                 "starting and ending with a letter or digit")
    return bucket


def ensure_task_role(session: Any, bucket: str, name: str = TASK_ROLE_NAME) -> str:
    """The runner's task role (created once, tagged): read and write its run notebooks under ``runs/`` only."""
    iam = session.client("iam")
    try:
        arn = iam.get_role(RoleName=name)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(_TRUST),
                              Description="fargate-lab: a runbook task reads and writes its notebooks in S3",
                              Tags=as_aws(suite_tags(), "Key"))["Role"]["Arn"]
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": f"arn:aws:s3:::{bucket}/runs/*"},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"}]}
    iam.put_role_policy(RoleName=name, PolicyName=f"runbook-{bucket}"[:128], PolicyDocument=json.dumps(policy))
    return arn


def register_runner(session: Any, image: str, log_group: str, *, task_role_arn: str, cpu: str = "512",
                    memory: str = "1024") -> str:
    """The task definition whose one container runs papermill (its command comes with each run)."""
    return session.client("ecs").register_task_definition(
        family=FAMILY, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu=cpu, memory=memory,
        taskRoleArn=task_role_arn, executionRoleArn=prereqs.ensure_execution_role(session, allow_create=True),
        tags=as_aws(suite_tags(), "key"),
        containerDefinitions=[{"name": CONTAINER, "image": image, "essential": True,
                               "command": ["python3", "-m", "papermill", "--help"],
                               "logConfiguration": {"logDriver": "awslogs", "options": {
                                   "awslogs-group": log_group, "awslogs-region": session.region_name,
                                   "awslogs-stream-prefix": "runbook"}}}],
    )["taskDefinition"]["taskDefinitionArn"]


def run_notebook(session: Any, notebook: str | Path, *, bucket: str, image: str, cluster: str,
                 log_group: str, parameters: Mapping[str, Any] | None = None, run_id: str | None = None,
                 timeout: float = 600) -> RunbookResult:
    """Upload ``notebook``, run it with ``parameters`` as one Fargate task, wait; the output is in S3.

    The container runs ``papermill s3://BUCKET/runs/RUN/in/NAME s3://BUCKET/runs/RUN/out/NAME -y PARAMETERS``:
    its exit code is 0 when every cell ran. A failed notebook is a result (``succeeded`` False), not an error.
    """
    check_bucket(bucket)
    path = Path(notebook)
    if path.suffix != ".ipynb" or not path.is_file():
        raise InvalidParameter("notebook", str(notebook), "an existing .ipynb file")
    if parameters is not None and not isinstance(parameters, Mapping):
        raise InvalidParameter("parameters", parameters, "a mapping of parameter names to values")
    values = dict(parameters or {})
    run = run_id or uuid.uuid4().hex[:12]
    source, output = (f"s3://{bucket}/runs/{run}/{part}/{path.name}" for part in ("in", "out"))
    session.client("s3").upload_file(str(path), bucket, source.split("/", 3)[3])
    definition = register_runner(session, image, log_group, task_role_arn=ensure_task_role(session, bucket))
    command = ["python3", "-m", "papermill", "--no-progress-bar", source, output, "-y", json.dumps(values)]
    arns = tasks.run_task(session, cluster, definition, overrides=tasks.command_override(CONTAINER, command),
                          tags={"fargate-lab:runbook": path.name})
    [result] = tasks.wait_for_tasks(session, cluster, arns, timeout=timeout, progress=False, raise_on_failure=False)
    return RunbookResult(notebook=path.name, parameters=values, output_uri=output, task=result)
