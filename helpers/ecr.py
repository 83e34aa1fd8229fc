"""Amazon ECR: repositories, pushing images through the ECR API (no Docker daemon needed) or through Docker.

``push_image`` does what ``docker push`` does, in the open: it asks ECR which blobs the repository already has
(``batch_check_layer_availability``), uploads only the others in the part size ECR gives
(``initiate_layer_upload``, ``upload_layer_part``, ``complete_layer_upload``), and only when every blob is in,
writes the manifest under the tag (``put_image``). A failed layer leaves no tag pointing at a partial image.
"""

from __future__ import annotations

import base64
import io
import json
import queue
import re
import tempfile
import threading
import time
import weakref
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
from botocore.exceptions import ClientError

from helpers import ecr_parts, images
from helpers import progress as progress_bars
from helpers.errors import (
    DockerUnavailable,
    ImageNotFound,
    ImageTagAlreadyExists,
    InvalidParameter,
    PushFailed,
    RepositoryNotFound,
)
from helpers.tags import as_aws, is_suite_tagged, suite_tags

REPOSITORY_NAME = re.compile(r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*")
IMAGE_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
TAG_MUTABILITY = ("MUTABLE", "IMMUTABLE")
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNDEFINED")
#: batch_check_layer_availability and batch_get_image take at most 100 ids a call.
BATCH = 100
#: parallel jobs (each compresses, checks and uploads one blob)
WORKERS = 3


# --- validation -----------------------------------------------------------------------------------------------

def validate_repository_name(name: object) -> str:
    """``name`` if ECR accepts it as a repository name; InvalidParameter (naming the rule) otherwise."""
    rule = ("2-256 characters: lowercase letters, digits, and '.', '_', '-' between them, "
            "optionally in '/'-separated parts, e.g. 'fargate-lab/sample-app'")
    if not isinstance(name, str) or not 2 <= len(name) <= 256 or not REPOSITORY_NAME.fullmatch(name):
        raise InvalidParameter("repository", name, rule)
    return name


def validate_tag(tag: object, name: str = "tag") -> str:
    """``tag`` when ECR accepts it as an image tag; ``name`` is the parameter the caller knows it by."""
    if not isinstance(tag, str) or not IMAGE_TAG.fullmatch(tag) or tag.startswith("sha256:"):
        raise InvalidParameter(name, tag, "1-128 characters: letters, digits, '_', '.', '-', not starting with '.' or '-'")
    return tag


# --- repositories -----------------------------------------------------------------------------------------------

def ensure_repository(session: boto3.Session, name: str, *, scan_on_push: bool = True, tag_mutability: str = "MUTABLE",
                      lifecycle_policy: dict | str | None = None, tags: dict[str, str] | None = None) -> str:
    """The URI of repository ``name``, created with the suite's tags if it does not exist yet.

    Idempotent: an existing repository gets the asked tag mutability, scan-on-push setting and lifecycle
    policy. A repository the suite did not create keeps its tags (the suite does not claim it).
    """
    validate_repository_name(name)
    if tag_mutability not in TAG_MUTABILITY:
        raise InvalidParameter("tag_mutability", tag_mutability, "'MUTABLE' or 'IMMUTABLE'")
    policy_text = _policy_text(lifecycle_policy)
    ecr = session.client("ecr")
    try:
        repo = ecr.create_repository(
            repositoryName=name, tags=as_aws(suite_tags(tags)), imageTagMutability=tag_mutability,
            imageScanningConfiguration={"scanOnPush": scan_on_push},
        )["repository"]
    except ecr.exceptions.RepositoryAlreadyExistsException:
        repo = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
        if repo.get("imageTagMutability") != tag_mutability:
            ecr.put_image_tag_mutability(repositoryName=name, imageTagMutability=tag_mutability)
        if repo.get("imageScanningConfiguration", {}).get("scanOnPush") != scan_on_push:
            ecr.put_image_scanning_configuration(repositoryName=name,
                                                 imageScanningConfiguration={"scanOnPush": scan_on_push})
        current = ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"]).get("tags", [])
        if tags and is_suite_tagged(current):
            ecr.tag_resource(resourceArn=repo["repositoryArn"], tags=as_aws(tags))
    if policy_text is not None:
        ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=policy_text)
    return repo["repositoryUri"]


