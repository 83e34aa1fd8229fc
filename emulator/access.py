"""Who may talk to the embedded backend: the lab's own clients, and nobody else on the machine or the web.

A WSGI layer in front of everything the server answers, checked in this order:

1. a request with an ``Origin`` header (a web page: browsers send it cross-origin and on every POST) gets 403;
2. a ``Host`` other than ``127.0.0.1:PORT``, ``localhost:PORT`` or the configured registry host gets 403
   (a DNS-rebinding page reaches 127.0.0.1 under another name);
3. every AWS API request and the control API (``/_lab/*``, ``/moto-api/*``) must carry a valid Signature
   Version 4 made with the installation's key (``emulator.credentials``); an AWS API request without one gets
   AWS's own error in its protocol's shape. The registry (``/v2/``) keeps its token auth, and
   ``GET /_lab/health`` answers unsigned with the server's name only.

No answer ever carries CORS headers: moto's permissive CORS is switched off and any ``Access-Control-*``
header is dropped on the way out.
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from emulator import HEALTH_PATH, SERVER_NAME, sigv4, task_credentials
from emulator.credentials import KeyFile
from emulator.task_endpoint import FROM_TASK_NETWORK

log = logging.getLogger("emulator.access")

CONTROL_PREFIXES = ("/_lab/", "/moto-api")
ORIGIN_REASON = ("refused: this request comes from a web page (it has an Origin header); the embedded backend "
                 "serves only the lab's own clients, which call it from Python or the AWS CLI\n")
HOST_REASON = ("refused: the Host header names {host!r}, not this backend (127.0.0.1:{port} or "
               "localhost:{port}); a page that renamed 127.0.0.1 (DNS rebinding) is not served\n")
#: EC2's API version: an unsigned query-protocol request with it is EC2's (whose errors have their own shape).
EC2_VERSION = "2016-11-15"

#: (protocol, refusal kind) -> (HTTP status, AWS error code). JSON protocol: ECS, ECR, Logs, Secrets Manager, SSM,
#: Cost Explorer...; query: IAM, STS; EC2 its own; REST-JSON (path-routed JSON) like API Gateway v2; S3 REST-XML.
CODES: dict[str, dict[str, tuple[int, str]]] = {
    "json": {"missing": (400, "MissingAuthenticationTokenException"), "malformed": (400, "IncompleteSignatureException"),
             "unknown_key": (400, "UnrecognizedClientException"), "mismatch": (400, "InvalidSignatureException"),
             "expired": (400, "InvalidSignatureException"), "expired_token": (400, "ExpiredTokenException")},
    "rest-json": {"missing": (403, "MissingAuthenticationTokenException"),
                  "malformed": (403, "IncompleteSignatureException"),
                  "unknown_key": (403, "UnrecognizedClientException"), "mismatch": (403, "InvalidSignatureException"),
                  "expired": (403, "InvalidSignatureException"), "expired_token": (403, "ExpiredTokenException")},
    "query": {"missing": (403, "MissingAuthenticationToken"), "malformed": (400, "IncompleteSignature"),
              "unknown_key": (403, "InvalidClientTokenId"), "mismatch": (403, "SignatureDoesNotMatch"),
              "expired": (400, "RequestExpired"), "expired_token": (403, "ExpiredToken")},
    "ec2": {"missing": (401, "MissingAuthenticationToken"), "malformed": (401, "AuthFailure"),
            "unknown_key": (401, "AuthFailure"), "mismatch": (401, "AuthFailure"), "expired": (400, "RequestExpired"),
            "expired_token": (400, "RequestExpired")},
    "s3": {"missing": (403, "AccessDenied"), "malformed": (400, "AuthorizationHeaderMalformed"),
           "unknown_key": (403, "InvalidAccessKeyId"), "mismatch": (403, "SignatureDoesNotMatch"),
           "expired": (403, "AccessDenied"), "expired_token": (400, "ExpiredToken")},
}
S3_MESSAGES = {"missing": "Access Denied", "unknown_key": "The AWS Access Key Id you provided does not exist in our "
                                                          "records."}
EC2_MESSAGES = {"unknown_key": "AWS was not able to validate the provided access credentials",
                "mismatch": "AWS was not able to validate the provided access credentials"}
_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden"}


def disable_moto_cors() -> None:
    """moto wraps each service's app in flask-cors (any origin allowed); its apps are made at first request."""
    import moto.settings
    from moto.moto_server import werkzeug_app

    moto.settings.DISABLE_GLOBAL_CORS = True
    werkzeug_app.DISABLE_GLOBAL_CORS = True  # type: ignore[attr-defined]


