"""ECR as AWS answers it, where moto 5.2.5 differs, plus a blob store the embedded registry serves.

What moto does and ECR does not (each fixed below):

- ``imageSizeInBytes`` is the config blob's size; ECR reports the sum of the manifest's compressed layers.
- ``imageDigest`` is a hash of the layer digests; ECR's is ``sha256`` of the manifest bytes (what
  ``docker pull NAME@DIGEST`` verifies).
- ``CompleteLayerUpload`` accepts any ``layerDigests`` and keeps only the layer's size; ECR checks the
  digest (``InvalidLayerException``), refuses an empty upload and a layer the repository already has
  (``LayerAlreadyExistsException``), and keeps the bytes.
- An upload's parts are kept in memory (a ``bytearray``) and hashed again at completion; here they go to a file in
  the blob store as they arrive, hashed on the way, and completion renames the file (no copy of a layer in memory).
- ``PutImage`` accepts a manifest whose layers were never uploaded; ECR answers ``LayersNotFoundException``.
  For a tag an IMMUTABLE repository already has, ECR answers ``ImageTagAlreadyExistsException``.
- ``DescribeImages`` never reports a scan; ECR gives ``imageScanStatus`` and ``imageScanFindingsSummary``
  (severity counts) once an image has been scanned. Here they follow moto's scan results (``StartImageScan``,
  and the results seeded through ``/moto-api/static/ecr/scan-finding-results``). A push into a repository with
  ``scanOnPush`` gets a basic scan at once, as ECR's basic scanning gives one: COMPLETE, and no findings (the
  emulator has no vulnerability database; ``DescribeImageScanFindings`` knows only StartImageScan's scans).
- ``GetAuthorizationToken`` expires in 2015 and points at ``https://ACCOUNT.dkr.ecr.REGION.amazonaws.com``;
  here it is valid 12 hours and points at the embedded registry (``emulator.fidelity.registry``), and
  ``repositoryUri`` is ``127.0.0.1:PORT/NAME`` so that ``docker push``/``docker pull`` of it work.

Server settings (environment of the server process): ``FARGATE_LAB_ECR_REGISTRY`` (``host:port`` of another
registry that repository URIs and the token's endpoint should name instead, e.g. a Docker registry used in
tests) and ``FARGATE_LAB_ECR_PASSWORD`` (the token's password; a random one per server otherwise).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pybase64
from moto.core.exceptions import ServiceException
from moto.ecr import models as ecr_models
from moto.ecr import responses as ecr_responses
from moto.ecr.models import ecr_backends

from emulator import clock, settings

TOKEN_LIFETIME = timedelta(hours=12)

_password: dict[str, str] = {}
_lock = threading.Lock()


class InvalidLayerException(ServiceException):
    code = "InvalidLayerException"


class LayerAlreadyExistsException(ServiceException):
    code = "LayerAlreadyExistsException"


class EmptyUploadException(ServiceException):
    code = "EmptyUploadException"


class LayersNotFoundException(ServiceException):
    code = "LayersNotFoundException"


class ImageTagAlreadyExistsException(ServiceException):
    code = "ImageTagAlreadyExistsException"


# --- settings ---------------------------------------------------------------------------------------------

def registry_host() -> str:
    """``host:port`` that repository URIs and the token's endpoint name."""
    return settings.current().ecr_registry or f"127.0.0.1:{settings.current().port}"


def password() -> str:
    """The password inside every authorization token of this server (user ``AWS``)."""
    with _lock:
        if "value" not in _password:
            _password["value"] = settings.current().ecr_password or secrets.token_urlsafe(32)
        return _password["value"]


# --- the blob store: layer and config bytes, content-addressed, shared by every repository ---------------

def blob_dir() -> Path:
    from emulator import state_dir

    path = state_dir() / f"ecr-blobs-{settings.current().port}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def blob_path(digest: str) -> Path:
    """Where the bytes of ``digest`` (``sha256:HEX``) are kept (the file may not exist)."""
    algorithm, _, hexdigest = digest.partition(":")
    if algorithm != "sha256" or len(hexdigest) != 64 or not all(c in "0123456789abcdef" for c in hexdigest):
        raise ValueError(f"not a sha256 digest: {digest!r}")
    return blob_dir() / hexdigest