def _policy_text(policy: dict | str | None) -> str | None:
    if policy is None:
        return None
    try:
        parsed = json.loads(policy) if isinstance(policy, str) else policy
        assert isinstance(parsed, dict) and isinstance(parsed.get("rules"), list)
    except (ValueError, AssertionError):
        raise InvalidParameter("lifecycle_policy", policy, "a dict (or JSON text) with a 'rules' list, as ECR's "
                               "put_lifecycle_policy takes") from None
    return json.dumps(parsed)


def describe_repository(session: boto3.Session, name: str) -> dict[str, Any]:
    """The repository's settings and tags, flat, for a notebook to show."""
    validate_repository_name(name)
    ecr = session.client("ecr")
    repo = _repository(ecr, name)
    tags = ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"]).get("tags", [])
    return {
        "name": repo["repositoryName"], "uri": repo["repositoryUri"], "arn": repo["repositoryArn"],
        "tag_mutability": repo.get("imageTagMutability"),
        "scan_on_push": repo.get("imageScanningConfiguration", {}).get("scanOnPush"),
        "created_at": repo.get("createdAt"), "tags": {t["Key"]: t["Value"] for t in tags},
    }


def repository_summary(session: boto3.Session, name: str) -> str:
    """What a learner needs of a repository: its URI (what ``docker pull`` and a task use) and its settings."""
    repo = describe_repository(session, name)
    scan = "scanned on push" if repo["scan_on_push"] else "not scanned on push"
    return f"repository {repo['name']}: {repo['uri']}\n{repo['tag_mutability'].lower()} tags, {scan}"


def _repository(ecr: Any, name: str) -> dict[str, Any]:
    try:
        return ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
    except ecr.exceptions.RepositoryNotFoundException:
        raise RepositoryNotFound(
            f"the ECR repository {name!r} does not exist; create it first with helpers.ecr.ensure_repository(session, {name!r})"
        ) from None


# --- pushing through the ECR API ----------------------------------------------------------------------------------

@dataclass
class LayerReport:
    digest: str
    size: int
    status: str  # "uploaded" or "skipped" (the repository had it)
    kind: str = "layer"  # "layer" or "config"


@dataclass
class PushResult:
    """What a push did. ``bytes_uploaded`` counts blob bytes sent (0 when the repository had everything)."""

    repository: str
    repository_uri: str
    tag: str
    digest: str
    bytes_uploaded: int
    layers_uploaded: int
    layers_skipped: int
    seconds: float
    method: str  # "api" or "docker"
    source: str = ""
    layers: list[LayerReport] = field(default_factory=list)
    #: docker push only: the short layer ids Docker reported as pushed
    layers_pushed_ids: list[str] = field(default_factory=list, repr=False)

    @property
    def image_uri(self) -> str:
        return f"{self.repository_uri}:{self.tag}"

    def layers_frame(self) -> pd.DataFrame:
        """One row per blob: kind, digest, compressed size, and whether this push uploaded it."""
        return pd.DataFrame([vars(layer) for layer in self.layers], columns=["kind", "digest", "size", "status"])

    def summary(self) -> str:
        return (f"{self.image_uri} -> {self.digest}: {self.layers_uploaded} blob(s) uploaded "
                f"({self.bytes_uploaded:,} bytes), {self.layers_skipped} already there, {self.seconds:.2f} s")


