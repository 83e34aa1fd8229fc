"""skopeo (Debian's package) copies images into the embedded ECR and out of it, in each manifest form ECR stores.

ECR accepts Docker image manifest V2 schema 2, OCI image manifests and image indexes (manifest lists), and keeps
the manifest as pushed: its digest is the ``imageDigest`` and its media type the ``imageManifestMediaType`` of
DescribeImages (https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-manifest-formats.html,
https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_ImageDetail.html). skopeo authenticates as ECR's
user guide says any registry client does: user ``AWS`` and the password from ``get-login-password``
(https://docs.aws.amazon.com/AmazonECR/latest/userguide/registry_auth.html).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from helpers import images

REPOSITORY = "conformance/skopeo"
DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json"


@pytest.fixture
def skopeo(client, tmp_path):
    """(run skopeo with ECR's credentials, the repository URI, a source OCI layout assembled in Python)."""
    if shutil.which("skopeo") is None:
        pytest.fail("skopeo is missing: apt-get install skopeo (.ci/run installs it)")
    uri = client.aws("ecr", "create-repository", "--repository-name", REPOSITORY)["repository"]["repositoryUri"]
    password = client.run("aws", "ecr", "get-login-password").stdout.strip()
    creds = f"AWS:{password}"

    def run(*args: str, check: bool = True):
        words = ["skopeo", "--insecure-policy", *args]
        if args[0] == "copy":
            words[3:3] = ["--src-tls-verify=false", "--dest-tls-verify=false"]
            words[3:3] = [f"--{'src' if args[-2].startswith('docker://') else 'dest'}-creds", creds]
        if args[0] == "inspect":
            words[3:3] = ["--tls-verify=false", "--creds", creds]
        return client.run(*words, check=check)

    source = tmp_path / "source"
    images.assemble(images.DEFAULT_APP_DIR, "app:v1", out_dir=source, echo=lambda _: None)
    return run, uri, source


def _detail(client, tag: str) -> dict:
    [detail] = client.aws("ecr", "describe-images", "--repository-name", REPOSITORY, "--image-ids",
                          f"imageTag={tag}")["imageDetails"]
    return detail


def _as_index(layout: Path) -> str:
    """Turn the layout's one image into an image index for two platforms (the same image twice); its digest."""
    top = json.loads((layout / "index.json").read_text())
    manifest = top["manifests"][0]
    index = json.dumps({"schemaVersion": 2, "mediaType": images.OCI_INDEX, "manifests": [
        {"mediaType": manifest["mediaType"], "digest": manifest["digest"], "size": manifest["size"],
         "platform": {"architecture": arch, "os": "linux"}} for arch in ("amd64", "arm64")]}).encode()
    digest = "sha256:" + hashlib.sha256(index).hexdigest()
    (layout / "blobs" / "sha256" / digest.split(":")[1]).write_bytes(index)
    top["manifests"] = [{"mediaType": images.OCI_INDEX, "digest": digest, "size": len(index),
                         "annotations": {"org.opencontainers.image.ref.name": "multi"}}]
    (layout / "index.json").write_text(json.dumps(top))
    return digest


def test_copy_in_and_out_as_docker_v2_and_oci(client, skopeo, tmp_path):
    run, uri, source = skopeo
    run("copy", "--format", "v2s2", f"oci:{source}", f"docker://{uri}:v2")
    run("copy", "--format", "oci", f"oci:{source}", f"docker://{uri}:oci")
    docker_v2, oci = _detail(client, "v2"), _detail(client, "oci")
    assert docker_v2["imageManifestMediaType"] == DOCKER_V2
    assert oci["imageManifestMediaType"] == images.OCI_MANIFEST
    assert docker_v2["imageDigest"] != oci["imageDigest"]
    assert json.loads(run("inspect", f"docker://{uri}:v2").stdout)["Digest"] == docker_v2["imageDigest"]

    for tag, detail in (("v2", docker_v2), ("oci", oci)):
        out = tmp_path / f"out-{tag}"
        run("copy", f"docker://{uri}:{tag}", f"dir:{out}")
        manifest = (out / "manifest.json").read_bytes()  # the bytes ECR keeps, unchanged
        assert "sha256:" + hashlib.sha256(manifest).hexdigest() == detail["imageDigest"]
        assert json.loads(manifest)["mediaType"] == detail["imageManifestMediaType"]
    layout = tmp_path / "out-layout"
    run("copy", f"docker://{uri}@{oci['imageDigest']}", f"oci:{layout}:copied")
    assert json.loads((layout / "index.json").read_text())["manifests"][0]["digest"] == oci["imageDigest"]

    missing = run("copy", f"docker://{uri}:nope", f"dir:{tmp_path / 'none'}", check=False)
    assert missing.returncode != 0 and "manifest unknown" in missing.stderr.lower(), missing.stderr


def test_copy_an_image_index_in_and_out(client, skopeo, tmp_path):
    run, uri, source = skopeo
    digest = _as_index(source)
    run("copy", "--all", f"oci:{source}:multi", f"docker://{uri}:multi")
    detail = _detail(client, "multi")
    assert detail["imageDigest"] == digest and detail["imageManifestMediaType"] == images.OCI_INDEX
    raw = json.loads(run("inspect", "--raw", f"docker://{uri}:multi").stdout)
    assert [m["platform"]["architecture"] for m in raw["manifests"]] == ["amd64", "arm64"]
    out = tmp_path / "out"
    run("copy", "--all", f"docker://{uri}:multi", f"dir:{out}")
    assert "sha256:" + hashlib.sha256((out / "manifest.json").read_bytes()).hexdigest() == digest
