"""Checking AWS Signature Version 4 on a WSGI request, as AWS does, against the installation's one key.

The canonical request is rebuilt from what came over the wire (the raw path and query, the signed headers, the
body's hash) following botocore's rules, so every SDK and the AWS CLI are accepted; moto's own check
(``moto/iam/access_control.py``) compares signatures the same way but without the date or the body's hash.
Both the ``Authorization`` header and presigned URLs (``X-Amz-Signature`` in the query) are checked.
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, quote, unquote

from botocore.utils import normalize_url_path

from emulator.credentials import AccessKey

ALGORITHM = "AWS4-HMAC-SHA256"
#: AWS refuses a request dated more than 15 minutes before or after its own clock (RequestExpired).
MAX_SKEW = timedelta(minutes=15)
UNSIGNED = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_AUTH = re.compile(r"^AWS4-HMAC-SHA256\s+(?P<fields>.+)$")
_FIELD = re.compile(r"(\w+)=([^,\s]*)")


@dataclass(frozen=True)
class Refusal:
    """Why a request's signature is not accepted: ``missing``, ``malformed``, ``unknown_key``, ``mismatch`` or
    ``expired``; the AWS-style message to answer with."""

    kind: str
    message: str


@dataclass(frozen=True)
class Signed:
    """What a request's signature claims: key id, date, region, service, signed headers, signature."""

    key_id: str
    date: str  # 20261202
    region: str
    service: str
    amz_date: str  # 20261202T101112Z
    signed_headers: str
    signature: str
    presigned: bool
    expires: int | None = None


def raw_query(environ: dict) -> str:
    return environ.get("QUERY_STRING", "")


def claimed(environ: dict) -> Signed | Refusal | None:
    """The signature a request carries (header or presigned URL), a Refusal when malformed, None when unsigned."""
    header = environ.get("HTTP_AUTHORIZATION", "")
    query = dict(parse_qsl(raw_query(environ), keep_blank_values=True))
    if header:
        match = _AUTH.match(header)
        if not match:
            return Refusal("malformed", "Authorization header requires the AWS4-HMAC-SHA256 algorithm "
                                        "(Signature Version 4).")
        fields = dict(_FIELD.findall(match.group("fields")))
        credential, signed_headers, signature = (fields.get(k) for k in ("Credential", "SignedHeaders", "Signature"))
        amz_date = environ.get("HTTP_X_AMZ_DATE", "")
        presigned, expires = False, None
    elif "X-Amz-Signature" in query:
        if query.get("X-Amz-Algorithm") != ALGORITHM:
            return Refusal("malformed", "X-Amz-Algorithm only allows AWS4-HMAC-SHA256.")
        credential, signed_headers = query.get("X-Amz-Credential"), query.get("X-Amz-SignedHeaders")
        signature, amz_date = query.get("X-Amz-Signature"), query.get("X-Amz-Date", "")
        presigned = True
        try:
            expires = int(query.get("X-Amz-Expires", "0"))
        except ValueError:
            return Refusal("malformed", "X-Amz-Expires must be a number of seconds.")
    else:
        return None
    if not credential or not signed_headers or not signature:
        missing = [n for n, v in (("Credential", credential), ("SignedHeaders", signed_headers),
                                  ("Signature", signature)) if not v]
        return Refusal("malformed", f"Authorization header requires '{missing[0]}' parameter.")
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not all(parts):
        return Refusal("malformed", f"Credential should be scoped to a valid region, not '{credential}'. "
                                    "Credential is of the form <key id>/<date>/<region>/<service>/aws4_request.")
    if not re.fullmatch(r"\d{8}T\d{6}Z", amz_date or ""):
        return Refusal("malformed", "Authorization header requires existence of either a 'X-Amz-Date' or a "
                                    "'Date' header.")
    return Signed(parts[0], parts[1], parts[2], parts[3], amz_date, signed_headers, signature, presigned, expires)