def push_image(session: boto3.Session, source: str | Path, repository: str, tag: str, *,
               progress: bool = True, client: Any | None = None) -> PushResult:
    """Push ``source`` (a local Docker image, a ``docker save`` archive or an OCI layout directory) to ECR.

    Blobs the repository already has are not uploaded; a second push of the same image uploads nothing.
    Layers are compressed and uploaded in parallel; the tag is written last (``put_image``), only once every
    blob is in.
    """
    started = time.perf_counter()
    validate_repository_name(repository)
    validate_tag(tag)
    ecr = _client(session)
    repo = _repository(ecr, repository)
    existing = _tagged_digest(ecr, repository, tag) if repo.get("imageTagMutability") == "IMMUTABLE" else None
    with images.open_source(source, client) as image, tempfile.TemporaryDirectory(prefix="fargate-lab-push-") as tmp:
        plan = _Plan(image, Path(tmp))
        if existing:  # know the new digest before anything is uploaded
            plan.compress_all()
            if existing != plan.manifest_digest():
                raise ImageTagAlreadyExists(
                    f"the tag {tag!r} already names image {existing[:19]}... in the IMMUTABLE repository "
                    f"{repository!r}; nothing was pushed. Push under a new tag (for example a version number)."
                )
        uploaded = _Uploader(ecr, repository, plan, progress).run()
        manifest = plan.manifest()
        digest = images.sha256_digest(manifest.encode())
        if not uploaded and existing is None:  # everything was there: the tag may already name this image
            existing = _tagged_digest(ecr, repository, tag)  # a read, cheaper than a PutImage ECR refuses
        if existing != digest:  # the same image under the same tag: PutImage would refuse it (ImageAlreadyExists)
            _put_image(ecr, repository, tag, manifest)
        plan.remember()
        if image.engine_image_id and f"{repo['repositoryUri']}:{tag}" not in image.engine_tags:
            (client or image.engine_client or _engine()).api.tag(image.engine_image_id, repo["repositoryUri"], tag)
        reports = plan.reports(set(uploaded))
        return PushResult(
            repository=repository, repository_uri=repo["repositoryUri"], tag=tag, digest=digest,
            bytes_uploaded=sum(uploaded.values()), layers_uploaded=len(uploaded),
            layers_skipped=len({r.digest for r in reports}) - len(uploaded), seconds=time.perf_counter() - started,
            method="api", source=image.description, layers=reports,
        )


#: one ECR client per session for pushes: making one takes longer than a whole re-push's three calls
_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_clients_lock = threading.Lock()


def _client(session: boto3.Session) -> Any:
    with _clients_lock:
        if session not in _clients:
            _clients[session] = ecr_parts.enable(session.client("ecr"))
        return _clients[session]


def _put_image(ecr: Any, repository: str, tag: str, manifest: str) -> None:
    try:
        ecr.put_image(repositoryName=repository, imageManifest=manifest,
                      imageManifestMediaType=images.DOCKER_MANIFEST, imageTag=tag)
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code == "ImageTagAlreadyExistsException":
            raise ImageTagAlreadyExists(f"the tag {tag!r} already exists in the IMMUTABLE repository "
                                        f"{repository!r}; push under a new tag") from None
        if code != "ImageAlreadyExistsException":  # pushed meanwhile by someone else: nothing to do
            raise


