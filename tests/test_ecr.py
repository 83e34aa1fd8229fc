"""helpers.ecr without a Docker engine: names, repositories, the assembled image, bad input, the embedded ECR's answers."""

from __future__ import annotations

import base64
import json
import shutil
import tarfile
from datetime import UTC, datetime, timedelta

import pytest

from helpers import ecr, images
from helpers.errors import DockerUnavailable, InvalidImageArchive, InvalidParameter, PushFailed, RepositoryNotFound
from helpers.tags import SUITE_TAG_KEY, SUITE_TAG_VALUE

REPO = "fargate-lab/sample-app"


@pytest.mark.parametrize("name", ["a", "Upper/case", "bad//name", "-lead", "trail-", "has space", "x" * 257, "a__b/"])
def test_invalid_repository_name_is_refused_before_any_call(session, name):
    with pytest.raises(InvalidParameter, match="2-256 characters"):
        ecr.ensure_repository(session, name)
    assert session.client("ecr").describe_repositories()["repositories"] == []


@pytest.mark.parametrize("name", ["ab", "fargate-lab/sample-app", "a.b_c-d/e/f9", "x" * 256])
def test_valid_repository_names_pass(name):
    assert ecr.validate_repository_name(name) == name


def test_ensure_repository_is_idempotent_tagged_and_configured(session):
    policy = {"rules": [{"rulePriority": 1, "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
                                                           "countUnit": "days", "countNumber": 7},
                         "action": {"type": "expire"}}]}
    uri = ecr.ensure_repository(session, REPO, tag_mutability="IMMUTABLE", lifecycle_policy=policy, tags={"team": "lab"})
    again = ecr.ensure_repository(session, REPO, tag_mutability="IMMUTABLE", lifecycle_policy=policy)
    client = session.client("ecr")
    repos = client.describe_repositories()["repositories"]
    assert uri == again == repos[0]["repositoryUri"] and len(repos) == 1
    assert uri.endswith("/" + REPO)
    info = ecr.describe_repository(session, REPO)
    assert info["tags"][SUITE_TAG_KEY] == SUITE_TAG_VALUE and info["tags"]["team"] == "lab"
    assert info["tag_mutability"] == "IMMUTABLE" and info["scan_on_push"] is True
    assert json.loads(client.get_lifecycle_policy(repositoryName=REPO)["lifecyclePolicyText"]) == policy
    ecr.ensure_repository(session, REPO)  # back to the defaults
    assert ecr.describe_repository(session, REPO)["tag_mutability"] == "MUTABLE"


def test_bad_settings_are_refused(session):
    with pytest.raises(InvalidParameter, match="MUTABLE"):
        ecr.ensure_repository(session, REPO, tag_mutability="sometimes")
    with pytest.raises(InvalidParameter, match="rules"):
        ecr.ensure_repository(session, REPO, lifecycle_policy="{not json")
    assert session.client("ecr").describe_repositories()["repositories"] == []


def test_push_to_a_missing_repository_says_how_to_create_it(session, tmp_path):
    built = images.build(tag="t:1", engine=False, echo=lambda _: None)
    with pytest.raises(RepositoryNotFound, match="ensure_repository"):
        ecr.push_image(session, built.source, "fargate-lab/none", "v1", progress=False)


def test_assembled_image_pushes_and_second_push_uploads_nothing(session, tmp_path):
    said: list[str] = []
    built = images.build(images.DEFAULT_APP_DIR, "fargate-lab/sample-app:v1", engine=False, echo=said.append)
    assert built.method == "assembled" and "No Docker engine answers" in said[0]
    ecr.ensure_repository(session, REPO)
    first = ecr.push_image(session, built.source, REPO, "v1", progress=False)
    assert first.layers_uploaded == 2 and first.layers_skipped == 0  # one layer and the config
    manifest = ecr.manifest_of(session, REPO, "v1")
    assert [layer["digest"] for layer in manifest["layers"]] == [r.digest for r in first.layers if r.kind == "layer"]
    assert manifest["config"]["digest"] == built.image_id
    second = ecr.push_image(session, built.source, REPO, "v1", progress=False)
    assert (second.bytes_uploaded, second.layers_uploaded, second.layers_skipped) == (0, 0, 2)
    assert second.digest == first.digest
    table = ecr.image_table(session, REPO)
    assert list(table["tag"]) == ["v1"] and table["digest"][0] == first.digest
    assert table["size_bytes"][0] == sum(layer["size"] for layer in manifest["layers"])


def test_assembled_image_config_has_the_entrypoint_and_the_app_files(tmp_path):
    built = images.assemble(images.DEFAULT_APP_DIR, "t:1", tmp_path / "oci", echo=lambda _: None)
    with images.open_source(built.source) as image:
        config = json.loads(image.config)
        assert config["config"]["Entrypoint"] == ["/bin/sh", "/app/entrypoint.sh"]
        assert "APP_MODE=job" in config["config"]["Env"]
        blob = images.compress_layer(image.layers[0], tmp_path / "x")
        with blob.open() as raw, tarfile.open(fileobj=raw, mode="r:gz") as tar:
            assert "app/entrypoint.sh" in tar.getnames()
    again = images.assemble(images.DEFAULT_APP_DIR, "t:1", tmp_path / "oci2", echo=lambda _: None)
    assert again.image_id == built.image_id  # deterministic


