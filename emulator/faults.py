"""Fault injection for the embedded backend: throttling, HTTP 5xx, slow answers, lost answers.

A runbook must survive what real AWS does now and then. The embedded backend can do it
on purpose, at a given rate, set when it starts::

    python -m helpers.local start --faults "throttle=0.3,error=0.05,slow=0.1,slow_seconds=1,seed=7"
    FARGATE_LAB_FAULTS="throttle=0.3" python -m helpers.local start

Spec keys (comma separated ``key=value``):

- ``throttle``: rate of requests answered with the protocol's throttling error before moto sees them
  (JSON protocol: HTTP 400 ``ThrottlingException``; query protocol: ``Throttling``; EC2: ``RequestLimitExceeded``);
- ``error``: rate answered with HTTP 500/503 before moto sees them;
- ``slow`` and ``slow_seconds``: rate of requests delayed by that many seconds (default 1), then answered;
- ``lost``: rate of requests that moto *processes*, whose answer is then replaced by an HTTP 500: the
  client retries something that already happened (this is how "a retried RunTask starts one task" is proven);
- ``ops``: only these operations get faults, ``|``-separated (``ops=RunTask|PutImage``); default: all;
- ``max_attempt``: only attempts up to this number get faults (from botocore's ``amz-sdk-request`` header;
  default 3), so a call is never faulted on every one of the client's 8 attempts;
- ``limit``: at most this many faults in all (default 0: no limit), e.g. ``lost=1,limit=3``;
- ``seed``: makes the sequence of faults repeatable.

Faults never touch the control API (``/_lab/``), moto's own API (``/moto-api/``) or the image
registry (``/v2/``), and only requests whose protocol is known (so the error has the right shape).
Everything here runs inside the embedded backend's server process.
"""

from __future__ import annotations

import io
import json
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from emulator.errors import InvalidSetting

FAULTS_ENV = "FARGATE_LAB_FAULTS"
SKIPPED_PREFIXES = ("/_lab/", "/moto-api/", "/v2/", "/v2")
RATE_KEYS = ("throttle", "error", "slow", "lost")
_VALID = (
    "comma-separated key=value with rates from 0 to 1 for throttle, error, slow, lost; slow_seconds >= 0; "
    "seed an integer; max_attempt an integer >= 1; limit an integer >= 0; ops operation names separated by '|', "
    "e.g. 'throttle=0.3,error=0.05,slow=0.1,slow_seconds=1,seed=7'"
)
_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_ATTEMPT = re.compile(r"attempt=(\d+)")


@dataclass
class FaultSpec:
    """Parsed fault settings; all rates 0 means no fault at all."""

    throttle: float = 0.0
    error: float = 0.0
    slow: float = 0.0
    lost: float = 0.0
    slow_seconds: float = 1.0
    max_attempt: int = 3
    limit: int = 0
    seed: int | None = None
    ops: frozenset[str] = field(default_factory=frozenset)

    @property
    def active(self) -> bool:
        return any(getattr(self, key) > 0 for key in RATE_KEYS)


def parse_spec(spec: str | None) -> FaultSpec:
    """``"throttle=0.3,seed=7"`` -> FaultSpec; raises InvalidSetting naming what is wrong."""
    result = FaultSpec()
    if not spec or not spec.strip():
        return result
    for item in spec.split(","):
        if not item.strip():
            continue
        key, sep, raw = item.partition("=")
        key, raw = key.strip(), raw.strip()
        if not sep or not hasattr(result, key):
            raise InvalidSetting("faults", spec, _VALID)
        try:
            if key in RATE_KEYS:
                value: Any = float(raw)
                if not 0.0 <= value <= 1.0:
                    raise ValueError
            elif key == "slow_seconds":
                value = float(raw)
                if value < 0:
                    raise ValueError
            elif key in ("seed", "max_attempt", "limit"):
                value = int(raw)
                if (key == "max_attempt" and value < 1) or (key == "limit" and value < 0):
                    raise ValueError
            else:  # ops
                value = frozenset(op.strip() for op in raw.split("|") if op.strip())
        except ValueError:
            raise InvalidSetting("faults", spec, _VALID) from None
        setattr(result, key, value)
    return result


@dataclass(frozen=True)
class Call:
    """What the middleware knows about a request: service, operation, protocol, client attempt."""

    service: str
    operation: str
    protocol: str  # "json", "query", "ec2"
    attempt: int