class _Plan:
    """The blobs of one image: digests from the source or the layer cache where known, compressed on demand."""

    def __init__(self, image: images.SourceImage, tmp: Path) -> None:
        self.image = image
        self.tmp = tmp
        self.cache = images.LayerCache()
        self.blobs: dict[str, images.Blob] = {}
        self._lock = threading.Lock()
        known = [self.cache.get(d) for d in image.diff_ids]
        config = self.cache.get(image.config_digest)
        #: per layer: {"digest", "size"} once known, else {} (compressed on demand)
        self.layers: list[dict[str, Any]] = [dict(k) if k else {} for k in known]
        self._config_size: int | None = config["size"] if config else None
        if not all(self.layers):  # what does the source know without compressing?
            for i, layer in enumerate(image.layers):
                if layer.compressed:
                    self.layers[i] = {"digest": layer.digest, "size": layer.size}

    @property
    def config_size(self) -> int:
        if self._config_size is None:
            self._config_size = len(self.image.config)
        return self._config_size

    def known_digests(self) -> list[str]:
        return [layer["digest"] for layer in self.layers if layer] + [self.image.config_digest]

    def unique_indexes(self) -> list[int]:
        """One index per distinct layer (an image may hold the same layer twice)."""
        seen: dict[str, int] = {}
        for i, diff_id in enumerate(self.image.diff_ids or [str(i) for i in range(len(self.layers))]):
            seen.setdefault(diff_id, i)
        return sorted(seen.values())

    def needs_compression(self, i: int) -> bool:
        layer = self.image.layers[i]
        return not layer.compressed and self.layers[i].get("digest") not in self.blobs

    def blob(self, i: int, tick: Any = None, sink: Any = None) -> images.Blob:
        """Layer ``i`` as an uploadable blob, compressing it now when needed (``sink`` gets the output as made)."""
        layer = self.image.layers[i]
        if layer.compressed:
            return images.Blob(layer.digest or "", layer.size or 0, layer.open)
        digest = self.layers[i].get("digest")
        if digest in self.blobs:
            return self.blobs[digest]
        blob = images.compress_layer(layer, self.tmp / f"layer-{i}.gz", tick, sink)
        with self._lock:
            if digest and digest != blob.digest:  # another zlib than the one the cache remembers: use the new one
                self.cache.put(layer.diff_id or "", {"digest": blob.digest, "size": blob.size})
            for j, diff_id in enumerate(self.image.diff_ids):
                if diff_id == layer.diff_id:
                    self.layers[j] = {"digest": blob.digest, "size": blob.size}
            self.blobs[blob.digest] = blob
        return blob

    def config_blob(self) -> images.Blob:
        config = self.image.config
        return images.Blob(self.image.config_digest, len(config), lambda: io.BytesIO(config))

    def compress_all(self) -> None:
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            list(pool.map(self.blob, [i for i in self.unique_indexes() if not self.layers[i]]))

    def manifest(self) -> str:
        return json.dumps({
            "schemaVersion": 2, "mediaType": images.DOCKER_MANIFEST,
            "config": {"mediaType": images.DOCKER_CONFIG, "size": self.config_size, "digest": self.image.config_digest},
            "layers": [{"mediaType": images.DOCKER_LAYER, "size": layer["size"], "digest": layer["digest"]}
                       for layer in self.layers],
        }, indent=3)

    def manifest_digest(self) -> str:
        return images.sha256_digest(self.manifest().encode())

    def remember(self) -> None:
        for diff_id, layer in zip(self.image.diff_ids, self.layers, strict=False):
            if diff_id and self.cache.get(diff_id) is None:
                self.cache.put(diff_id, {"digest": layer["digest"], "size": layer["size"]})
        if self.cache.get(self.image.config_digest) is None:
            self.cache.put(self.image.config_digest, {"size": self.config_size})

    def reports(self, uploaded: set[str]) -> list[LayerReport]:
        rows = [LayerReport(layer["digest"], layer["size"], "uploaded" if layer["digest"] in uploaded else "skipped")
                for layer in self.layers]
        config = self.image.config_digest
        rows.append(LayerReport(config, self.config_size, "uploaded" if config in uploaded else "skipped", "config"))
        return rows