class AccessGate:
    """WSGI middleware: refuses web pages, other host names and unsigned requests before ``app`` sees them."""

    def __init__(self, app: Callable, port: int, state_dir: Path, registry_host: str | None = None) -> None:
        self.app = app
        self.port = port
        self.keys = KeyFile(state_dir)
        self.hosts = {f"127.0.0.1:{port}", f"localhost:{port}"} | ({registry_host.lower()} if registry_host else set())

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        if environ.get("HTTP_ORIGIN") is not None:
            return _plain(start_response, ORIGIN_REASON)
        host = environ.get("HTTP_HOST", "")
        if host.lower() not in self.hosts and not environ.get(FROM_TASK_NETWORK):  # tasks: emulator.task_endpoint
            return _plain(start_response, HOST_REASON.format(host=host[:100], port=self.port))
        start_response = _without_cors(start_response)
        if environ.get(FROM_TASK_NETWORK) and path.startswith(CONTROL_PREFIXES):
            return _json(start_response, 403, {"error": "a task's containers cannot use the control API"})
        if _is_registry(environ, path):
            return self.app(environ, start_response)  # the registry's own token auth decides
        if path == HEALTH_PATH and not environ.get("HTTP_AUTHORIZATION") and environ.get("REQUEST_METHOD") == "GET":
            return _json(start_response, 200, {"server": SERVER_NAME})  # alive, and nothing more
        body = _buffer_body(environ)
        outcome = self._verify(environ, body)
        if isinstance(outcome, sigv4.Signed):
            return self.app(environ, start_response)
        log.warning("refused %s %s: %s (%s)", environ.get("REQUEST_METHOD"), path, outcome.kind, outcome.message)
        if path.startswith(CONTROL_PREFIXES):
            return _json(start_response, 403, {"error": f"{outcome.message} The control API needs a request signed "
                                                        "with this installation's key (see helpers.local)."})
        return aws_error(start_response, protocol(environ, body, outcome), outcome)

    def _verify(self, environ: dict[str, Any], body: bytes) -> sigv4.Signed | sigv4.Refusal:
        """Signed with the installation's key, or with a task role's temporary credentials that have not expired."""
        key = self.keys.current()
        claimed = sigv4.claimed(environ)
        if isinstance(claimed, sigv4.Signed) and claimed.key_id != key.access_key_id:
            task = task_credentials.lookup(claimed.key_id)
            if task is not None:
                query = parse_qs(environ.get("QUERY_STRING", ""))
                token = environ.get("HTTP_X_AMZ_SECURITY_TOKEN") or (query.get("X-Amz-Security-Token") or [""])[0]
                if token != task.token:
                    return sigv4.Refusal("unknown_key", "The security token included in the request is invalid.")
                if task_credentials.expired(task):
                    return sigv4.Refusal("expired_token", "The security token included in the request is expired")
                if environ.get("PATH_INFO", "").startswith(CONTROL_PREFIXES):
                    return sigv4.Refusal("unknown_key", "A task role's credentials cannot use the control API.")
                key = task.key
        return sigv4.verify(environ, body, key)