def test_a_layer_that_fails_leaves_no_tag(session, tmp_path):
    built = images.assemble(images.DEFAULT_APP_DIR, "t:1", tmp_path / "oci", echo=lambda _: None)
    index = json.loads((tmp_path / "oci" / "index.json").read_text())
    manifest_blob = tmp_path / "oci" / "blobs" / "sha256" / index["manifests"][0]["digest"].split(":")[1]
    layer = json.loads(manifest_blob.read_text())["layers"][0]
    path = tmp_path / "oci" / "blobs" / "sha256" / layer["digest"].split(":")[1]
    data = bytearray(path.read_bytes())
    data[-9] ^= 0xFF  # same size, other bytes: the digest the manifest names no longer matches
    path.write_bytes(bytes(data))
    ecr.ensure_repository(session, REPO)
    with pytest.raises(PushFailed, match="no tag was written"):
        ecr.push_image(session, built.source, REPO, "broken", progress=False)
    assert session.client("ecr").list_images(repositoryName=REPO)["imageIds"] == []


def test_truncated_oci_archive_is_refused_and_no_tag_is_created(session, tmp_path):
    built = images.assemble(images.DEFAULT_APP_DIR, "t:1", tmp_path / "oci", echo=lambda _: None)
    archive = tmp_path / "image.tar"
    with tarfile.open(archive, "w") as tar:
        for path in sorted((tmp_path / "oci").rglob("*")):
            tar.add(path, arcname=str(path.relative_to(tmp_path / "oci")), recursive=False)
    ecr.ensure_repository(session, REPO)
    whole = ecr.push_image(session, archive, REPO, "whole", progress=False)
    assert whole.digest == ecr.push_image(session, built.source, REPO, "dir", progress=False).digest
    cut = tmp_path / "cut.tar"
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(InvalidImageArchive, match="truncated|incomplete"):
        ecr.push_image(session, cut, REPO, "cut", progress=False)
    tags = {i.get("imageTag") for i in session.client("ecr").list_images(repositoryName=REPO)["imageIds"]}
    assert tags == {"whole", "dir"}


def test_not_an_image_archive(session, tmp_path):
    junk = tmp_path / "junk.tar"
    with tarfile.open(junk, "w") as tar:
        tar.add(images.DEFAULT_APP_DIR / "entrypoint.sh", arcname="entrypoint.sh")
    with pytest.raises(InvalidImageArchive, match="neither manifest.json"):
        images.open_source(junk)
    (tmp_path / "text.tar").write_text("not a tar")
    with pytest.raises(InvalidImageArchive, match="not a readable tar"):
        images.open_source(tmp_path / "text.tar")
    shutil.copytree(images.DEFAULT_APP_DIR, tmp_path / "dir")
    with pytest.raises(InvalidImageArchive, match="no index.json"):
        images.open_source(tmp_path / "dir")