class _Uploader:
    """Compress, check and upload each needed blob; jobs overlap, so one layer uploads while the next compresses.

    A layer that must be compressed is uploaded while it compresses, as ``docker push`` does: its parts go out as
    the compressor makes them, and its digest, known only at the end, goes into ``complete_layer_upload``. ECR
    answers ``LayerAlreadyExistsException`` there when the repository had it after all (pushed from elsewhere,
    so this machine's layer cache did not know its digest): it then counts as skipped.
    """

    def __init__(self, ecr: Any, repository: str, plan: _Plan, progress: bool) -> None:
        self.ecr, self.repository, self.plan = ecr, repository, plan
        self.sent: dict[str, int] = {}
        self.lock = threading.Lock()
        self.bar = progress_bars.bar(0, unit="B", unit_scale=True, desc="uploading", disable=not progress)

    def run(self) -> dict[str, int]:
        available = _available(self.ecr, self.repository, self.plan.known_digests())
        jobs = [i for i in self.plan.unique_indexes()
                if not self.plan.layers[i] or self.plan.layers[i]["digest"] not in available]
        config_needed = self.plan.image.config_digest not in available
        try:
            # a local engine's layers arrive in the save's order, not the image's: a job per layer, so that none
            # waits behind a layer still to come (each waits for its own, compressed as it arrived)
            workers = min(max(WORKERS, len(jobs) + 1), 8) if self.plan.image.engine_image_id else WORKERS
            with ThreadPoolExecutor(max_workers=workers) as pool:
                futures = [pool.submit(self._layer, i, bool(self.plan.layers[i])) for i in jobs]
                if config_needed:
                    futures.append(pool.submit(lambda: self._send(self.plan.config_blob())))
                try:
                    for future in futures:
                        future.result()
                except BaseException:
                    pool.shutdown(wait=True, cancel_futures=True)  # one blob failed: start no other
                    raise
        except ClientError as exc:
            raise PushFailed(f"uploading a layer to {self.repository!r} failed, so no tag was written: "
                             f"{exc.response['Error'].get('Message') or exc}") from exc
        finally:
            self.bar.close()
        return self.sent

    def _layer(self, i: int, checked: bool) -> None:
        if self.plan.needs_compression(i):
            try:
                self._stream(i)
                return
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "InvalidLayerPartException":
                    raise
            # a part's answer was lost and its retry refused: upload the (now compressed) blob again from its file
        blob = self.plan.blob(i)
        if not checked and blob.digest in _available(self.ecr, self.repository, [blob.digest]):
            return
        self._send(blob)

    def _stream(self, i: int) -> None:
        """Compress layer ``i`` in a thread of its own and upload each part as soon as the compressor has made it."""
        upload = self.ecr.initiate_layer_upload(repositoryName=self.repository)
        part_size = int(upload["partSize"])
        parts: queue.Queue = queue.Queue(maxsize=2)  # compressed parts waiting: bounds the memory a layer takes
        stop = threading.Event()
        pending: list[bytes] = []  # compressed output not yet in a part
        waiting = 0

        def sink(data: bytes) -> None:
            nonlocal waiting
            pending.append(data)
            waiting += len(data)
            if waiting >= part_size:
                joined = b"".join(pending)
                pending.clear()
                for start in range(0, len(joined) - part_size + 1, part_size):
                    _put(joined[start:start + part_size])
                rest = joined[len(joined) - len(joined) % part_size:]
                pending.extend([rest] if rest else [])
                waiting = len(rest)

        def _put(item: Any) -> None:
            while not stop.is_set():
                try:
                    parts.put(item, timeout=0.5)
                    return
                except queue.Full:
                    continue
            raise _Stopped

        def compress() -> None:
            try:
                blob = self.plan.blob(i, sink=sink)
                if pending:
                    _put(b"".join(pending))
                _put(blob)
            except _Stopped:
                pass
            except BaseException as exc:  # noqa: BLE001 - handed to the uploading thread, which raises it
                try:
                    _put(exc)
                except _Stopped:
                    pass

        def produced() -> Iterable[bytes]:
            while True:
                item = parts.get()
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, images.Blob):
                    result.append(item)
                    return
                with self.lock:
                    self.bar.total += len(item)
                yield item

        result: list[images.Blob] = []
        worker = threading.Thread(target=compress, name=f"compress-layer-{i}", daemon=True)
        worker.start()
        try:
            sent = _send_parts(self.ecr, self.repository, upload["uploadId"], produced(), self._tick)
        finally:
            stop.set()
            worker.join()
        blob = result[0]
        if sent < blob.size:  # another job had compressed this layer already: send the rest from its file
            with blob.open() as stream:
                stream.seek(sent)
                sent += _send_parts(self.ecr, self.repository, upload["uploadId"],
                                    iter(lambda: stream.read(part_size), b""), self._tick, first=sent)
        if sent != blob.size:
            raise PushFailed(f"the blob {blob.digest} had {sent} bytes, {blob.size} expected")
        if _complete_upload(self.ecr, self.repository, upload["uploadId"], blob.digest):
            with self.lock:
                self.sent[blob.digest] = blob.size

    def _send(self, blob: images.Blob) -> None:
        with self.lock:
            self.bar.total += blob.size
            self.bar.refresh()
        if _upload_blob(self.ecr, self.repository, blob, self._tick):
            with self.lock:
                self.sent[blob.digest] = blob.size

    def _tick(self, n: int) -> None:
        with self.lock:
            self.bar.update(n)


