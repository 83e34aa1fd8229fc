"""JSON answers as AWS's JSON protocol sends them: a member without a value is left out, never ``null``.

moto writes ``null`` for members it has no value for (ListSecrets' ``KmsKeyId``, ``DeletedDate``...); AWS
leaves them out, and botocore's model has no null. A few members moto names or adds where AWS does not are
put right here too (``RENAMED``, ``DROPPED``), each checked against botocore's model of the operation.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from emulator.faults import identify

#: (service, operation) -> (list member, moto's member name, AWS's member name)
RENAMED = {("secretsmanager", "ListSecrets"): ("SecretList", "VersionIdsToStages", "SecretVersionsToStages")}
#: (service, operation) -> (list member, a member moto adds that the operation's answer does not have)
DROPPED = {("events", "ListRules"): ("Rules", "CreatedBy")}


def without_nulls(value: Any) -> Any:
    """``value`` with every ``null`` member of every object left out."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def _put_right(key: tuple[str, str], data: dict) -> dict:
    if key in RENAMED:
        member, moto_name, aws_name = RENAMED[key]
        for entry in data.get(member) or []:
            if moto_name in entry:
                entry[aws_name] = entry.pop(moto_name)
    if key in DROPPED:
        member, extra = DROPPED[key]
        for entry in data.get(member) or []:
            entry.pop(extra, None)
    return data


class JsonAnswers:
    """WSGI middleware around moto: rewrites successful JSON-protocol answers as AWS would send them."""

    def __init__(self, app: Callable) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        call = identify(environ)
        if call is None or call.protocol != "json":
            return self.app(environ, start_response)
        seen: dict[str, Any] = {}

        def start(status: str, headers: list, exc_info: Any = None) -> Callable:
            seen.update(status=status, headers=headers)
            return lambda data: None

        answer = self.app(environ, start)
        try:
            body = b"".join(answer)
        finally:
            if hasattr(answer, "close"):
                answer.close()
        status, headers = seen["status"], seen["headers"]
        if status.startswith("2") and body:
            try:
                data = json.loads(body)
            except ValueError:
                data = None
            if isinstance(data, dict):
                body = json.dumps(_put_right((call.service, call.operation), without_nulls(data))).encode()
        kept = [(k, v) for k, v in headers if k.lower() != "content-length"]
        start_response(status, [*kept, ("Content-Length", str(len(body)))])
        return [body]
