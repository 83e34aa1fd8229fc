"""Only the lab's own clients get in: no web page (Origin), no rebinding name (Host), no unsigned or wrongly signed
request, each refused as AWS refuses it, over real HTTP against a real backend.

AWS's errors for a bad signature: https://docs.aws.amazon.com/IAM/latest/UserGuide/signature-v4-troubleshooting.html
and each API reference's CommonErrors page (e.g. https://docs.aws.amazon.com/AmazonECS/latest/APIReference/CommonErrors.html).
"""

from __future__ import annotations

import http.client
import json
import os
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from emulator import sigv4
from emulator.credentials import AccessKey
from helpers import local
from helpers.session import LabSession

NO_RETRY = Config(retries={"mode": "standard", "total_max_attempts": 1})
ECS_TARGET = "AmazonEC2ContainerServiceV20141113.ListClusters"
MADE_UP = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261128/us-east-1/ecs/aws4_request, SignedHeaders=host, Signature=00"


def raw(port: int, method: str, path: str = "/", headers: dict | None = None, body: bytes = b"",
        host: str | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request as curl sends it: exactly these headers (and Host), nothing added."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", f"127.0.0.1:{port}" if host is None else host)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        if body or method == "POST":
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body or None)
        answer = connection.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        connection.close()


def no_cors(headers: dict[str, str]) -> bool:
    return not any(name.startswith("access-control-") for name in headers)


def session_with(info, **keys) -> LabSession:
    return LabSession(backend="local", endpoint_url=info.url, region_name="us-east-1", **keys)


def signed_with(environ_headers: dict, key: AccessKey, when: datetime, port: int, service: str = "ecs",
                body: bytes = b"{}") -> dict:
    """Headers of an ECS call signed by ``key`` at ``when`` (to sign in the past, as a replayed request is)."""
    amz_date = f"{when:%Y%m%dT%H%M%SZ}"
    headers = {**environ_headers, "X-Amz-Date": amz_date}
    environ = {"REQUEST_METHOD": "POST", "REQUEST_URI": "/", "QUERY_STRING": "", "HTTP_HOST": f"127.0.0.1:{port}",
               **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()
                  if k.lower() != "content-type"}, "CONTENT_TYPE": headers.get("Content-Type", "")}
    names = ";".join(sorted(["host", "x-amz-date", "x-amz-target", "content-type"]))
    claim = sigv4.Signed(key.access_key_id, amz_date[:8], "us-east-1", service, amz_date, names, "", False)
    signature = sigv4.signature(environ, body, key, claim)
    scope = f"{key.access_key_id}/{amz_date[:8]}/us-east-1/{service}/aws4_request"
    return {**headers, "Authorization": f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders={names}, "
                                        f"Signature={signature}"}


# --- 1. no browser traffic ---------------------------------------------------------------------------------