class _Stopped(Exception):
    """The uploading side of a streamed layer gave up: the compressing side stops too."""


def _tagged_digest(ecr: Any, repository: str, tag: str) -> str | None:
    try:
        details = ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])["imageDetails"]
    except ecr.exceptions.ImageNotFoundException:
        return None
    return details[0]["imageDigest"] if details else None


def _available(ecr: Any, repository: str, digests: list[str]) -> set[str]:
    found: set[str] = set()
    unique = list(dict.fromkeys(digests))
    for start in range(0, len(unique), BATCH):
        answer = ecr.batch_check_layer_availability(repositoryName=repository, layerDigests=unique[start:start + BATCH])
        found |= {layer["layerDigest"] for layer in answer.get("layers", []) if layer.get("layerAvailability") == "AVAILABLE"}
    return found


def _upload_blob(ecr: Any, repository: str, blob: images.Blob, tick: Any, attempts: int = 3) -> bool:
    """One blob in ECR's part size; False when ECR already had it (uploaded meanwhile by someone else).

    A part whose answer was lost is retried by botocore and refused (the upload moved past it): the blob is
    then uploaded again under a new upload id, up to ``attempts`` times.
    """
    for attempt in range(1, attempts + 1):
        try:
            return _upload_blob_once(ecr, repository, blob, tick)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "InvalidLayerPartException" or attempt == attempts:
                raise
    raise AssertionError("unreachable")


def _upload_blob_once(ecr: Any, repository: str, blob: images.Blob, tick: Any) -> bool:
    upload = ecr.initiate_layer_upload(repositoryName=repository)
    part_size = int(upload["partSize"])
    with blob.open() as stream:
        sent = _send_parts(ecr, repository, upload["uploadId"], iter(lambda: stream.read(part_size), b""), tick)
    if sent != blob.size:
        raise PushFailed(f"the blob {blob.digest} had {sent} bytes, {blob.size} expected: the source changed or is truncated")
    return _complete_upload(ecr, repository, upload["uploadId"], blob.digest)


def _send_parts(ecr: Any, repository: str, upload_id: str, parts: Iterable[bytes], tick: Any, first: int = 0) -> int:
    """Upload each part in order from byte ``first``; the number of bytes sent."""
    sent = 0
    for part in parts:
        ecr_parts.upload_part(ecr, repository, upload_id, first + sent, part)
        sent += len(part)
        tick(len(part))
    return sent


def _complete_upload(ecr: Any, repository: str, upload_id: str, digest: str) -> bool:
    """Complete the upload; False when ECR already had the blob."""
    try:
        ecr.complete_layer_upload(repositoryName=repository, uploadId=upload_id, layerDigests=[digest])
    except ecr.exceptions.LayerAlreadyExistsException:
        return False
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "LayerAlreadyExistsException":
            return False
        if exc.response["Error"]["Code"] == "UploadNotFoundException" and _available(ecr, repository, [digest]):
            return True  # a retry of a completion whose answer was lost: our upload went through
        raise
    return True


def _engine() -> Any:
    from helpers.engine import docker_client

    client = docker_client()
    if client is None:
        raise DockerUnavailable("no Docker engine answers; start Docker (or use method='api' with an archive)")
    return client


# --- pushing through Docker -------------------------------------------------------------------------------------