def _is_registry(environ: dict[str, Any], path: str) -> bool:
    """A Docker Registry API request: ``/v2/...`` not signed for an AWS API (moto's API Gateway v2 is)."""
    if not path.startswith("/v2") or environ.get("HTTP_AUTHORIZATION", "").startswith("AWS4-"):
        return False
    from emulator.fidelity.registry import ROUTES

    return any(pattern.match(path) for pattern, _ in ROUTES)


def _buffer_body(environ: dict[str, Any]) -> bytes:
    """The request's body, read once and put back for the app behind."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    stream = environ["wsgi.input"]
    if length:
        body = stream.read(length)
    elif environ.get("wsgi.input_terminated"):  # chunked transfer encoding: read to the end
        body = stream.read()
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body)) if body else environ.get("CONTENT_LENGTH", "")
    return body


def protocol(environ: dict[str, Any], body: bytes, outcome: sigv4.Refusal | None = None) -> str:
    """The protocol whose error shape an answer to this request must have: json, query, ec2, s3 or rest-json."""
    claimed = sigv4.claimed(environ)
    service = claimed.service if isinstance(claimed, sigv4.Signed) else None
    if environ.get("HTTP_X_AMZ_TARGET"):
        return "json"
    if service == "s3":
        return "s3"
    form: dict[str, list[str]] = parse_qs(environ.get("QUERY_STRING", ""))
    if "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", ""):
        form.update(parse_qs(body.decode("utf-8", "replace")))
    if "Action" in form:
        return "ec2" if service == "ec2" or (service is None and form.get("Version") == [EC2_VERSION]) else "query"
    return "rest-json" if service else "s3"  # moto, too, takes an unsigned request it cannot place for S3's


def aws_error(start_response: Callable, kind: str, refusal: sigv4.Refusal) -> list[bytes]:
    """AWS's answer to a request it does not accept, in the shape of protocol ``kind``."""
    status, code = CODES[kind][refusal.kind]
    request_id = str(uuid.uuid4())
    message = refusal.message
    if kind in ("json", "rest-json"):
        data = {"__type": code, "message": message} if kind == "json" else {"message": message}
        headers = [("Content-Type", "application/x-amz-json-1.1" if kind == "json" else "application/json"),
                   ("x-amzn-ErrorType", code)]
        body = json.dumps(data).encode()
    elif kind == "ec2":
        message = EC2_MESSAGES.get(refusal.kind, message)
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code><Message>'
                f"{_xml(message)}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>").encode()
        headers = [("Content-Type", "text/xml;charset=UTF-8")]
    elif kind == "s3":
        message = S3_MESSAGES.get(refusal.kind, message)
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{_xml(message)}'
                f"</Message><RequestId>{request_id}</RequestId></Error>").encode()
        headers = [("Content-Type", "application/xml")]
    else:
        body = (f'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>'
                f"<Code>{code}</Code><Message>{_xml(message)}</Message></Error><RequestId>{request_id}</RequestId>"
                "</ErrorResponse>").encode()
        headers = [("Content-Type", "text/xml")]
    headers += [("x-amzn-RequestId", request_id), ("Content-Length", str(len(body)))]
    start_response(f"{status} {_REASONS[status]}", headers)
    return [body]


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _plain(start_response: Callable, text: str) -> list[bytes]:
    data = text.encode()
    start_response("403 Forbidden", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data)))])
    return [data]


def _json(start_response: Callable, status: int, body: dict) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(f"{status} {_REASONS.get(status, 'OK') if status != 200 else 'OK'}",
                   [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def _without_cors(start_response: Callable) -> Callable:
    def filtered(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable:
        kept = [(k, v) for k, v in headers if not k.lower().startswith("access-control-")]
        return start_response(status, kept, exc_info) if exc_info else start_response(status, kept)

    return filtered


def guard(app: Callable, port: int, state_dir: Path, registry_host: str | None = None) -> AccessGate:
    """The server's app behind the gate; creates the installation's key at the first start."""
    disable_moto_cors()
    gate = AccessGate(app, port, state_dir, registry_host)
    log.info("requests must be signed with the key in %s", state_dir)
    return gate
