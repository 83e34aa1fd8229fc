"""A request for a service the embedded backend does not emulate: a clear 501 answer and one calm log line.

moto answers such a request with a 500 and logs a traceback (its dispatcher finds no backend for the service the
request is signed for), and botocore retries a 500 as if the service were failing. One such call is expected: the
client asks the Price List API (``pricing``) for Fargate's rates and uses its shipped table when it does not
answer. 501 (Not Implemented) is not retried, and says what is missing.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger("emulator.unsupported")

CODE = "ServiceNotEmulated"


class UnsupportedServices:
    """moto's dispatcher, answering 501 itself for a signed request to a service moto has no backend for."""

    def __init__(self, dispatcher: Any) -> None:
        self.dispatcher = dispatcher  # moto's DomainDispatcherApplication
        self._known: dict[str, bool] = {}  # host moto would route to -> whether it has a backend for it
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        signed = signed_service(environ)
        if signed is not None and not self.emulated(environ):
            return answer(*signed, start_response, json_body="json" in (environ.get("CONTENT_TYPE") or ""))
        return self.dispatcher(environ, start_response)

    def emulated(self, environ: dict[str, Any]) -> bool:
        """Whether moto has a backend for the host it would route this signed request to (asked once per host)."""
        from moto import backends

        path = environ.get("PATH_INFO", "")
        if path.startswith(("/moto-api", "/latest/")):
            return True  # moto routes these by path, not by the signature
        host = self.dispatcher.infer_service_region_host(environ, path)
        if host is None:
            return True  # moto falls back to its default service
        with self._lock:
            if host not in self._known:
                self._known[host] = host in backends.list_of_moto_modules() or any(
                    pattern.match(f"http://{host}") for _, pattern in self.dispatcher.backend_url_patterns)
            return self._known[host]


def signed_service(environ: dict[str, Any]) -> tuple[str, str] | None:
    """(service, region) of a Signature Version 4 ``Authorization`` header's credential scope, else None."""
    auth = environ.get("HTTP_AUTHORIZATION") or ""
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return None
    try:
        _, _, region, service, _ = auth.split(",")[0].split()[1].removeprefix("Credential=").split("/")
    except (IndexError, ValueError):
        return None
    return service, region


def answer(service: str, region: str, start_response: Callable, json_body: bool) -> list[bytes]:
    """501 with the error in the request's protocol (JSON, else XML), and one log line."""
    message = f"the embedded backend does not emulate {service} (only AWS answers it)"
    log.info("%s %s: not emulated, answered 501 %s", service, region, CODE)
    if json_body:
        body = json.dumps({"__type": CODE, "message": message}).encode()
        content_type = "application/x-amz-json-1.1"
    else:
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{CODE}</Code><Message>{message}</Message></Error>"
                f"</ErrorResponse>").encode()
        content_type = "text/xml"
    start_response("501 Not Implemented", [("Content-Type", content_type), ("Content-Length", str(len(body))),
                                           ("x-amzn-ErrorType", CODE)])
    return [body]