def docker_push(session: boto3.Session, image: str, repository: str, tag: str, *, progress: bool = True,
                client: Any | None = None) -> PushResult:
    """``docker tag`` + ``docker push`` to the repository, logged in with ECR's token (never printed or kept).

    The registry is the one the repository URI names (ECR's, or the embedded backend's). The result lists
    each blob from the manifest ECR holds afterwards (compressed sizes, as ``push_image`` reports them).
    """
    started = time.perf_counter()
    validate_repository_name(repository)
    validate_tag(tag)
    client = images.for_long_calls(client or _engine_or_explain())
    import docker.errors

    try:
        client.api.inspect_image(image)
    except docker.errors.ImageNotFound:
        raise ImageNotFound(f"the local Docker engine has no image {image!r}; list images with `docker images`") from None
    ecr = session.client("ecr")
    uri = _repository(ecr, repository)["repositoryUri"]
    auth = ecr.get_authorization_token()["authorizationData"][0]
    username, _, password = base64.b64decode(auth["authorizationToken"]).decode().partition(":")
    client.api.tag(image, uri, tag)
    stream = client.api.push(uri, tag=tag, stream=True, decode=True,
                             auth_config={"username": username, "password": password})
    del password
    result = _follow_push(stream, repository, uri, tag, image, progress, started)
    return _with_blobs(ecr, result, client.api.inspect_image(image)["RootFS"]["Layers"])


def _with_blobs(ecr: Any, result: PushResult, diff_ids: list[str]) -> PushResult:
    """Fill in each blob of a ``docker push`` from the manifest ECR now holds, in compressed bytes as ``push_image``.

    Docker names a layer in its progress by its diff_id's first 12 hex digits; the manifest lists the layers in
    the same order. Docker does not report the config blob: it counts as uploaded when any layer was.
    """
    answer = ecr.batch_get_image(repositoryName=result.repository, imageIds=[{"imageDigest": result.digest}])
    if not answer.get("images"):
        return result
    manifest = json.loads(answer["images"][0]["imageManifest"])
    pushed = set(result.layers_pushed_ids)
    rows = [LayerReport(layer["digest"], int(layer["size"]), "uploaded" if diff_id[7:19] in pushed else "skipped")
            for diff_id, layer in zip(diff_ids, manifest.get("layers", []), strict=False)]
    config = manifest.get("config", {})
    rows.append(LayerReport(config.get("digest", ""), int(config.get("size", 0)),
                            "uploaded" if pushed else "skipped", "config"))
    uploaded = [row for row in rows if row.status == "uploaded"]
    result.layers = rows
    result.bytes_uploaded = sum(row.size for row in uploaded)
    result.layers_uploaded = len(uploaded)
    result.layers_skipped = len(rows) - len(uploaded)
    return result


def _follow_push(stream: Iterable[dict], repository: str, uri: str, tag: str, image: str, progress: bool,
                 started: float) -> PushResult:
    totals: dict[str, int] = {}
    done: dict[str, int] = {}
    pushed, skipped = set(), set()
    digest = None
    bar = progress_bars.bar(0, unit="B", unit_scale=True, desc="docker push", disable=not progress)
    try:
        for event in stream:
            if "error" in event:
                raise PushFailed(f"docker push to {uri}:{tag} failed: {event.get('errorDetail', {}).get('message') or event['error']}")
            layer, status = event.get("id"), event.get("status", "")
            detail = event.get("progressDetail") or {}
            if layer and detail.get("total"):
                if layer not in totals:
                    totals[layer] = int(detail["total"])
                    bar.total = sum(totals.values())
                    bar.refresh()
                current = int(detail.get("current", 0))
                bar.update(max(0, current - done.get(layer, 0)))
                done[layer] = max(current, done.get(layer, 0))
            if layer and status == "Pushed":
                pushed.add(layer)
            elif layer and (status == "Layer already exists" or status.startswith("Mounted from")):
                skipped.add(layer)
            if "aux" in event and "Digest" in event["aux"]:
                digest = event["aux"]["Digest"]
    finally:
        bar.close()
    if digest is None:
        raise PushFailed(f"docker push to {uri}:{tag} ended without a digest")
    result = PushResult(repository=repository, repository_uri=uri, tag=tag, digest=digest,
                        bytes_uploaded=sum(done.get(layer, 0) for layer in pushed), layers_uploaded=len(pushed),
                        layers_skipped=len(skipped), seconds=time.perf_counter() - started, method="docker",
                        source=f"local Docker image {image}")
    result.layers_pushed_ids = sorted(pushed)
    return result


PUSH_METHODS = ("api", "docker")


