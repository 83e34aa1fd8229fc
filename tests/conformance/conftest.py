"""Third-party clients against an embedded backend of the test module's own, as a user would point them at it.

Every client gets the backend through ``AWS_ENDPOINT_URL`` and its key through the standard variables, with a home,
an AWS config and a Docker config of the test's own (nothing of the user's is read or written). The AWS CLI and
ecs-deploy are the pinned ones of requirements.txt, from this virtual environment's ``bin``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from helpers import local
from tests.backends import embedded_backend

BIN = Path(sys.executable).parent
REGION = "us-east-1"


def client_env(info, home: Path) -> dict[str, str]:
    """The environment a third-party client runs in: this backend's endpoint and key, nothing of the user's."""
    keys = local.credentials()
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DOCKER_"))}
    env.update(HOME=str(home), AWS_ENDPOINT_URL=info.url, AWS_DEFAULT_REGION=REGION,
               AWS_ACCESS_KEY_ID=keys["aws_access_key_id"], AWS_SECRET_ACCESS_KEY=keys["aws_secret_access_key"],
               AWS_CONFIG_FILE=str(home / "aws-config"), AWS_SHARED_CREDENTIALS_FILE=str(home / "aws-credentials"),
               AWS_PAGER="", DOCKER_CONFIG=str(home / "docker"), PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}")
    return env


class CliFailed(AssertionError):
    """A client exited non-zero where the test expected success."""


class Client:
    """Runs a client program with the backend's environment; JSON output parsed."""

    def __init__(self, info, home: Path) -> None:
        self.info = info
        self.env = client_env(info, home)

    def run(self, *args: str, check: bool = True, stdin: str | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
        done = subprocess.run(list(args), env=self.env, input=stdin, capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise CliFailed(f"{' '.join(args[:4])}... exited {done.returncode}: {done.stderr[-2000:]}")
        return done

    def aws(self, *args: str, check: bool = True) -> dict:
        """``aws ARGS --output json``: the answer as a dict ({} when the command prints nothing)."""
        done = self.run(str(BIN / "aws"), *args, "--output", "json", check=check)
        return json.loads(done.stdout) if done.stdout.strip() else {}

    def aws_wait_after_first_poll(self, *args: str, then, timeout: float = 120) -> tuple[int, float, str]:
        """Run ``aws ... wait ...``; once its first poll has been answered, call ``then()`` (e.g. advance the
        clock). Returns (exit code, seconds it took, stderr). Proves the waiter really waited and polled again."""
        process = subprocess.Popen([str(BIN / "aws"), *args, "--debug"], env=self.env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        lines: list[str] = []
        answered = threading.Event()

        def read() -> None:
            for line in process.stderr:
                lines.append(line)
                if "botocore.parsers - DEBUG - Response body" in line:
                    answered.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        started = time.monotonic()
        try:
            assert answered.wait(timeout), "the waiter made no call"
            then()
            code = process.wait(timeout)
        finally:
            if process.poll() is None:
                process.kill()
        reader.join(5)
        errors = [line for line in lines if " - DEBUG - " not in line and not line.startswith(("b'", "{"))]
        return code, time.monotonic() - started, "".join(errors[-20:])


@pytest.fixture(scope="module")
def lab():
    """An embedded backend of this module's own (simulated tasks)."""
    with embedded_backend() as info:
        yield info


@pytest.fixture
def client(lab, tmp_path) -> Client:
    """A fresh backend state and a client environment of this test's own."""
    local.reset(lab.port)
    return Client(lab, tmp_path / "home")


@pytest.fixture
def aws(client, monkeypatch):
    """A plain boto3 session: the endpoint from AWS_ENDPOINT_URL, the key from the standard variables."""
    import boto3

    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION",
                 "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.setenv(name, client.env[name])
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return boto3.Session()


def default_subnet(client: Client) -> str:
    return client.aws("ec2", "describe-subnets", "--filters", "Name=default-for-az,Values=true")["Subnets"][0][
        "SubnetId"]


def register(client: Client, family: str, image: str = "busybox", **environment: str) -> str:
    """A Fargate task definition of one essential container, through the AWS CLI; its ARN."""
    container = {"name": "app", "image": image, "essential": True,
                 "environment": [{"name": k, "value": v} for k, v in environment.items()]}
    return client.aws("ecs", "register-task-definition", "--family", family, "--network-mode", "awsvpc",
                      "--requires-compatibilities", "FARGATE", "--cpu", "256", "--memory", "512",
                      "--container-definitions", json.dumps([container]))["taskDefinition"]["taskDefinitionArn"]


def network(subnet: str) -> str:
    return f"awsvpcConfiguration={{subnets=[{subnet}],assignPublicIp=DISABLED}}"


def ecr_image(ecr, repository: str, tag: str) -> str:
    """Put a small image (a config blob of its own, no layer) under ``tag`` through the ECR API; its digest."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "tag": tag,
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    digest = "sha256:" + hashlib.sha256(config).hexdigest()
    upload = ecr.initiate_layer_upload(repositoryName=repository)["uploadId"]
    ecr.upload_layer_part(repositoryName=repository, uploadId=upload, partFirstByte=0,
                          partLastByte=len(config) - 1, layerPartBlob=config)
    ecr.complete_layer_upload(repositoryName=repository, uploadId=upload, layerDigests=[digest])
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(config),
                           "digest": digest}, "layers": []}
    return ecr.put_image(repositoryName=repository, imageManifest=json.dumps(manifest),
                         imageTag=tag)["image"]["imageId"]["imageDigest"]
