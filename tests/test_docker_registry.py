"""docker_push against a real registry: Debian's docker-registry on 127.0.0.1 with basic auth (user AWS).

The embedded backend answers the ECR calls; started with FARGATE_LAB_ECR_REGISTRY and FARGATE_LAB_ECR_PASSWORD,
its repository URIs and authorization token name that registry and the password its htpasswd file holds, as
ECR's would name ECR's own registry.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from helpers import ecr, images, local
from tests.conftest import engine_missing, free_port

pytestmark = pytest.mark.docker

REPO = "fargate-lab/sample-app"
SAMPLE = "fargate-lab-test/registry-sample:test"


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """docker-registry on a free port, htpasswd user AWS with a fresh password: (host:port, password)."""
    for tool in ("docker-registry", "htpasswd"):
        if shutil.which(tool) is None:
            missing = f"{tool} is missing: apt-get install docker-registry apache2-utils"
            pytest.fail(missing) if os.environ.get("FARGATE_LAB_REQUIRE_DOCKER") == "1" else engine_missing(missing)
    root = tmp_path_factory.mktemp("registry")
    password = secrets.token_urlsafe(24)
    subprocess.run(["htpasswd", "-iBc", str(root / "htpasswd"), "AWS"], input=password, text=True, check=True,
                   capture_output=True)
    port = free_port()
    (root / "config.yml").write_text(
        f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\nauth:\n  htpasswd:\n    realm: fargate-lab-test\n    path: {root / 'htpasswd'}\n"
    )
    log = open(root / "registry.log", "wb")
    process = subprocess.Popen(["docker-registry", "serve", str(root / "config.yml")], stdout=log, stderr=log)
    host = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and status(host, "/v2/") != 401:
        time.sleep(0.1)
    assert status(host, "/v2/") == 401, (root / "registry.log").read_text()
    yield host, password
    process.terminate()
    process.wait(timeout=10)
    log.close()


@pytest.fixture(scope="module")
def fronting_session(registry, tmp_path_factory):
    """A session whose embedded ECR names the docker-registry (its own server, on its own port)."""
    import helpers

    host, password = registry
    port = free_port()
    patch = pytest.MonkeyPatch()
    patch.setenv("FARGATE_LAB_ECR_REGISTRY", host)
    patch.setenv("FARGATE_LAB_ECR_PASSWORD", password)
    patch.setenv("FARGATE_LAB_PORT", str(port))
    try:
        session = helpers.connect(backend="local")
    finally:
        patch.delenv("FARGATE_LAB_ECR_REGISTRY")
        patch.delenv("FARGATE_LAB_ECR_PASSWORD")
    yield session
    patch.undo()
    local.stop(port)


def status(host: str, path: str, password: str | None = None) -> int:
    request = urllib.request.Request(f"http://{host}{path}")
    if password:
        request.add_header("Authorization", "Basic " + base64.b64encode(f"AWS:{password}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def fetch(host: str, path: str, password: str) -> tuple[dict, dict]:
    request = urllib.request.Request(f"http://{host}{path}", headers={
        "Authorization": "Basic " + base64.b64encode(f"AWS:{password}".encode()).decode(),
        "Accept": images.DOCKER_MANIFEST})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read()), dict(response.headers)


def test_docker_push_to_a_registry_with_basic_auth_never_shows_the_token(
        fronting_session, registry, docker_client, base_image, capfd):
    host, password = registry
    images.build(images.DEFAULT_APP_DIR, SAMPLE, base_image=base_image, client=docker_client, echo=lambda _: None)
    uri = ecr.ensure_repository(fronting_session, REPO)
    assert uri == f"{host}/{REPO}"
    try:
        result = ecr.docker_push(fronting_session, SAMPLE, REPO, "r1")
        again = ecr.docker_push(fronting_session, SAMPLE, REPO, "r1", progress=False)
    finally:
        for ref in (f"{uri}:r1", SAMPLE):
            try:
                docker_client.images.remove(ref)
            except Exception:  # noqa: BLE001 - best effort, only our own references
                pass
    tags, _ = fetch(host, f"/v2/{REPO}/tags/list", password)
    assert tags["tags"] == ["r1"]
    manifest, headers = fetch(host, f"/v2/{REPO}/manifests/r1", password)
    assert headers["Docker-Content-Digest"] == result.digest == again.digest
    assert len(manifest["layers"]) == result.layers_uploaded >= 4  # counted from Docker's progress
    assert again.layers_uploaded == 0 and again.layers_skipped == result.layers_uploaded
    assert status(host, f"/v2/{REPO}/tags/list") == 401  # the registry does require the login
    out, err = capfd.readouterr()
    token = base64.b64encode(f"AWS:{password}".encode()).decode()
    for secret in (password, token):
        assert secret not in out + err + repr(result) + repr(again)
    config = Path.home() / ".docker" / "config.json"
    assert not config.exists() or password not in config.read_text() and token not in config.read_text()
