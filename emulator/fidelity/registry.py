"""The embedded ECR's registry: the Docker Registry HTTP API v2 at ``/v2/``, over the same store as the ECR API.

ECR is a registry: what ``put_image`` and the layer-upload calls write, ``docker pull`` reads, and what
``docker push`` writes, ``batch_get_image`` reads. This middleware serves that API from moto's ECR
repositories and the blob store of :mod:`emulator.fidelity.ecr`, so ``docker push`` / ``docker pull`` of
``127.0.0.1:PORT/NAME:TAG`` work against the embedded backend, logged in as user ``AWS`` with the password in
``get_authorization_token``'s token (Docker allows plain HTTP to registries on 127.0.0.0/8).

Requests signed for the AWS APIs (``Authorization: AWS4-...``) are never taken, so moto's own ``/v2/`` routes
(API Gateway v2) keep working.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
from collections.abc import Callable, Iterable, Iterator
from urllib.parse import parse_qs

from moto.core.exceptions import ServiceException
from werkzeug.wsgi import get_input_stream

from emulator.fidelity import ecr as store
from emulator.fidelity import ecs_fields

API_VERSION = ("Docker-Distribution-API-Version", "registry/2.0")
CHUNK = 1024 * 1024
_NAME = r"(?P<name>[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)"
ROUTES = [
    (re.compile(r"^/v2/?$"), "base"),
    (re.compile(rf"^/v2/{_NAME}/tags/list$"), "tags"),
    (re.compile(rf"^/v2/{_NAME}/manifests/(?P<reference>[A-Za-z0-9_.:-]+)$"), "manifest"),
    (re.compile(rf"^/v2/{_NAME}/blobs/uploads/?$"), "start_upload"),
    (re.compile(rf"^/v2/{_NAME}/blobs/uploads/(?P<upload>[A-Za-z0-9-]+)$"), "upload"),
    (re.compile(rf"^/v2/{_NAME}/blobs/(?P<digest>sha256:[a-f0-9]{{64}})$"), "blob"),
]


class Reply:
    """One HTTP answer."""

    def __init__(self, status: str, headers: list[tuple[str, str]] | None = None,
                 body: bytes | Iterable[bytes] = b"") -> None:
        self.status = status
        self.headers = [API_VERSION, *(headers or [])]
        self.body = body

    def __call__(self, start_response: Callable) -> Iterable[bytes]:
        if isinstance(self.body, bytes | bytearray):
            if not any(k.lower() == "content-length" for k, _ in self.headers):
                self.headers.append(("Content-Length", str(len(self.body))))
            start_response(self.status, self.headers)
            return [bytes(self.body)]
        start_response(self.status, self.headers)
        return self.body


def error(status: str, code: str, message: str, extra: list[tuple[str, str]] | None = None) -> Reply:
    body = json.dumps({"errors": [{"code": code, "message": message, "detail": None}]}).encode()
    return Reply(status, [("Content-Type", "application/json"), *(extra or [])], body)


def middleware(environ: dict, start_response: Callable) -> Iterable[bytes] | None:
    path = environ.get("PATH_INFO", "")
    if not path.startswith("/v2") or environ.get("HTTP_AUTHORIZATION", "").startswith("AWS4-"):
        return None
    route = next(((handler, match) for pattern, handler in ROUTES if (match := pattern.match(path))), None)
    if route is None:
        return None
    handler, match = route
    if not _authorized(environ):
        return error("401 Unauthorized", "UNAUTHORIZED", "log in as AWS with the password from ecr get-authorization-token",
                     [("WWW-Authenticate", 'Basic realm="fargate-lab embedded ECR"')])(start_response)
    try:
        reply = globals()[f"_{handler}"](environ, **match.groupdict())
    except ServiceException as exc:
        reply = error("400 Bad Request", _registry_code(exc), str(getattr(exc, "message", exc)))
    return reply(start_response)


def _authorized(environ: dict) -> bool:
    header = environ.get("HTTP_AUTHORIZATION", "")
    if not header.startswith("Basic "):
        return False
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return False
    return user == "AWS" and hmac.compare_digest(password.encode(), store.password().encode())


def _registry_code(exc: ServiceException) -> str:
    return {"LayersNotFoundException": "MANIFEST_BLOB_UNKNOWN", "ImageTagAlreadyExistsException": "TAG_INVALID",
            "InvalidLayerException": "DIGEST_INVALID"}.get(getattr(exc, "code", ""), "UNSUPPORTED")


def _repository_or_404(name: str):
    repository = store.find_repository(name)
    if repository is None:
        raise _NotFound("NAME_UNKNOWN", f"repository {name} does not exist; create it first (ecr create-repository)")
    return repository


class _NotFound(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _query(environ: dict) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}


def _body(environ: dict) -> Iterator[bytes]:
    stream = get_input_stream(environ, safe_fallback=False)
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            return
        yield chunk


# --- handlers ------------------------------------------------------------------------------------------------------

def _wrap(handler: Callable[..., Reply]) -> Callable[..., Reply]:
    def wrapped(environ: dict, **kwargs: str) -> Reply:
        try:
            return handler(environ, **kwargs)
        except _NotFound as missing:
            return error("404 Not Found", missing.code, missing.message)

    return wrapped


@_wrap
def _base(environ: dict) -> Reply:
    return Reply("200 OK", [("Content-Type", "application/json")], b"{}")


@_wrap
def _tags(environ: dict, name: str) -> Reply:
    repository = _repository_or_404(name)
    tags = sorted(tag for image in repository.images for tag in image.image_tags)
    return Reply("200 OK", [("Content-Type", "application/json")], json.dumps({"name": name, "tags": tags}).encode())


@_wrap
def _blob(environ: dict, name: str, digest: str) -> Reply:
    repository = _repository_or_404(name)
    path = store.blob_path(digest)
    if digest not in repository.layers or not path.exists():
        raise _NotFound("BLOB_UNKNOWN", f"blob {digest} is not in repository {name}")
    headers = [("Content-Length", str(path.stat().st_size)), ("Docker-Content-Digest", digest),
               ("Content-Type", "application/octet-stream")]
    if environ["REQUEST_METHOD"] == "HEAD":
        return Reply("200 OK", headers)
    if environ["REQUEST_METHOD"] != "GET":
        return error("405 Method Not Allowed", "UNSUPPORTED", "blobs are read with GET or HEAD")

    def stream() -> Iterator[bytes]:
        with open(path, "rb") as handle:
            yield from iter(lambda: handle.read(CHUNK), b"")

    return Reply("200 OK", headers, stream())


def _location(name: str, upload_id: str, received: int) -> list[tuple[str, str]]:
    return [("Location", f"/v2/{name}/blobs/uploads/{upload_id}"), ("Docker-Upload-UUID", upload_id),
            ("Range", f"0-{max(received - 1, 0)}"), ("Content-Length", "0")]


def _blob_created(name: str, digest: str) -> Reply:
    return Reply("201 Created", [("Location", f"/v2/{name}/blobs/{digest}"), ("Docker-Content-Digest", digest),
                                 ("Content-Length", "0")])


@_wrap
def _start_upload(environ: dict, name: str) -> Reply:
    if environ["REQUEST_METHOD"] != "POST":
        return error("405 Method Not Allowed", "UNSUPPORTED", "start an upload with POST")
    repository = _repository_or_404(name)
    query = _query(environ)
    mount = query.get("mount")
    if mount and store.blob_path(mount).exists():
        source = store.find_repository(query.get("from", ""))
        if source is not None and mount in source.layers:
            repository.layers[mount] = source.layers[mount]
            return _blob_created(name, mount)
    backend = store.backend_of(repository)
    upload_id = backend.initiate_layer_upload(name)["uploadId"]
    if "digest" in query:  # a monolithic upload: the whole blob in this request
        upload = repository.uploads[upload_id]
        for chunk in _body(environ):
            upload.layer_parts += chunk
        return _complete(backend, repository, name, upload_id, query["digest"])
    return Reply("202 Accepted", _location(name, upload_id, 0))


@_wrap
def _upload(environ: dict, name: str, upload: str) -> Reply:
    repository = _repository_or_404(name)
    pending = repository.uploads.get(upload)
    if pending is None:
        raise _NotFound("BLOB_UPLOAD_UNKNOWN", f"upload {upload} is unknown (finished, cancelled or never started)")
    method = environ["REQUEST_METHOD"]
    if method == "DELETE":
        del repository.uploads[upload]
        return Reply("204 No Content")
    if method == "GET":
        return Reply("204 No Content", _location(name, upload, len(pending.layer_parts)))
    if method not in ("PATCH", "PUT"):
        return error("405 Method Not Allowed", "UNSUPPORTED", "upload with PATCH and PUT")
    for chunk in _body(environ):
        pending.layer_parts += chunk
    if method == "PATCH":
        return Reply("202 Accepted", _location(name, upload, len(pending.layer_parts)))
    digest = _query(environ).get("digest")
    if not digest:
        return error("400 Bad Request", "DIGEST_INVALID", "finish an upload with PUT ...?digest=sha256:...")
    return _complete(store.backend_of(repository), repository, name, upload, digest)


def _complete(backend, repository, name: str, upload_id: str, digest: str) -> Reply:
    try:
        backend.complete_layer_upload(name, upload_id, [digest])
    except store.LayerAlreadyExistsException:
        pass
    except store.InvalidLayerException as exc:
        return error("400 Bad Request", "DIGEST_INVALID", exc.message)
    return _blob_created(name, digest)


@_wrap
def _manifest(environ: dict, name: str, reference: str) -> Reply:
    repository = _repository_or_404(name)
    method = environ["REQUEST_METHOD"]
    if method == "PUT":
        return _put_manifest(environ, repository, name, reference)
    if method not in ("GET", "HEAD"):
        return error("405 Method Not Allowed", "UNSUPPORTED", "manifests are read with GET/HEAD, written with PUT")
    image = store.find_image(repository, reference)
    if image is None:
        raise _NotFound("MANIFEST_UNKNOWN", f"{name}:{reference} is not in the repository")
    if method == "GET":
        ecs_fields.pulled(repository.registry_id, repository.name, image.get_image_digest())
    body = image.image_manifest.encode()
    media_type = image.image_manifest_media_type or json.loads(body).get("mediaType", "")
    headers = [("Content-Type", media_type), ("Docker-Content-Digest", image.get_image_digest()),
               ("Content-Length", str(len(body)))]
    return Reply("200 OK", headers, b"" if method == "HEAD" else body)


def _put_manifest(environ: dict, repository, name: str, reference: str) -> Reply:
    body = b"".join(_body(environ)).decode()
    media_type = environ.get("CONTENT_TYPE") or json.loads(body).get("mediaType")
    tag = None if reference.startswith("sha256:") else reference
    backend = store.backend_of(repository)
    try:
        image = backend.put_image(name, body, tag, media_type)
    except ServiceException as exc:
        if getattr(exc, "code", "") != "ImageAlreadyExistsException":
            raise
        image = store.find_image(repository, tag or reference)
    digest = image.get_image_digest()
    return Reply("201 Created", [("Location", f"/v2/{name}/manifests/{digest}"), ("Docker-Content-Digest", digest),
                                 ("Content-Length", "0")])
