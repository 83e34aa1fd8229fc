"""What the embedded backend cannot serve gets a clear answer and one calm log line, not a traceback.

Two such requests are expected on every run of the lab: notebook 04 asks the Price List API (``pricing``), which
the backend does not emulate, before it uses the shipped rate table; and Docker tries HTTPS before plain HTTP
when it pushes to the backend's registry on 127.0.0.1.
"""

from __future__ import annotations

import socket

import pytest
from botocore.exceptions import ClientError

from helpers import local, pricing
from tests.backends import embedded_backend, lab_session

#: The start of a TLS ClientHello record (handshake 0x16, TLS 1.0 record version), as Docker's first bytes are.
CLIENT_HELLO = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(0xC0, 0xE0)) + b" \x13\xc0\r\n"


@pytest.fixture(scope="module")
def backend_log():
    with embedded_backend() as info:
        yield info, local.log_path(info.port)


def test_a_service_the_backend_does_not_emulate_is_answered_501_once_without_a_traceback(backend_log):
    info, log = backend_log
    client = lab_session(info).client("pricing", region_name="us-east-1")
    with pytest.raises(ClientError) as caught:
        client.get_products(ServiceCode="AmazonECS", MaxResults=1)
    answer = caught.value.response
    assert answer["Error"]["Code"] == "ServiceNotEmulated"
    assert "does not emulate pricing" in answer["Error"]["Message"]
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert answer["ResponseMetadata"]["RetryAttempts"] == 0, "a 501 is not retried as a failing service would be"
    text = log.read_text()
    assert text.count("pricing us-east-1: not emulated, answered 501") == 1
    assert "Traceback" not in text and "Unable to find appropriate backend" not in text, text[-3000:]
    # the client's fallback, as notebook 04 uses it, says why
    _, sources = pricing.refresh_price_table(lab_session(info), ["us-east-1"])
    assert "Price List API unavailable" in sources.loc[0, "source"]


def test_a_service_it_emulates_is_not_touched(backend_log):
    info, _ = backend_log
    assert lab_session(info).client("ecs").list_clusters()["clusterArns"] == []


def _handshake(port: int) -> bytes:
    """Send a ClientHello to the plain-HTTP port; what comes back before the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(CLIENT_HELLO)
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    return answer


def test_tls_handshakes_on_the_plain_http_port_are_refused_and_logged_once_calmly(backend_log):
    info, log = backend_log
    answers = [_handshake(info.port) for _ in range(3)]
    assert all(b"Error code: 400" in a for a in answers), answers[0][:300]  # still refused: Docker falls back
    text = log.read_text()
    assert text.count("a TLS handshake from 127.0.0.1 reached this plain-HTTP port") == 1, text[-3000:]
    assert "Bad request" not in text and "Bad HTTP/0.9" not in text and "\\x16\\x03" not in text, text[-3000:]
    assert " ERROR " not in text, text[-3000:]