def test_push_method_docker_without_an_engine_fails_before_anything(session, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")  # really no engine for this process
    with pytest.raises(DockerUnavailable, match="method='api'"):
        ecr.push(session, "fargate-lab/sample-app:v1", REPO, "v1", method="docker")
    with pytest.raises(InvalidParameter, match="parameter 'method'.*'api'"):
        ecr.push(session, "fargate-lab/sample-app:v1", REPO, "v1", method="scp")
    assert session.client("ecr").describe_repositories()["repositories"] == []


def test_a_local_image_without_an_engine_is_explained(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(DockerUnavailable, match="no Docker engine answers"):
        images.open_source("fargate-lab/sample-app:v1")
    said: list[str] = []
    assert images.build(tag="t:1", echo=said.append).method == "assembled"  # falls back, and says so
    assert "nothing was built" in said[-1]


def test_authorization_token_is_valid_for_12_hours_and_names_the_registry(session):
    data = session.client("ecr").get_authorization_token()["authorizationData"][0]
    expires = data["expiresAt"]
    assert timedelta(hours=11) < expires - datetime.now(UTC) <= timedelta(hours=12, minutes=1)
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    assert user == "AWS" and len(password) >= 32
    uri = ecr.ensure_repository(session, REPO)
    assert data["proxyEndpoint"].split("://")[1] == uri.split("/")[0]


def test_image_table_shows_scan_findings_once_a_scan_exists(session):
    """Basic scanning with scan on push scans each pushed image; without it there is no scan until one is started.
    https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-scanning-basic.html"""
    built = images.build(tag="t:1", engine=False, echo=lambda _: None)
    ecr.ensure_repository(session, "unscanned", scan_on_push=False)
    ecr.push_image(session, built.source, "unscanned", "v1", progress=False)
    unscanned = ecr.image_table(session, "unscanned")
    assert unscanned["scan_status"][0] is None and unscanned["HIGH"][0] is None
    ecr.ensure_repository(session, REPO)  # scan on push, the suite's default
    ecr.push_image(session, built.source, REPO, "v1", progress=False)
    before = ecr.image_table(session, REPO)
    assert before["scan_status"][0] == "COMPLETE" and before["HIGH"][0] == 0 and before["CRITICAL"][0] == 0
    session.client("ecr").start_image_scan(repositoryName=REPO, imageId={"imageTag": "v1"})
    after = ecr.image_table(session, REPO)
    assert after["scan_status"][0] == "COMPLETE"
    assert after["HIGH"][0] == 1 and after["CRITICAL"][0] == 0  # moto's static finding: one HIGH


def test_a_docker_archive_with_gzip_layers_is_pushed_as_it_is(session, tmp_path):
    import gzip
    import hashlib
    import io

    layer_tar = io.BytesIO()
    with tarfile.open(fileobj=layer_tar, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"hello"))
    plain = layer_tar.getvalue()
    packed = gzip.compress(plain, mtime=0)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["cat", "/hello.txt"]},
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(plain).hexdigest()]}}).encode()
    archive = tmp_path / "gz.tar"
    with tarfile.open(archive, "w") as tar:
        for name, data in (("layer/layer.tar", packed), ("config.json", config),
                           ("manifest.json", json.dumps([{"Config": "config.json", "Layers": ["layer/layer.tar"]}]).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    ecr.ensure_repository(session, REPO)
    result = ecr.push_image(session, archive, REPO, "gz", progress=False)
    layer = ecr.manifest_of(session, REPO, "gz")["layers"][0]
    assert layer == {"mediaType": images.DOCKER_LAYER, "size": len(packed),
                     "digest": "sha256:" + hashlib.sha256(packed).hexdigest()}
    assert result.bytes_uploaded == len(packed) + len(config)


def test_the_embedded_registry_requires_the_token_and_serves_what_the_api_pushed(session, tmp_path):
    import hashlib
    import urllib.error
    import urllib.request

    built = images.build(tag="t:1", engine=False, echo=lambda _: None)
    uri = ecr.ensure_repository(session, REPO)
    pushed = ecr.push_image(session, built.source, REPO, "v1", progress=False)
    data = session.client("ecr").get_authorization_token()["authorizationData"][0]
    endpoint = data["proxyEndpoint"]

    def get(path: str, token: str | None) -> tuple[int, bytes, dict]:
        request = urllib.request.Request(endpoint + path, headers={"Authorization": f"Basic {token}"} if token else {})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), dict(exc.headers)

    status, _, headers = get("/v2/", None)
    assert status == 401 and headers["WWW-Authenticate"].startswith("Basic")
    assert get("/v2/", base64.b64encode(b"AWS:wrong").decode())[0] == 401
    token = data["authorizationToken"]
    assert get("/v2/", token)[0] == 200
    status, body, headers = get(f"/v2/{REPO}/manifests/v1", token)
    assert status == 200 and headers["Docker-Content-Digest"] == pushed.digest
    assert "sha256:" + hashlib.sha256(body).hexdigest() == pushed.digest
    layer = json.loads(body)["layers"][0]
    status, blob, _ = get(f"/v2/{REPO}/blobs/{layer['digest']}", token)
    assert status == 200 and "sha256:" + hashlib.sha256(blob).hexdigest() == layer["digest"]
    assert json.loads(get(f"/v2/{REPO}/tags/list", token)[1])["tags"] == ["v1"]
    assert get("/v2/fargate-lab/nothing/tags/list", token)[0] == 404
    assert uri.startswith(endpoint.split("://")[1])
    assert session.client("apigatewayv2").get_apis()["Items"] == []  # moto's own /v2/ routes still answer


@pytest.mark.parametrize("keep", [0.05, 0.3, 0.7, 0.97])
def test_an_archive_cut_anywhere_is_refused(session, tmp_path, keep):
    images.assemble(images.DEFAULT_APP_DIR, "t:1", tmp_path / "oci", echo=lambda _: None)
    archive = tmp_path / "image.tar"
    with tarfile.open(archive, "w") as tar:
        for path in sorted((tmp_path / "oci").rglob("*")):
            tar.add(path, arcname=str(path.relative_to(tmp_path / "oci")), recursive=False)
    with tarfile.open(archive) as tar:
        end = max(member.offset_data + member.size for member in tar.getmembers())  # the rest is padding
    cut = tmp_path / "cut.tar"
    cut.write_bytes(archive.read_bytes()[: int(end * keep)])
    ecr.ensure_repository(session, REPO)
    with pytest.raises(InvalidImageArchive, match="truncated|incomplete"):
        ecr.push_image(session, cut, REPO, "cut", progress=False)
    assert session.client("ecr").list_images(repositoryName=REPO)["imageIds"] == []
