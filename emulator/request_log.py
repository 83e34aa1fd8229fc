"""The server's request log: one calm line for a TLS handshake on its plain-HTTP port, not an error per probe.

Docker reaches a registry on 127.0.0.1 over HTTPS first and falls back to plain HTTP (it treats a loopback
registry as insecure). Its TLS ClientHello arrives here as an unreadable request line: the server still refuses it
with 400, which is what makes Docker fall back, but logs it once, as what it is, instead of an ERROR line with the
handshake's bytes for every push and pull.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from moto.moto_server.werkzeug_app import MotoRequestHandler

log = logging.getLogger("emulator.request_log")

#: The first bytes of a TLS record carrying a handshake (content type 22, version 3.x).
TLS_HANDSHAKE = b"\x16\x03"
_probes = {"count": 0}
_lock = threading.Lock()


def tls_probes() -> int:
    """How many TLS handshakes reached the plain-HTTP port since the server started."""
    return _probes["count"]


def _note_tls_probe(address: str) -> None:
    with _lock:
        _probes["count"] += 1
        first = _probes["count"] == 1
    if first:
        log.info("a TLS handshake from %s reached this plain-HTTP port (Docker tries HTTPS before HTTP for a "
                 "registry on 127.0.0.1): refused with 400, Docker then uses HTTP; further ones are not logged",
                 address)


class LabRequestHandler(MotoRequestHandler):
    """moto's request handler, logging a TLS probe as one INFO line (once) instead of an error per request."""

    def _is_tls_probe(self) -> bool:
        return bytes(getattr(self, "raw_requestline", b"") or b"")[:2] == TLS_HANDSHAKE

    def log_error(self, format: str, *args: Any) -> None:
        if self._is_tls_probe():
            _note_tls_probe(self.address_string())
            return
        super().log_error(format, *args)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if not self._is_tls_probe():
            super().log_request(code, size)