def store_blob(data: bytes | bytearray) -> str:
    """Keep ``data``; return its digest."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = blob_path(digest)
    if not path.exists():
        partial = path.with_suffix(f".{secrets.token_hex(4)}.partial")
        with open(partial, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())  # on disk before an image that names it is acknowledged
        partial.replace(path)
    return digest


class PartFile:
    """An upload's bytes so far, in a file of the blob store, hashed as they arrive.

    It stands where moto keeps a ``bytearray`` (``LayerUpload.layer_parts``) and answers what moto and the
    registry ask of it: ``+= part``, ``len()``, truthiness and ``bytes()``.
    """

    def __init__(self) -> None:
        self.path = blob_dir() / f"upload-{secrets.token_hex(8)}.partial"
        self._file = open(self.path, "wb")
        self._hash = hashlib.sha256()
        self._size = 0
        self._lock = threading.Lock()

    def __iadd__(self, data: bytes | bytearray | memoryview) -> PartFile:
        with self._lock:
            self._file.write(data)
            self._hash.update(data)
            self._size += len(data)
        return self

    def __len__(self) -> int:
        return self._size

    def __bytes__(self) -> bytes:
        with self._lock:
            self._file.flush()
            return self.path.read_bytes()

    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()

    def __getstate__(self) -> dict:
        """A saved upload names its file (flushed), as far as it got; ``__setstate__`` opens it again."""
        with self._lock:
            if not self._file.closed:
                self._file.flush()
            return {"path": str(self.path), "size": self._size}

    def __setstate__(self, state: dict) -> None:
        self.path = Path(state["path"])
        self._lock = threading.Lock()
        self._hash = hashlib.sha256()
        self._size = 0
        if self.path.exists():
            self._file = open(self.path, "r+b")
            self._file.truncate(state["size"])  # bytes past what was saved came after the saved answer
        else:
            self._file = open(self.path, "w+b")
        for chunk in iter(lambda: self._file.read(1024 * 1024), b""):
            self._hash.update(chunk)
            self._size += len(chunk)

    def keep(self) -> str:
        """Make the bytes the blob of their digest (unless the store has it already); the digest."""
        digest = self.digest()
        with self._lock:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            if blob_path(digest).exists():
                self.path.unlink(missing_ok=True)
            else:
                self.path.replace(blob_path(digest))
        return digest

    def discard(self) -> None:
        with self._lock:
            self._file.close()
            self.path.unlink(missing_ok=True)

    def __del__(self) -> None:  # an upload abandoned or cancelled: its file goes with it
        try:
            self.discard()
        except Exception:  # noqa: BLE001 - at interpreter exit the store may be gone already
            pass


def forget_blobs() -> None:
    _push_scans.clear()
    shutil.rmtree(blob_dir(), ignore_errors=True)


# --- lookups shared with the embedded registry and the container runtime ---------------------------------

def find_repository(name: str) -> ecr_models.Repository | None:
    """The repository called ``name`` in any account and region the embedded backend has used."""
    for account in dict.values(ecr_backends):
        for backend in dict.values(account):
            if name in backend.repositories:
                return backend.repositories[name]
    return None


def backend_of(repository: ecr_models.Repository) -> ecr_models.ECRBackend:
    return ecr_backends[repository.account_id][repository.region_name]


def find_image(repository: ecr_models.Repository, reference: str) -> ecr_models.Image | None:
    """The image a tag or a digest names in ``repository``."""
    for image in repository.images:
        if reference.startswith("sha256:") and image.get_image_digest() == reference:
            return image
        if reference in image.image_tags:
            return image
    return None


def manifest_blobs(manifest: dict) -> list[dict]:
    """The config and layer descriptors a manifest references (a manifest list references none)."""
    blobs = [manifest["config"]] if isinstance(manifest.get("config"), dict) else []
    return blobs + [layer for layer in manifest.get("layers", []) if isinstance(layer, dict)]


# --- the fixes ----------------------------------------------------------------------------------------------

#: moto's static scan result when none was seeded (one fake HIGH finding)
MOTO_DEFAULT_SEVERITY_COUNTS = {"HIGH": 1}


#: Basic scans made on push, by (registry, repository, image digest): when each completed. Beside moto's images,
#: not on them; forgotten on reset.
_push_scans: dict[tuple[str, str, str], datetime] = {}


class LabImage(ecr_models.Image):
    """An ECR image reporting what ECR reports: its size, its digest, its scans, its media type and last pull.

    moto's ``put_image`` builds its ``Image`` by name from its models module; ``emulator.extensions`` puts this
    subclass under that name (its ``MODELS`` list), so every image is one of these.
    """

    def get_image_size_in_bytes(self) -> int | None:
        """The sum of the manifest's compressed layers (moto: the config blob's size)."""
        manifest = json.loads(self.image_manifest)
        if "layers" not in manifest:
            return None
        return sum(int(layer.get("size", 0)) for layer in manifest["layers"])

    def _create_digest(self) -> None:
        """``sha256`` of the manifest's bytes, what ``docker pull NAME@DIGEST`` verifies (moto: of layer digests)."""
        self._image_digest = "sha256:" + hashlib.sha256(self.image_manifest.encode()).hexdigest()

    def _push_scanned(self) -> datetime | None:
        return _push_scans.get((self.registry_id, self.repository_name, self.get_image_digest()))

    @property
    def image_scan_status(self) -> dict | None:
        if not self.last_scan and not self._push_scanned():
            return None
        return {"status": "COMPLETE", "description": "The scan was completed successfully."}

    @property
    def image_scan_findings_summary(self) -> dict | None:
        if not self.last_scan:
            scanned = self._push_scanned()
            return None if scanned is None else {
                "findingSeverityCounts": {}, "imageScanCompletedAt": scanned, "vulnerabilitySourceUpdatedAt": scanned}
        seeded = list(self.scan_finding_results.values())
        counts = (seeded[-1].get("imageScanFindings", {}).get("findingSeverityCounts") if seeded
                  else MOTO_DEFAULT_SEVERITY_COUNTS)
        return {"findingSeverityCounts": dict(counts or {}), "imageScanCompletedAt": self.last_scan,
                "vulnerabilitySourceUpdatedAt": self.last_scan}

    @property
    def artifact_media_type(self) -> str | None:
        from emulator.fidelity import ecs_fields

        return ecs_fields.artifact_media_type(self)

    @property
    def last_recorded_pull_time(self) -> datetime | None:
        from emulator.fidelity import ecs_fields

        return ecs_fields.last_pull(self)


