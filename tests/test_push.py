"""Real images built by the Docker engine, pushed to the embedded ECR through its API and through Docker."""

from __future__ import annotations

import base64
import hashlib
import json
import tarfile
from pathlib import Path

import pytest

from helpers import ecr, images
from helpers.errors import ImageNotFound, ImageTagAlreadyExists, InvalidImageArchive

pytestmark = pytest.mark.docker

REPO = "fargate-lab/sample-app"
SAMPLE = "fargate-lab-test/ecr-sample:test"
DERIVED = "fargate-lab-test/ecr-derived:test"


@pytest.fixture(scope="module")
def engine_refs(docker_client):
    """Image references the tests create in the engine; removed afterwards (only these)."""
    refs: list[str] = []
    yield refs
    for ref in reversed(refs):
        try:
            docker_client.images.remove(ref)
        except Exception:  # noqa: BLE001 - already gone, or still used by another reference
            pass


@pytest.fixture(scope="module")
def sample(docker_client, base_image, engine_refs) -> images.BuildResult:
    built = images.build(images.DEFAULT_APP_DIR, SAMPLE, base_image=base_image, client=docker_client, echo=lambda _: None)
    engine_refs.append(SAMPLE)
    return built


@pytest.fixture(scope="module")
def derived(docker_client, sample, engine_refs, tmp_path_factory) -> str:
    context = tmp_path_factory.mktemp("derived")
    (context / "Dockerfile").write_text(f"FROM {SAMPLE}\nCOPY extra.txt /app/www/extra.txt\n")
    (context / "extra.txt").write_text("an image that shares its base with the sample app\n" * 100)
    docker_client.images.build(path=str(context), tag=DERIVED, rm=True)
    engine_refs.append(DERIVED)
    return DERIVED


@pytest.fixture
def cold_cache(monkeypatch, tmp_path):
    """No remembered layer digests: the push compresses every layer."""
    monkeypatch.setenv("FARGATE_LAB_STATE_DIR", str(tmp_path / "state"))


def save(docker_client, ref: str, path: Path) -> Path:
    with open(path, "wb") as out:
        for chunk in docker_client.api.get_image(ref):
            out.write(chunk)
    return path


def login(session) -> dict[str, str]:
    data = session.client("ecr").get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    return {"username": user, "password": password}


def test_multilayer_push_manifest_lists_exactly_the_pushed_blobs(session, sample, docker_client, engine_refs, cold_cache):
    uri = ecr.ensure_repository(session, REPO)
    result = ecr.push_image(session, SAMPLE, REPO, "v1", progress=False)
    engine_refs.append(f"{uri}:v1")
    attrs = docker_client.api.inspect_image(SAMPLE)
    manifest = ecr.manifest_of(session, REPO, "v1")
    pushed = [(r.digest, r.size) for r in result.layers if r.kind == "layer"]
    assert len(manifest["layers"]) == len(attrs["RootFS"]["Layers"]) >= 4
    assert [(layer["digest"], layer["size"]) for layer in manifest["layers"]] == pushed
    assert manifest["config"]["digest"] == attrs["Id"] == sample.image_id
    client = session.client("ecr")
    measured = client.batch_check_layer_availability(repositoryName=REPO, layerDigests=[d for d, _ in pushed])
    assert {(x["layerDigest"], x["layerSize"]) for x in measured["layers"]} == set(pushed)  # sizes the server counted
    detail = client.describe_images(repositoryName=REPO, imageIds=[{"imageTag": "v1"}])["imageDetails"][0]
    raw = client.batch_get_image(repositoryName=REPO, imageIds=[{"imageTag": "v1"}])["images"][0]["imageManifest"]
    assert detail["imageDigest"] == result.digest == "sha256:" + hashlib.sha256(raw.encode()).hexdigest()
    assert detail["imageSizeInBytes"] == sum(size for _, size in pushed)
    assert result.bytes_uploaded == sum(size for _, size in pushed) + manifest["config"]["size"]
    assert (result.layers_uploaded, result.layers_skipped) == (len(pushed) + 1, 0)
    assert docker_client.api.inspect_image(f"{uri}:v1")["Id"] == attrs["Id"]  # as `docker push` users expect

    again = ecr.push_image(session, SAMPLE, REPO, "v1", progress=False)
    assert (again.bytes_uploaded, again.layers_uploaded, again.layers_skipped) == (0, 0, len(pushed) + 1)
    assert again.digest == result.digest

    docker_client.images.remove(f"{uri}:v1")  # docker pull verifies every digest on the way in
    pulled = docker_client.images.pull(uri, tag="v1", auth_config=login(session))
    assert pulled.id == attrs["Id"]
    ran = docker_client.containers.run(f"{uri}:v1", ["echo", "pulled and ran"], remove=True)  # entrypoint execs it
    assert ran.strip().endswith(b"pulled and ran")


