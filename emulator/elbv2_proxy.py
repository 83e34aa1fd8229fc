"""An HTTP listener's data plane: a real HTTP/1.1 server on 127.0.0.1 that forwards each request to a target.

How a listener is reached here (AWS's ``DNSName`` does not resolve on this machine): each HTTP listener listens on
a port of its own that the operating system picks on 127.0.0.1 when the listener is created, so any number of
backends (each test worker has one) never collide and no privileged port is needed. ``GET /_lab/listeners`` lists
every listener with that port and its URL (``helpers.local.listener_urls`` reads it).

As an ALB does: the client's connection is kept alive; each request goes to the target ``pick()`` chooses (round
robin over healthy targets, in ``emulator.elbv2``) with ``X-Forwarded-For``/``-Proto``/``-Port`` and
``X-Amzn-Trace-Id`` added; hop-by-hop headers are not passed on. The load balancer answers itself, with its own
page and ``Server: awselb/2.0``: 503 when the target group has no target to send to, 502 when the target refuses
the connection, closes it or answers what is not HTTP, 504 when the target does not answer within the load
balancer's ``idle_timeout.timeout_seconds`` (ALB user guide, "Troubleshoot your Application Load Balancers").
"""

from __future__ import annotations

import http.client
import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from emulator import HOST

log = logging.getLogger("emulator.elbv2")

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "transfer-encoding", "upgrade", "content-length"}
REASONS = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}


@dataclass
class Forward:
    """Send the request to this target (host, port); ``None``: there is none to send to (503); a string: a
    simulated task, where nothing listens (502)."""

    target: tuple[str, int] | str | None


@dataclass
class Fixed:
    """A ``fixed-response`` action's answer."""

    status: int
    content_type: str = "text/plain"
    body: str = ""


@dataclass
class Route:
    """What a listener does with a request: an action from ``pick()`` and the idle timeout in seconds."""

    action: Forward | Fixed
    idle_timeout: float


class _Pool:
    """Idle keep-alive connections to targets, reused across requests as an ALB keeps its own."""

    def __init__(self) -> None:
        self.idle: dict[tuple[str, int], queue.SimpleQueue] = {}
        self.lock = threading.Lock()

    def get(self, target: tuple[str, int], timeout: float) -> tuple[http.client.HTTPConnection, bool]:
        with self.lock:
            idle = self.idle.setdefault(target, queue.SimpleQueue())
        try:
            connection = idle.get_nowait()
            connection.timeout = timeout
            if connection.sock is not None:
                connection.sock.settimeout(timeout)
            return connection, True
        except queue.Empty:
            return http.client.HTTPConnection(*target, timeout=timeout), False

    def put(self, target: tuple[str, int], connection: http.client.HTTPConnection) -> None:
        with self.lock:
            self.idle.setdefault(target, queue.SimpleQueue()).put(connection)

    def close(self) -> None:
        with self.lock:
            for idle in self.idle.values():
                while not idle.empty():
                    idle.get_nowait().close()
            self.idle.clear()


def _error_page(status: int) -> bytes:
    title = f"{status} {REASONS[status]}"
    return (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
            "</body>\r\n</html>\r\n").encode()


def _trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ListenerServer

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        log.debug("listener %d: " + format, self.server.declared_port, *args)

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response_only(status, http.client.responses.get(status, REASONS.get(status, "")))
        self.send_header("Date", self.date_time_string())
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _lb_error(self, status: int) -> None:
        self._answer(status, [("Server", "awselb/2.0"), ("Content-Type", "text/html")], _error_page(status))

    def _forward(self, target: tuple[str, int], idle_timeout: float, body: bytes) -> None:
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP
                   and not k.lower().startswith("x-forwarded-") and k.lower() != "x-amzn-trace-id"]
        client = self.client_address[0]
        forwarded_for = self.headers.get("X-Forwarded-For")
        headers += [("X-Forwarded-For", f"{forwarded_for}, {client}" if forwarded_for else client),
                    ("X-Forwarded-Proto", "http"), ("X-Forwarded-Port", str(self.server.declared_port)),
                    ("X-Amzn-Trace-Id", _trace_id())]
        if body or self.command in ("POST", "PUT", "PATCH"):
            headers.append(("Content-Length", str(len(body))))
        for attempt in range(2):  # a reused keep-alive connection the target closed meanwhile is retried once
            connection, reused = self.server.pool.get(target, idle_timeout)
            try:
                connection.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for name, value in headers:
                    connection.putheader(name, value)
                connection.endheaders(body or None)
                response = connection.getresponse()
                data = response.read()
            except TimeoutError:
                connection.close()
                return self._lb_error(504)
            except (OSError, http.client.HTTPException):
                connection.close()
                if reused and attempt == 0:
                    continue
                return self._lb_error(502)
            break
        if response.will_close:
            connection.close()
        else:
            self.server.pool.put(target, connection)
        self._answer(response.status, [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP],
                     data)

    def _handle(self) -> None:
        body = self._body()
        route = self.server.pick()
        self.connection.settimeout(route.idle_timeout)
        if isinstance(route.action, Fixed):
            self._answer(route.action.status, [("Server", "awselb/2.0"), ("Content-Type",
                                                                          route.action.content_type)],
                         route.action.body.encode())
        elif route.action.target is None:
            self._lb_error(503)
        elif isinstance(route.action.target, str):
            self._lb_error(502)
        else:
            self._forward(route.action.target, route.idle_timeout, body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle


class ListenerServer(ThreadingHTTPServer):
    """One listener's server on 127.0.0.1, on a port the system picks (or ``local_port``, the one it had before a
    restart, when it is free); ``pick()`` decides each request's route."""

    daemon_threads = True

    def __init__(self, declared_port: int, pick: Callable[[], Route], local_port: int = 0) -> None:
        try:
            super().__init__((HOST, local_port), _Handler)
        except OSError:  # the port it had before a restart is taken now: another one
            super().__init__((HOST, 0), _Handler)
        self.declared_port = declared_port
        self.pick = pick
        self.pool = _Pool()
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2},
                                       name=f"elbv2-listener-{self.server_address[1]}", daemon=True)
        self.thread.start()

    @property
    def local_port(self) -> int:
        return self.server_address[1]

    def close(self) -> None:
        """Stop listening: the port is free again and open connections end."""
        self.shutdown()
        self.server_close()
        self.pool.close()