def verify(environ: dict, body: bytes, key: AccessKey, now: datetime | None = None) -> Refusal | Signed:
    """The request's signature if it is valid for ``key``, else why not."""
    signed = claimed(environ)
    if signed is None:
        return Refusal("missing", "Missing Authentication Token")
    if isinstance(signed, Refusal):
        return signed
    if not hmac.compare_digest(signed.key_id.encode(), key.access_key_id.encode()):
        return Refusal("unknown_key", "The security token included in the request is invalid.")
    moment = datetime.strptime(signed.amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    now = now or datetime.now(UTC)  # real time, not the emulator's clock: this is about the wire
    if signed.presigned:
        if now > moment + timedelta(seconds=signed.expires or 0):
            return Refusal("expired", f"Request has expired: X-Amz-Date {signed.amz_date}, "
                                      f"X-Amz-Expires {signed.expires} seconds.")
    elif abs(now - moment) > MAX_SKEW:
        return Refusal("expired", f"Signature expired: {signed.amz_date} is now earlier than "
                                  f"{(now - MAX_SKEW):%Y%m%dT%H%M%SZ} ({now:%Y%m%dT%H%M%SZ} - 15 min.)"
                       if moment < now else
                       f"Signature not yet current: {signed.amz_date} is still later than "
                       f"{(now + MAX_SKEW):%Y%m%dT%H%M%SZ} ({now:%Y%m%dT%H%M%SZ} + 15 min.)")
    if signed.amz_date[:8] != signed.date:
        return Refusal("mismatch", _MISMATCH)
    content_hash = environ.get("HTTP_X_AMZ_CONTENT_SHA256")
    if content_hash and content_hash != UNSIGNED and not content_hash.startswith("STREAMING-"):
        if not hmac.compare_digest(content_hash, hashlib.sha256(body).hexdigest()):
            return Refusal("mismatch", "The provided 'x-amz-content-sha256' header does not match what was "
                                       "computed.")
    expected = signature(environ, body, key, signed)
    if not hmac.compare_digest(expected, signed.signature):
        return Refusal("mismatch", _MISMATCH)
    return signed


_MISMATCH = ("The request signature we calculated does not match the signature you provided. Check your AWS "
             "Secret Access Key and signing method. Consult the service documentation for details.")


def canonical_request(environ: dict, body: bytes, signed: Signed) -> str:
    raw_uri = environ.get("REQUEST_URI") or environ.get("RAW_URI") or quote(environ.get("PATH_INFO", "/"))
    path = raw_uri.split("?", 1)[0] or "/"
    if signed.service != "s3":  # botocore normalises and encodes the path once more, except for S3
        path = quote(normalize_url_path(path), safe="/~")
    pairs = []
    for pair in raw_query(environ).split("&") if raw_query(environ) else []:
        name, _, value = pair.partition("=")
        if signed.presigned and unquote(name) == "X-Amz-Signature":
            continue
        pairs.append((name, value))
    query = "&".join(f"{name}={value}" for name, value in sorted(pairs))
    headers = []
    for name in signed.signed_headers.split(";"):
        headers.append(f"{name}:{' '.join(_header(environ, name).split())}")
    if signed.presigned:
        payload = UNSIGNED if signed.service == "s3" else hashlib.sha256(body).hexdigest()
    else:
        payload = environ.get("HTTP_X_AMZ_CONTENT_SHA256") or hashlib.sha256(body).hexdigest()
    return "\n".join([environ.get("REQUEST_METHOD", "GET").upper(), path, query, "\n".join(headers) + "\n",
                      signed.signed_headers, payload])


def _header(environ: dict, name: str) -> str:
    key = name.upper().replace("-", "_")
    if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        return environ.get(key, "")
    return environ.get(f"HTTP_{key}", "")


def signature(environ: dict, body: bytes, key: AccessKey, signed: Signed) -> str:
    scope = f"{signed.date}/{signed.region}/{signed.service}/aws4_request"
    digest = hashlib.sha256(canonical_request(environ, body, signed).encode()).hexdigest()
    to_sign = f"{ALGORITHM}\n{signed.amz_date}\n{scope}\n{digest}"
    signing_key = ("AWS4" + key.secret_access_key).encode()
    for part in (signed.date, signed.region, signed.service, "aws4_request"):
        signing_key = hmac.new(signing_key, part.encode(), hashlib.sha256).digest()
    return hmac.new(signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