def test_an_image_sharing_its_base_uploads_only_its_own_layers(session, sample, derived, docker_client, cold_cache):
    ecr.ensure_repository(session, REPO)
    base = ecr.push_image(session, SAMPLE, REPO, "base", progress=False)
    child = ecr.push_image(session, DERIVED, REPO, "child", progress=False)
    base_layers = [r.digest for r in base.layers if r.kind == "layer"]
    child_layers = [r for r in child.layers if r.kind == "layer"]
    assert [r.digest for r in child_layers[:-1]] == base_layers
    assert [r.status for r in child_layers] == ["skipped"] * len(base_layers) + ["uploaded"]
    config = next(r for r in child.layers if r.kind == "config")
    assert child.layers_uploaded == 2 and child.bytes_uploaded == child_layers[-1].size + config.size


def test_layers_compressed_as_the_engine_streams_them_are_those_an_archive_gives(session, sample, docker_client,
                                                                                 tmp_path, monkeypatch):
    ecr.ensure_repository(session, REPO)
    monkeypatch.setenv("FARGATE_LAB_STATE_DIR", str(tmp_path / "engine-cache"))  # cold: every layer compressed
    engine = ecr.push_image(session, SAMPLE, REPO, "streamed", progress=False)
    archive = save(docker_client, SAMPLE, tmp_path / "docker-archive.tar")
    monkeypatch.setenv("FARGATE_LAB_STATE_DIR", str(tmp_path / "archive-cache"))  # cold again, another source
    again = ecr.push_image(session, archive, REPO, "streamed", progress=False)
    assert again.digest == engine.digest and again.bytes_uploaded == 0  # same compressed digests, nothing sent


def test_docker_archive_oci_archive_and_oci_directory_push_the_same_image(session, sample, docker_client, tmp_path):
    ecr.ensure_repository(session, REPO)
    engine = ecr.push_image(session, SAMPLE, REPO, "engine", progress=False)
    archive = save(docker_client, SAMPLE, tmp_path / "docker-archive.tar")
    with tarfile.open(archive) as tar:
        layout = "index.json" if "index.json" in tar.getnames() else "manifest.json"
    oci_dir = docker_archive_to_oci(archive, tmp_path / "oci")
    oci_tar = tmp_path / "oci.tar"
    with tarfile.open(oci_tar, "w") as tar:
        for path in sorted(oci_dir.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(oci_dir)), recursive=False)
    digests = {engine.digest}
    for source, tag in ((archive, "archive"), (oci_tar, "oci-tar"), (oci_dir, "oci-dir")):
        result = ecr.push_image(session, source, REPO, tag, progress=False)
        assert result.bytes_uploaded == 0, f"{tag}: the same layers compress to the same digests"
        digests.add(result.digest)
    assert len(digests) == 1, f"every source gives the same manifest (the engine wrote {layout})"