def _complete_layer_upload(self, repository_name, upload_id, layer_digests, registry_id=None):
    repository = self._get_repository(repository_name, registry_id)
    upload = repository.uploads.get(upload_id)
    if upload is None:
        raise ecr_models.UploadNotFoundException(upload_id, repository_name, repository.registry_id)
    if not upload.layer_parts:
        del repository.uploads[upload_id]
        raise EmptyUploadException(f"The specified layer upload {upload_id} does not contain any layer parts.")
    parts = upload.layer_parts
    actual = parts.digest() if isinstance(parts, PartFile) else "sha256:" + hashlib.sha256(bytes(parts)).hexdigest()
    del repository.uploads[upload_id]
    if layer_digests and actual not in layer_digests:
        raise InvalidLayerException(
            f"The layer digest calculation performed by Amazon ECR upon receipt of the image layer ({actual}) "
            f"does not match the digest specified ({', '.join(layer_digests)})."
        )
    if actual in repository.layers and blob_path(actual).exists():
        raise LayerAlreadyExistsException(f"The image layer {actual} already exists in the repository {repository_name}.")
    if isinstance(parts, PartFile):
        parts.keep()
    else:
        store_blob(parts)
    repository.layers[actual] = len(parts)
    return {"registryId": repository.registry_id, "repositoryName": repository_name,
            "uploadId": upload_id, "layerDigest": actual}


def _check_put_image(self, repository_name, image_manifest, image_tag) -> None:
    """What ECR refuses before PutImage: layers never uploaded, a changed tag of an IMMUTABLE repository."""
    repository = self.repositories.get(repository_name)
    if repository is not None:
        try:
            manifest = json.loads(image_manifest)
        except (TypeError, ValueError):
            manifest = {}
        missing = [b["digest"] for b in manifest_blobs(manifest) if b.get("digest") not in repository.layers]
        if missing:
            raise LayersNotFoundException(
                f"The image manifest references layers that are not in the repository {repository_name}: "
                + ", ".join(missing)
            )
        existing = find_image(repository, image_tag) if image_tag else None
        if existing is not None and repository.is_tag_immutable() and existing.image_manifest != image_manifest:
            raise ImageTagAlreadyExistsException(
                f"The image tag '{image_tag}' already exists in the '{repository_name}' repository and cannot "
                "be overwritten because the repository is immutable."
            )


def _get_authorization_token(self):
    registry_ids = self._get_param("registryIds") or [self.current_account]
    token = base64.b64encode(f"AWS:{password()}".encode()).decode()
    expires = clock.now() + TOKEN_LIFETIME
    data = [{"authorizationToken": token, "expiresAt": expires, "proxyEndpoint": f"http://{registry_host()}"}
            for _ in registry_ids]
    return ecr_responses.ActionResult({"authorizationData": data})


_BLOB_KEY = re.compile(rb'"layerPartBlob"\s*:\s*"')