def test_a_cross_origin_preflight_is_refused_without_cors_headers(simulated_backend):
    status, headers, body = raw(simulated_backend.port, "OPTIONS", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-amz-target,content-type"})
    assert status == 403 and no_cors(headers)
    assert body.decode().count("\n") == 1 and "web page" in body.decode()


def test_a_cross_origin_post_to_ecs_is_refused_before_anything_runs(simulated_backend):
    status, headers, body = raw(simulated_backend.port, "POST", headers={
        "Origin": "https://evil.example", "X-Amz-Target": ECS_TARGET, "Content-Type": "application/x-amz-json-1.1",
        "Authorization": MADE_UP}, body=b"{}")
    assert status == 403 and no_cors(headers) and b"clusterArns" not in body
    # Even a correctly signed request is refused from a page: the Origin alone decides.
    session = session_with(simulated_backend, **local.CREDENTIALS)
    client = session.client("ecs", config=NO_RETRY)
    client.meta.events.register("before-send.ecs.*", lambda request, **_: request.headers.__setitem__(
        "Origin", "http://127.0.0.1:8888"))
    with pytest.raises(ClientError) as refused:
        client.list_clusters()
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_a_rebinding_host_name_is_refused_and_the_two_local_names_are_served(simulated_backend):
    port = simulated_backend.port
    for host in (f"evil.example:{port}", f"127.0.0.1.nip.io:{port}", "127.0.0.1", f"127.0.0.1:{port + 1}", ""):
        status, headers, body = raw(port, "GET", local.HEALTH_PATH, host=host)
        assert status == 403 and b"DNS rebinding" in body and no_cors(headers), host
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        assert raw(port, "GET", local.HEALTH_PATH, host=host)[0] == 200
    by_name = LabSession(backend="local", endpoint_url=f"http://localhost:{port}", region_name="us-east-1",
                         **local.CREDENTIALS)
    assert by_name.client("sts").get_caller_identity()["Account"]


def test_signed_answers_carry_no_cors_headers(simulated_backend):
    session = session_with(simulated_backend, **local.CREDENTIALS)
    answer = session.client("ecs").list_clusters()
    assert no_cors({k.lower(): v for k, v in answer["ResponseMetadata"]["HTTPHeaders"].items()})


# --- 2. signed requests only ----------------------------------------------------------------------------------


def test_an_unsigned_ecs_call_gets_aws_missing_token_error(simulated_backend):
    status, headers, body = raw(simulated_backend.port, "POST", headers={
        "X-Amz-Target": ECS_TARGET, "Content-Type": "application/x-amz-json-1.1"}, body=b"{}")
    assert status == 400 and json.loads(body)["__type"] == "MissingAuthenticationTokenException"
    assert no_cors(headers)


def test_a_made_up_key_gets_aws_invalid_key_error(simulated_backend):
    status, _, body = raw(simulated_backend.port, "POST", headers={
        "X-Amz-Target": ECS_TARGET, "Content-Type": "application/x-amz-json-1.1", "Authorization": MADE_UP,
        "X-Amz-Date": f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}"}, body=b"{}")
    assert status == 400 and json.loads(body)["__type"] == "UnrecognizedClientException"


@pytest.mark.parametrize("service,call,wrong_secret,unknown_key", [
    ("ecs", lambda c: c.list_clusters(), "InvalidSignatureException", "UnrecognizedClientException"),
    ("ecr", lambda c: c.describe_repositories(), "InvalidSignatureException", "UnrecognizedClientException"),
    ("logs", lambda c: c.describe_log_groups(), "InvalidSignatureException", "UnrecognizedClientException"),
    ("secretsmanager", lambda c: c.list_secrets(), "InvalidSignatureException", "UnrecognizedClientException"),
    ("sts", lambda c: c.get_caller_identity(), "SignatureDoesNotMatch", "InvalidClientTokenId"),
    ("iam", lambda c: c.list_roles(), "SignatureDoesNotMatch", "InvalidClientTokenId"),
    ("ec2", lambda c: c.describe_security_groups(), "AuthFailure", "AuthFailure"),
    ("s3", lambda c: c.list_buckets(), "SignatureDoesNotMatch", "InvalidAccessKeyId"),
])
def test_another_secret_or_key_gets_each_protocols_error(simulated_backend, service, call, wrong_secret,
                                                         unknown_key):
    key_id = local.CREDENTIALS["aws_access_key_id"]
    other = "x" * 40
    for keys, code in (({"aws_access_key_id": key_id, "aws_secret_access_key": other}, wrong_secret),
                       ({"aws_access_key_id": "AKIAIOSFODNN7EXAMPLE", "aws_secret_access_key": other}, unknown_key)):
        with pytest.raises(ClientError) as refused:
            call(session_with(simulated_backend, **keys).client(service, config=NO_RETRY))
        assert refused.value.response["Error"]["Code"] == code, keys
    assert call(session_with(simulated_backend, **local.CREDENTIALS).client(service))["ResponseMetadata"][
        "HTTPStatusCode"] == 200


def test_a_replayed_request_signed_twenty_minutes_ago_is_expired(simulated_backend):
    key = AccessKey(**{k.replace("aws_", ""): v for k, v in local.CREDENTIALS.items()})
    port = simulated_backend.port
    base = {"X-Amz-Target": ECS_TARGET, "Content-Type": "application/x-amz-json-1.1"}
    fresh = signed_with(base, key, datetime.now(UTC), port)
    assert raw(port, "POST", headers=fresh, body=b"{}")[0] == 200  # the hand-made signature itself is right
    old = signed_with(base, key, datetime.now(UTC) - timedelta(minutes=20), port)
    status, _, body = raw(port, "POST", headers=old, body=b"{}")
    assert status == 400 and json.loads(body)["__type"] == "InvalidSignatureException"
    assert "Signature expired" in json.loads(body)["message"]
    tampered = raw(port, "POST", headers=fresh, body=b'{"maxResults": 1}')  # the body is not the one signed
    assert tampered[0] == 400 and json.loads(tampered[2])["__type"] == "InvalidSignatureException"


def test_a_presigned_s3_url_works_until_tampered_with(simulated_backend):
    """SigV4 presigning (botocore presigns S3 with the retired Signature Version 2 unless told)."""
    s3 = session_with(simulated_backend, **local.CREDENTIALS).client("s3", config=Config(signature_version="s3v4"))
    s3.create_bucket(Bucket="fargate-lab-presign")
    s3.put_object(Bucket="fargate-lab-presign", Key="a b/c.txt", Body=b"hello")
    address = s3.generate_presigned_url("get_object", Params={"Bucket": "fargate-lab-presign", "Key": "a b/c.txt"})
    with urllib.request.urlopen(address, timeout=10) as answer:
        assert answer.read() == b"hello"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(address.replace("c.txt", "d.txt"), timeout=10)
    assert refused.value.code == 403 and b"SignatureDoesNotMatch" in refused.value.read()
    v2 = session_with(simulated_backend, **local.CREDENTIALS).client("s3").generate_presigned_url(
        "get_object", Params={"Bucket": "fargate-lab-presign", "Key": "a b/c.txt"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(v2, timeout=10)  # Signature Version 2: not accepted
    assert refused.value.code == 403


def test_the_control_api_needs_the_key_but_the_health_check_reveals_nothing(simulated_backend):
    port = simulated_backend.port
    status, _, body = raw(port, "GET", local.HEALTH_PATH)
    assert status == 200 and json.loads(body) == {"server": local.SERVER_NAME}
    assert local.health(port)["pid"] == simulated_backend.pid  # signed: the details
    for method, path in (("POST", local.RESET_PATH), ("GET", local.CLOCK_PATH), ("POST", local.CLOCK_PATH),
                         ("POST", "/moto-api/reset"), ("GET", "/moto-api/data.json"), ("GET", "/moto-api/")):
        status, _, body = raw(port, method, path, headers={"Authorization": MADE_UP}, body=b"{}")
        assert status == 403 and "signed" in json.loads(body)["error"], path
        assert raw(port, method, path, body=b"{}")[0] == 403, path


def test_the_registry_keeps_its_token_auth(simulated_backend):
    status, headers, _ = raw(simulated_backend.port, "GET", "/v2/")
    assert status == 401 and "basic" in headers["www-authenticate"].lower()


# --- the key: made once, private, kept by reset, rotated on demand ---------------------------------------------


def test_the_key_is_private_to_the_user_and_survives_a_reset(simulated_backend):
    path = local.state_dir() / "credentials.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(local.state_dir()).st_mode) == 0o700
    before = dict(local.CREDENTIALS)
    assert before["aws_access_key_id"].startswith("FLAB") and len(before["aws_secret_access_key"]) == 40
    local.reset(simulated_backend.port)
    assert dict(local.CREDENTIALS) == before


def test_the_credentials_command_sets_up_any_boto3_tool(simulated_backend):
    lines = subprocess.run([sys.executable, "-m", "helpers.local", "credentials", "--port",
                            str(simulated_backend.port)], capture_output=True, text=True, check=True).stdout
    names = [line.split("=", 1)[0] for line in lines.splitlines()]
    assert names == ["export AWS_ACCESS_KEY_ID", "export AWS_SECRET_ACCESS_KEY", "export AWS_ENDPOINT_URL",
                     "export AWS_DEFAULT_REGION"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    probe = "import boto3; print(boto3.client('sts').get_caller_identity()['Account'])"
    out = subprocess.run(["bash", "-c", f'eval "$({sys.executable} -m helpers.local credentials --port '
                                        f'{simulated_backend.port})" && {sys.executable} -c "{probe}"'],
                         capture_output=True, text=True, env=env, check=True).stdout
    assert out.strip().isdigit()


def test_rotation_refuses_the_old_key_and_serves_the_new(simulated_backend):
    old = dict(local.CREDENTIALS)
    local.rotate_credentials()
    new = dict(local.CREDENTIALS)
    assert new != old and stat.S_IMODE(os.stat(local.state_dir() / "credentials.json").st_mode) == 0o600
    with pytest.raises(ClientError) as refused:
        session_with(simulated_backend, **old).client("ecs", config=NO_RETRY).list_clusters()
    assert refused.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert "clusterArns" in session_with(simulated_backend, **new).client("ecs").list_clusters()
    assert local.status(simulated_backend.port).pid == simulated_backend.pid


def test_a_shared_state_directory_is_refused(tmp_path):
    from emulator.credentials import SharedStateDir, ensure

    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    with pytest.raises(SharedStateDir, match="FARGATE_LAB_STATE_DIR"):
        ensure(shared)
    assert not (shared / "credentials.json").exists()


def test_boto3_default_chain_never_reaches_the_backend_unsigned(simulated_backend):
    """An anonymous client (no credentials at all) is refused too."""
    from botocore import UNSIGNED

    client = boto3.client("ecs", endpoint_url=simulated_backend.url, region_name="us-east-1",
                          config=Config(signature_version=UNSIGNED, retries={"total_max_attempts": 1}))
    with pytest.raises(ClientError) as refused:
        client.list_clusters()
    assert refused.value.response["Error"]["Code"] == "MissingAuthenticationTokenException"