def identify(environ: dict[str, Any]) -> Call | None:
    """The AWS call a WSGI request makes, or None when it is not one faults apply to.

    Reads (and puts back) the body of query-protocol requests to find their ``Action``.
    """
    path = environ.get("PATH_INFO", "") or "/"
    if path.startswith(SKIPPED_PREFIXES):
        return None
    match = _CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if not match:
        return None
    service = match.group(1)
    attempt_match = _ATTEMPT.search(environ.get("HTTP_AMZ_SDK_REQUEST", ""))
    attempt = int(attempt_match.group(1)) if attempt_match else 1
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return Call(service, target.rpartition(".")[2], "json", attempt)
    if "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", "") and environ.get("REQUEST_METHOD") == "POST":
        body = _read_body(environ)
        action = parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]
        if action:
            return Call(service, action, "ec2" if service == "ec2" else "query", attempt)
    return None


def _read_body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def error_response(call: Call, status: int, code: str, message: str) -> tuple[str, list[tuple[str, str]], bytes]:
    """Status line, headers and body of an AWS error in ``call``'s protocol shape."""
    request_id = str(uuid.uuid4())
    if call.protocol == "json":
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code)]
    elif call.protocol == "ec2":
        body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>"
                f"<Message>{message}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>").encode()
        headers = [("Content-Type", "text/xml")]
    else:
        kind = "Receiver" if status >= 500 else "Sender"
        body = (f"<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message>"
                f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>").encode()
        headers = [("Content-Type", "text/xml")]
    headers += [("x-amzn-RequestId", request_id), ("Content-Length", str(len(body)))]
    reason = {400: "Bad Request", 500: "Internal Server Error", 503: "Service Unavailable"}[status]
    return f"{status} {reason}", headers, body


THROTTLE_CODES = {"json": "ThrottlingException", "query": "Throttling", "ec2": "RequestLimitExceeded"}


class FaultInjector:
    """WSGI middleware (see ``hooks.MIDDLEWARE``) that injects faults per ``spec``; counts what it did."""

    def __init__(self, spec: FaultSpec, app: Callable | None = None) -> None:
        self.spec = spec
        self.app = app  # the app a "lost" fault lets process the request first (moto, via the control app)
        self._random = random.Random(spec.seed)
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {key: 0 for key in RATE_KEYS}

    def _draw(self) -> float:
        with self._lock:
            return self._random.random()

    def _count(self, key: str) -> None:
        with self._lock:
            self.counts[key] += 1

    def _exhausted(self) -> bool:
        with self._lock:
            return bool(self.spec.limit) and sum(self.counts.values()) >= self.spec.limit

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes] | None:
        spec = self.spec
        if not spec.active:
            return None
        call = identify(environ)
        if call is None or call.attempt > spec.max_attempt or (spec.ops and call.operation not in spec.ops):
            return None
        if self._exhausted():
            return None
        if spec.slow and self._draw() < spec.slow:
            self._count("slow")
            time.sleep(spec.slow_seconds)
        if spec.throttle and self._draw() < spec.throttle:
            self._count("throttle")
            return self._answer(start_response, call, 400, THROTTLE_CODES[call.protocol], "Rate exceeded")
        if spec.error and self._draw() < spec.error:
            self._count("error")
            status = 503 if self._draw() < 0.5 else 500
            code = "ServiceUnavailable" if status == 503 else "InternalFailure"
            return self._answer(start_response, call, status, code, "injected by the embedded backend")
        if spec.lost and self.app is not None and self._draw() < spec.lost:
            self._count("lost")
            self._process_and_discard(environ)
            return self._answer(start_response, call, 500, "InternalFailure",
                                "the request was processed but its answer was lost")
        return None

    def _process_and_discard(self, environ: dict[str, Any]) -> None:
        def ignore(status: str, headers: list, exc_info: Any = None) -> Callable:
            return lambda data: None

        answer = self.app(environ, ignore)
        try:
            for _chunk in answer:
                pass
        finally:
            if hasattr(answer, "close"):
                answer.close()

    @staticmethod
    def _answer(start_response: Callable, call: Call, status: int, code: str, message: str) -> list[bytes]:
        line, headers, body = error_response(call, status, code, message)
        start_response(line, headers)
        return [body]