def split_part_body(body: bytes) -> tuple[dict, memoryview]:
    """An UploadLayerPart body's members (the blob's text left out) and a view of the blob's base64 text.

    ``json.loads`` of the whole body builds a 27 MB string of a 20 MiB part only to decode it: the blob is
    sliced out instead (base64 needs no JSON escapes) and the few other members parsed as JSON. A body with
    any escape, or not one JSON object, raises ValueError (moto's parser then answers it).
    """
    match = _BLOB_KEY.search(body)
    if match is None or b"\\" in body:
        raise ValueError("no layerPartBlob, or an escape")
    end = body.find(b'"', match.end())
    if end < 0:
        raise ValueError("the blob's text does not end")
    params = json.loads(body[:match.end()] + body[end:])
    if not isinstance(params, dict) or params.get("layerPartBlob") != "":
        raise ValueError("not one JSON object with one layerPartBlob")
    return params, memoryview(body)[match.end():end]


def upload_layer_part_fast(environ: dict, start_response):
    """UploadLayerPart without moto's request parsing, which reads a 27 MB JSON body seven times (a WSGI middleware).

    Only the well-formed, in-order case is answered here; anything else goes on to moto, which raises the
    error ECR would. Same store (the repository's pending upload), same answer.
    """
    if not environ.get("HTTP_X_AMZ_TARGET", "").endswith(".UploadLayerPart"):
        return None
    from werkzeug.wsgi import get_input_stream

    body = get_input_stream(environ).read()
    environ["wsgi.input"] = io.BytesIO(body)  # if moto answers after all, it reads the same body
    environ["CONTENT_LENGTH"] = str(len(body))
    try:
        params, blob = split_part_body(body)
        region = environ.get("HTTP_AUTHORIZATION", "").split("Credential=")[1].split("/")[2]
        name, upload_id, first = params["repositoryName"], params["uploadId"], int(params["partFirstByte"])
        last = int(params["partLastByte"])
        part = pybase64.b64decode(blob, validate=True)
    except (ValueError, KeyError, IndexError, TypeError, binascii.Error):
        return None
    repository = next((b.repositories[name] for account in dict.values(ecr_backends)
                       for r, b in dict.items(account) if r == region and name in b.repositories), None)
    upload = repository.uploads.get(upload_id) if repository is not None else None
    if upload is None or first != upload.last_byte_received + 1:
        return None
    if last - first + 1 != len(part):
        return None
    upload.layer_parts += part
    answer = json.dumps({"registryId": repository.registry_id, "repositoryName": name, "uploadId": upload_id,
                         "lastByteReceived": upload.last_byte_received}).encode()
    start_response("200 OK", [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(answer))),
                              ("x-amzn-RequestId", secrets.token_hex(16))])
    return [answer]


class EcrBackend(ecr_models.ECRBackend):
    """ECR's checks of uploads and PutImage; repository URIs that name the embedded registry."""

    def batch_get_image(self, repository_name: str, registry_id: str | None = None,
                        image_ids: list[dict] | None = None, *args, **kwargs) -> dict:
        """A BatchGetImage is a pull: each image found records its ``lastRecordedPullTime``."""
        from emulator.fidelity import ecs_fields

        answer = super().batch_get_image(repository_name, registry_id, image_ids, *args, **kwargs)
        for image in answer.get("images", []):
            ecs_fields.pulled(image.registry_id, repository_name, image.get_image_digest())
        return answer

    def __getstate__(self) -> dict:
        """Saved without moto's lock (a lock does not pickle); ``__setstate__`` makes a new one."""
        state = self.__dict__.copy()
        state.pop("registry_scanning_configuration_update_lock", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.registry_scanning_configuration_update_lock = threading.RLock()

    def create_repository(self, *args, **kwargs) -> ecr_models.Repository:
        repository = super().create_repository(*args, **kwargs)
        repository.uri = f"{registry_host()}/{repository.name}"
        return repository

    def initiate_layer_upload(self, repository_name, registry_id=None):
        """An upload whose parts go to a file (``PartFile``), not to one growing bytearray."""
        answer = super().initiate_layer_upload(repository_name, registry_id)
        upload = self._get_repository(repository_name, registry_id).uploads[answer["uploadId"]]
        upload.layer_parts = PartFile()
        return answer

    def complete_layer_upload(self, repository_name, upload_id, layer_digests, registry_id=None):
        return _complete_layer_upload(self, repository_name, upload_id, layer_digests, registry_id)

    def put_image(self, repository_name, image_manifest, image_tag, image_manifest_mediatype=None, digest=None):
        _check_put_image(self, repository_name, image_manifest, image_tag)
        image = super().put_image(repository_name, image_manifest, image_tag, image_manifest_mediatype, digest)
        if (self.repositories[repository_name].image_scanning_configuration or {}).get("scanOnPush"):
            _push_scans.setdefault((image.registry_id, image.repository_name, image.get_image_digest()), clock.now())
        return image


class EcrResponse(ecr_responses.ECRResponse):
    """GetAuthorizationToken valid 12 hours, for the embedded registry."""

    get_authorization_token = _get_authorization_token