def push(session: boto3.Session, source: str | Path, repository: str, tag: str, *, method: str = "api",
         progress: bool = True) -> PushResult:
    """``push_image`` (method "api") or ``docker_push`` (method "docker") of ``source``; checks before any call."""
    if method not in PUSH_METHODS:
        raise InvalidParameter("method", method, "'api' (through the ECR API, no Docker needed) or 'docker'")
    if method == "docker":
        if Path(source).exists():
            raise InvalidParameter("method", method, "'api' for an archive or a directory: 'docker' pushes a "
                                   "local Docker image")
        _engine_or_explain()
    if method == "docker":
        return docker_push(session, str(source), repository, tag, progress=progress)
    return push_image(session, source, repository, tag, progress=progress)


def _engine_or_explain() -> Any:
    from helpers.engine import docker_client

    client = docker_client()
    if client is None:
        raise DockerUnavailable(
            "method='docker' needs a Docker engine and none answers. Start Docker, or use method='api', "
            "which pushes through the ECR API without one."
        )
    return client


# --- what the repository holds ------------------------------------------------------------------------------------

def image_table(session: boto3.Session, repository: str) -> pd.DataFrame:
    """One row per tag (and per untagged image): digest, pushed at, compressed size, scan findings by severity."""
    validate_repository_name(repository)
    ecr = session.client("ecr")
    _repository(ecr, repository)
    details = [d for page in ecr.get_paginator("describe_images").paginate(repositoryName=repository)
               for d in page.get("imageDetails", [])]
    sizes = _manifest_sizes(ecr, repository, [d["imageDigest"] for d in details])
    rows = []
    for detail in details:
        counts = detail.get("imageScanFindingsSummary", {}).get("findingSeverityCounts", {})
        scan = detail.get("imageScanStatus", {}).get("status")
        for tag in detail.get("imageTags") or [None]:
            row = {"tag": tag, "digest": detail["imageDigest"], "pushed_at": detail.get("imagePushedAt"),
                   "size_bytes": sizes.get(detail["imageDigest"], detail.get("imageSizeInBytes")),
                   "scan_status": scan}
            row.update({severity: counts.get(severity, 0) if scan else None for severity in SEVERITIES})
            rows.append(row)
    frame = pd.DataFrame(rows, columns=["tag", "digest", "pushed_at", "size_bytes", "scan_status", *SEVERITIES])
    if not frame.empty:
        frame = frame.sort_values("pushed_at", ascending=False, kind="stable").reset_index(drop=True)
        frame["size_mb"] = (frame["size_bytes"].astype(float) / 1e6).round(2)
    return frame


def _manifest_sizes(ecr: Any, repository: str, digests: list[str]) -> dict[str, int]:
    """Compressed size of each image: the sum of its manifest's layer sizes (what ECR stores and bills)."""
    sizes: dict[str, int] = {}
    unique = list(dict.fromkeys(digests))
    for start in range(0, len(unique), BATCH):
        answer = ecr.batch_get_image(repositoryName=repository,
                                     imageIds=[{"imageDigest": d} for d in unique[start:start + BATCH]])
        for image in answer.get("images", []):
            manifest = json.loads(image["imageManifest"])
            if "layers" in manifest:
                sizes[image["imageId"]["imageDigest"]] = sum(int(layer["size"]) for layer in manifest["layers"])
    return sizes


def manifest_of(session: boto3.Session, repository: str, tag: str) -> dict[str, Any]:
    """The manifest ECR holds for ``repository:tag`` (config and layer digests and sizes)."""
    answer = session.client("ecr").batch_get_image(repositoryName=repository, imageIds=[{"imageTag": tag}])
    if not answer.get("images"):
        raise ImageNotFound(f"{repository}:{tag} is not in ECR")
    return json.loads(answer["images"][0]["imageManifest"])


def manifest_frame(session: boto3.Session, repository: str, tag: str) -> pd.DataFrame:
    """The manifest of ``repository:tag`` as a table: the config, then each layer (digest, size, media type)."""
    manifest = manifest_of(session, repository, tag)
    rows = [{"kind": "config", **manifest["config"]}]
    rows += [{"kind": "layer", **layer} for layer in manifest.get("layers", [])]
    return pd.DataFrame(rows)