def docker_archive_to_oci(archive: Path, out: Path) -> Path:
    """An OCI image layout (Docker 25+'s `docker save` layout) of a docker-archive, uncompressed layers."""
    blobs = out / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> dict:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    with tarfile.open(archive) as tar:
        entry = json.loads(tar.extractfile("manifest.json").read())[0]
        config = put(tar.extractfile(entry["Config"]).read())
        layers = [put(tar.extractfile(name).read()) for name in entry["Layers"]]
    manifest = put(json.dumps({
        "schemaVersion": 2, "mediaType": images.OCI_MANIFEST,
        "config": {"mediaType": images.OCI_CONFIG, **config},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **layer} for layer in layers],
    }).encode())
    (out / "index.json").write_text(json.dumps({"schemaVersion": 2, "mediaType": images.OCI_INDEX, "manifests": [
        {"mediaType": images.OCI_MANIFEST, **manifest, "annotations": {"io.containerd.image.name": SAMPLE}}]}))
    (out / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    return out


def test_truncated_docker_archive_is_refused_and_no_tag_is_created(session, sample, docker_client, tmp_path):
    ecr.ensure_repository(session, REPO)
    archive = save(docker_client, SAMPLE, tmp_path / "image.tar")
    cut = tmp_path / "cut.tar"
    cut.write_bytes(archive.read_bytes()[: int(archive.stat().st_size * 0.6)])
    with pytest.raises(InvalidImageArchive, match="truncated|incomplete"):
        ecr.push_image(session, cut, REPO, "cut", progress=False)
    assert session.client("ecr").list_images(repositoryName=REPO)["imageIds"] == []


def test_an_image_that_does_not_exist(session, docker_client):
    ecr.ensure_repository(session, REPO)
    with pytest.raises(ImageNotFound, match="no image 'fargate-lab-test/no-such-image:none'"):
        ecr.push_image(session, "fargate-lab-test/no-such-image:none", REPO, "v1", progress=False)
    with pytest.raises(ImageNotFound, match="no image"):
        ecr.docker_push(session, "fargate-lab-test/no-such-image:none", REPO, "v1", progress=False)
    assert session.client("ecr").list_images(repositoryName=REPO)["imageIds"] == []


def test_an_immutable_tag_is_not_overwritten(session, sample, derived):
    ecr.ensure_repository(session, REPO, tag_mutability="IMMUTABLE")
    first = ecr.push_image(session, SAMPLE, REPO, "v1", progress=False)
    with pytest.raises(ImageTagAlreadyExists, match="'v1' already names image .* IMMUTABLE .*new tag"):
        ecr.push_image(session, DERIVED, REPO, "v1", progress=False)
    assert ecr.image_table(session, REPO)["digest"].tolist() == [first.digest]
    assert ecr.push_image(session, SAMPLE, REPO, "v1", progress=False).digest == first.digest  # same image: fine


def test_docker_push_to_the_embedded_registry(session, sample, docker_client, engine_refs, capfd):
    uri = ecr.ensure_repository(session, REPO)
    engine_refs.append(f"{uri}:d1")
    password = login(session)["password"]
    result = ecr.docker_push(session, SAMPLE, REPO, "d1")
    assert result.digest == ecr.image_table(session, REPO).set_index("tag").loc["d1", "digest"]
    manifest = ecr.manifest_of(session, REPO, "d1")
    blobs = [(layer["digest"], layer["size"]) for layer in [*manifest["layers"], manifest["config"]]]
    assert [(r.digest, r.size) for r in result.layers] == blobs
    assert set(result.layers_frame()["status"]) == {"uploaded"}
    assert result.layers_uploaded == len(docker_client.api.inspect_image(SAMPLE)["RootFS"]["Layers"]) + 1
    assert result.bytes_uploaded == sum(size for _, size in blobs)
    again = ecr.docker_push(session, SAMPLE, REPO, "d1")
    assert (again.layers_uploaded, again.bytes_uploaded, again.digest) == (0, 0, result.digest)
    assert set(again.layers_frame()["status"]) == {"skipped"}
    out, err = capfd.readouterr()
    assert password not in out + err + repr(result) + repr(again)
