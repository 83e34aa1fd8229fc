"""A task role's credentials, end to end with a real container on the embedded backend.

The container reads its credentials where Fargate puts them (``AWS_CONTAINER_CREDENTIALS_FULL_URI``, answering
RoleArn, AccessKeyId, SecretAccessKey, Token, Expiration:
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-iam-roles.html); the host then signs with them
(the task image has no Python), as boto3 inside the task would. They expire on the emulator's clock and are
handed out anew before that.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.exceptions import ClientError

from helpers import local, tasks
from tests.test_docker_tasks_e2e import CLUSTER, GROUP, describe, docker_backend, lab  # noqa: F401 - fixtures

pytestmark = pytest.mark.docker

TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                 "Principal": {"Service": "ecs-tasks.amazonaws.com"}}]}
LOOP = ('echo "endpoint=$AWS_ENDPOINT_URL"; wget -q -O - "$AWS_ENDPOINT_URL/" || echo unsigned-refused; '
        'trap "exit 0" TERM; while true; do wget -q -O - "$AWS_CONTAINER_CREDENTIALS_FULL_URI"; echo; sleep 0.3; done')


def _credentials(session, task: str) -> list[dict]:
    lines = tasks.task_logs(session, CLUSTER, task, printer=None).get("app", [])
    return [json.loads(line) for line in lines if line.startswith("{")]


def _until(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError("condition not reached in time")


def _client(service: str, credentials: dict, url: str):
    return boto3.client(service, endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id=credentials["AccessKeyId"], aws_secret_access_key=credentials["SecretAccessKey"],
                        aws_session_token=credentials["Token"])


def test_a_task_reads_its_roles_credentials_which_sign_as_the_role_expire_and_refresh(lab, docker_backend,  # noqa: F811
                                                                                     base_image):
    from helpers import prereqs

    role = lab.client("iam").create_role(RoleName="fargate-lab-runbook-task",
                                         AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    arn = lab.client("ecs").register_task_definition(
        family="with-role", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        executionRoleArn=prereqs.ensure_execution_role(lab, allow_create=True), taskRoleArn=role,
        containerDefinitions=[{"name": "app", "image": base_image, "stopTimeout": 2, "command": ["sh", "-c", LOOP],
                               "logConfiguration": {"logDriver": "awslogs", "options": {
                                   "awslogs-group": GROUP, "awslogs-region": "us-east-1",
                                   "awslogs-stream-prefix": "ecs"}}}],
    )["taskDefinition"]["taskDefinitionArn"]
    [task] = tasks.run_task(lab, CLUSTER, arn)
    first = _until(lambda: _credentials(lab, task))[0]
    assert first["RoleArn"] == role and set(first) == {"RoleArn", "AccessKeyId", "SecretAccessKey", "Token",
                                                       "Expiration"}
    lines = tasks.task_logs(lab, CLUSTER, task, printer=None)["app"]
    endpoint = lines[0].removeprefix("endpoint=")
    assert endpoint.startswith("http://169.254.170.2:")
    assert "unsigned-refused" in lines  # the emulator answers the task network, signed requests only

    identity = _client("sts", first, docker_backend.url).get_caller_identity()
    assert identity["Arn"] == f"arn:aws:sts::{identity['Account']}:assumed-role/fargate-lab-runbook-task/{task.rsplit('/', 1)[-1]}"
    assert "Buckets" in _client("s3", first, docker_backend.url).list_buckets()
    with pytest.raises(urllib.error.HTTPError) as refused:  # the host is not a task: the gateway does not answer it
        urllib.request.urlopen(endpoint + "/", timeout=5)
    assert refused.value.code == 403

    local.advance_clock(5 * 3600 + 35 * 60, docker_backend.port)  # 25 minutes left: a new set is handed out
    second = _until(lambda: next((c for c in _credentials(lab, task) if c["AccessKeyId"] != first["AccessKeyId"]),
                                 None))
    assert second["Expiration"] > first["Expiration"]
    _client("sts", first, docker_backend.url).get_caller_identity()  # the old set is still valid until it expires
    local.advance_clock(30 * 60, docker_backend.port)
    with pytest.raises(ClientError) as expired:
        _client("sts", first, docker_backend.url).get_caller_identity()
    assert expired.value.response["Error"]["Code"] == "ExpiredToken"
    assert _client("sts", second, docker_backend.url).get_caller_identity()["Arn"] == identity["Arn"]
    lab.client("ecs").stop_task(cluster=CLUSTER, task=task, reason="done")
