"""The docker CLI against the embedded ECR registry, the way ECR's user guide says to use it.

``aws ecr get-login-password | docker login --username AWS --password-stdin REGISTRY``, then ``docker push`` and
``docker pull`` by tag and by digest (https://docs.aws.amazon.com/AmazonECR/latest/userguide/docker-push-ecr-image.html,
https://docs.aws.amazon.com/AmazonECR/latest/userguide/docker-pull-ecr-image.html). The digest ``docker push``
prints is the image's ``imageDigest`` in DescribeImages
(https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_ImageDetail.html), and a pull by that digest gets
the same image.
"""

from __future__ import annotations

import re
import shutil

import pytest

REPOSITORY = "conformance/app"


@pytest.fixture
def docker(client, docker_client, base_image):
    """The docker CLI with a Docker config of the test's own; the references it made are removed afterwards."""
    if shutil.which("docker") is None:
        pytest.fail("the docker CLI is missing (Debian's docker.io)")
    made: list[str] = []
    yield client, made
    for reference in made:
        client.run("docker", "rmi", "--force", reference, check=False)


def test_login_with_get_login_password_push_and_pull_by_tag_and_digest(docker, base_image):
    client, made = docker
    uri = client.aws("ecr", "create-repository", "--repository-name", REPOSITORY)["repository"]["repositoryUri"]
    registry = uri.split("/")[0]
    assert registry == f"127.0.0.1:{client.info.port}"
    password = client.run("aws", "ecr", "get-login-password").stdout.strip()
    login = client.run("docker", "login", "--username", "AWS", "--password-stdin", registry, stdin=password)
    assert "Login Succeeded" in login.stdout

    made.append(f"{uri}:v1")
    client.run("docker", "tag", base_image, f"{uri}:v1")
    pushed = client.run("docker", "push", f"{uri}:v1").stdout
    digest = re.search(r"v1: digest: (sha256:[0-9a-f]{64}) size: \d+", pushed).group(1)
    [detail] = client.aws("ecr", "describe-images", "--repository-name", REPOSITORY)["imageDetails"]
    assert detail["imageDigest"] == digest and detail["imageTags"] == ["v1"]
    assert detail["imageManifestMediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    again = client.run("docker", "push", f"{uri}:v1").stdout
    assert "Layer already exists" in again and digest in again

    client.run("docker", "rmi", f"{uri}:v1")
    client.run("docker", "pull", f"{uri}:v1")
    made.append(f"{uri}@{digest}")
    by_digest = client.run("docker", "pull", f"{uri}@{digest}").stdout
    assert f"Digest: {digest}" in by_digest
    repo_digests = client.run("docker", "image", "inspect", "--format", "{{json .RepoDigests}}", f"{uri}:v1").stdout
    assert f"{uri}@{digest}" in repo_digests

    missing = client.run("docker", "pull", f"{uri}:nope", check=False)
    assert missing.returncode != 0 and "not found" in missing.stderr.lower()
    client.run("docker", "logout", registry)
    refused = client.run("docker", "pull", f"{uri}:v1", check=False)  # the repository is private
    assert refused.returncode != 0 and ("no basic auth" in refused.stderr.lower()
                                        or "unauthorized" in refused.stderr.lower()), refused.stderr
