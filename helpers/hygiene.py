"""Output hygiene: executed notebooks and logs get archived and shared, so no secret may appear in them.

Looks for two things: secrets the caller knows (the session's secret access key and
session token, ECR authorization tokens and their decoded passwords, secret values
from Secrets Manager or SSM), and the shapes of real AWS secrets (an ECR token is
base64 of ``AWS:...``, an STS session token starts with ``IQoJb3JpZ2lu`` or
``FwoGZXIvYXdz``, a secret access key is 40 base64 characters next to a key word).
A finding never repeats the secret: it says where, what kind, and its first characters.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import boto3
import pandas as pd

#: Known values shorter than this are too common to scan for (a placeholder such as "testing").
MIN_SECRET_LENGTH = 8

PATTERNS: dict[str, re.Pattern[str]] = {
    "ECR authorization token": re.compile(r"QVdTO[A-Za-z0-9+/]{16,}={0,2}"),
    "ECR password": re.compile(r"eyJwYXlsb2FkIjoi[A-Za-z0-9+/]{16,}={0,2}"),
    "session token": re.compile(r"(?:IQoJb3JpZ2lu|FwoGZXIvYXdz)[A-Za-z0-9+/]{40,}={0,2}"),
    "secret access key": re.compile(
        r"(?i)(?:secret_?access_?key|aws_secret|SecretAccessKey)[\"'\s:=]+([A-Za-z0-9+/]{40})(?![A-Za-z0-9+/])"
    ),
}


@dataclass(frozen=True)
class Finding:
    """One secret found: where (file and place in it), what kind, and a redacted hint."""

    path: str
    where: str
    kind: str
    hint: str


def redact(secret: str) -> str:
    """The first four characters and the length: enough to recognise a secret, not to use it."""
    return f"{secret[:4]}... ({len(secret)} characters)"


def ecr_token_secrets(token: str) -> list[str]:
    """An ECR authorization token and the password inside it (base64 of ``AWS:<password>``)."""
    found = [token]
    try:
        decoded = base64.b64decode(token, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return found
    user, sep, password = decoded.partition(":")
    if sep and password:
        found.append(password)
    return found


def session_secrets(session: boto3.Session) -> list[str]:
    """The session's secret access key and session token (never printed; only scanned for)."""
    credentials = session.get_credentials()
    if credentials is None:
        return []
    frozen = credentials.get_frozen_credentials()
    return [value for value in (frozen.secret_key, frozen.token) if value]


def backend_secrets(session: boto3.Session) -> list[str]:
    """Every secret the backend holds that must never be shown: ECR token and password, Secrets Manager
    secret values, SSM SecureString values. Reads them only to scan for them."""
    from botocore.exceptions import ClientError

    found: list[str] = []
    ecr = session.client("ecr")
    for data in ecr.get_authorization_token().get("authorizationData", []):
        found += ecr_token_secrets(data["authorizationToken"])
    secrets = session.client("secretsmanager")
    for page in secrets.get_paginator("list_secrets").paginate():
        for secret in page["SecretList"]:
            try:
                value = secrets.get_secret_value(SecretId=secret["ARN"])
            except ClientError:
                continue
            if value.get("SecretString"):
                found.append(value["SecretString"])
                found += _json_values(value["SecretString"])
    ssm = session.client("ssm")
    names = [p["Name"] for page in ssm.get_paginator("describe_parameters").paginate(
        ParameterFilters=[{"Key": "Type", "Values": ["SecureString"]}]) for p in page["Parameters"]]
    for start in range(0, len(names), 10):
        for parameter in ssm.get_parameters(Names=names[start:start + 10], WithDecryption=True)["Parameters"]:
            found.append(parameter["Value"])
    return found


def _json_values(text: str) -> list[str]:
    """The string values of a JSON secret (``{"password": "..."}``): each is a secret of its own."""
    try:
        data = json.loads(text)
    except ValueError:
        return []
    return [v for v in data.values() if isinstance(v, str)] if isinstance(data, Mapping) else []


def scan_text(text: str, known: Iterable[str] = (), path: str = "", where: str = "") -> list[Finding]:
    """Findings in ``text``: known secrets (at least MIN_SECRET_LENGTH long) and secret-shaped strings."""
    findings = []
    for secret in {s for s in known if s and len(s) >= MIN_SECRET_LENGTH}:
        if secret in text:
            findings.append(Finding(path, where, "known secret", redact(secret)))
    for kind, pattern in PATTERNS.items():
        for match in pattern.finditer(text):
            value = match.group(match.lastindex or 0)
            findings.append(Finding(path, where, kind, redact(value)))
    return findings


def notebook_texts(path: Path) -> Iterable[tuple[str, str]]:
    """(place, text) for every cell source and output of a notebook, parameters injected by papermill included."""
    notebook = json.loads(Path(path).read_text())
    for index, cell in enumerate(notebook.get("cells", [])):
        source = cell.get("source", "")
        yield f"cell {index} source", "".join(source) if isinstance(source, list) else source
        for number, output in enumerate(cell.get("outputs", [])):
            yield f"cell {index} output {number}", json.dumps(output)
    yield "metadata", json.dumps(notebook.get("metadata", {}))


def scan_paths(paths: Iterable[Path], known: Iterable[str] = ()) -> list[Finding]:
    """Scan notebooks (cell by cell) and any other file (logs) as text."""
    known = list(known)
    findings: list[Finding] = []
    for path in paths:
        path = Path(path)
        if path.suffix == ".ipynb":
            for where, text in notebook_texts(path):
                findings += scan_text(text, known, str(path), where)
        else:
            findings += scan_text(path.read_text(errors="replace"), known, str(path), "file")
    return findings


def findings_table(findings: list[Finding]) -> pd.DataFrame:
    """Findings as a table (path, where, kind, hint); empty when the outputs are clean."""
    return pd.DataFrame([f.__dict__ for f in findings], columns=["path", "where", "kind", "hint"])
