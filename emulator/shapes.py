"""Every answer checked against botocore's service model, when asked (``FARGATE_LAB_CHECK_SHAPES=FILE``).

A WSGI layer in front of everything else: it lets the request through, then checks a successful answer of a
JSON-protocol service member by member (names, types, enum values, required members) and a query/EC2-protocol
answer as botocore parses it (types, enums, required members). Each mismatch is one JSON line appended to FILE
(several servers may share it), naming the operation and the member, e.g.
``{"operation": "ecs.DescribeTasks", "member": "tasks[0].lastStatus", "problem": "'X' is not one of ..."}``.
The test suite's conftest sets FILE and fails the run when it is not empty. Off by default: it costs a parse.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from typing import Any

from emulator.faults import Call, identify

_MAX_PER_ANSWER = 20
_lock = threading.Lock()
_models: dict[str, Any] = {}


def _service_model(service: str) -> Any:
    with _lock:
        if service not in _models:
            import botocore.session

            try:
                _models[service] = botocore.session.get_session().get_service_model(service)
            except Exception:  # noqa: BLE001 - a signing name botocore does not know as a service: not checked
                _models[service] = None
        return _models[service]


def check_value(value: Any, shape: Any, path: str, problems: list[str]) -> None:
    """Append to ``problems`` how ``value`` (JSON as sent) differs from botocore's ``shape``."""
    if len(problems) >= _MAX_PER_ANSWER:
        return
    kind = shape.type_name
    if value is None:
        problems.append(f"{path or '(answer)'}: null where botocore expects {kind}")
        return
    if kind == "structure":
        if not isinstance(value, dict):
            problems.append(f"{path}: {type(value).__name__} where botocore expects a structure")
            return
        members = shape.members
        wire = {(m.serialization.get("name") or name): name for name, m in members.items()}
        for key, item in value.items():
            if key not in wire:
                problems.append(f"{_join(path, key)}: not a member of {shape.name}")
                continue
            check_value(item, members[wire[key]], _join(path, key), problems)
        for name in getattr(shape, "required_members", []) or []:
            if (members[name].serialization.get("name") or name) not in value:
                problems.append(f"{_join(path, name)}: required member missing")
    elif kind == "list":
        if not isinstance(value, list):
            problems.append(f"{path}: {type(value).__name__} where botocore expects a list")
            return
        for index, item in enumerate(value):
            check_value(item, shape.member, f"{path}[{index}]", problems)
    elif kind == "map":
        if not isinstance(value, dict):
            problems.append(f"{path}: {type(value).__name__} where botocore expects a map")
            return
        for key, item in value.items():
            check_value(item, shape.value, f"{path}[{key!r}]", problems)
    elif kind == "string":
        if not isinstance(value, str):
            problems.append(f"{path}: {type(value).__name__} {value!r} where botocore expects a string")
        elif shape.enum and value not in shape.enum:
            problems.append(f"{path}: {value!r} is not one of {', '.join(shape.enum)}")
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{path}: {value!r} where botocore expects an integer")
    elif kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(f"{path}: {value!r} where botocore expects a number")
    elif kind == "boolean":
        if not isinstance(value, bool):
            problems.append(f"{path}: {value!r} where botocore expects a boolean")
    elif kind == "timestamp":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            problems.append(f"{path}: {value!r} where botocore expects a timestamp")
    elif kind == "blob" and not isinstance(value, str):
        problems.append(f"{path}: {type(value).__name__} where botocore expects base64 text")


def check_parsed(value: Any, shape: Any, path: str, problems: list[str]) -> None:
    """For answers botocore parsed (query, EC2): required members and enum values."""
    if len(problems) >= _MAX_PER_ANSWER or value is None:
        return
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value:
                check_parsed(value[name], member, _join(path, name), problems)
        for name in getattr(shape, "required_members", []) or []:
            if name not in value:
                problems.append(f"{_join(path, name)}: required member missing")
    elif kind == "list" and isinstance(value, list):
        for index, item in enumerate(value):
            check_parsed(item, shape.member, f"{path}[{index}]", problems)
    elif kind == "string" and shape.enum and isinstance(value, str) and value not in shape.enum:
        problems.append(f"{path}: {value!r} is not one of {', '.join(shape.enum)}")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def check_answer(call: Call, status: int, headers: dict[str, str], body: bytes) -> list[str]:
    """The mismatches of one successful answer (an empty list when it agrees, or is not checked)."""
    model = _service_model(call.service)
    if model is None or not 200 <= status < 300:
        return []
    try:
        operation = model.operation_model(call.operation)
    except Exception:  # noqa: BLE001 - an operation botocore does not have: not this check's business
        return []
    shape = operation.output_shape
    if shape is None:
        return []
    problems: list[str] = []
    if call.protocol == "json":
        try:
            value = json.loads(body or b"{}")
        except ValueError:
            return ["(answer): not JSON"]
        check_value(value, shape, "", problems)
        return problems
    from botocore.parsers import create_parser

    try:
        parsed = create_parser(model.metadata["protocol"]).parse(
            {"status_code": status, "headers": headers, "body": body}, shape)
    except Exception as error:  # noqa: BLE001 - botocore cannot read it: that is the mismatch
        return [f"(answer): botocore cannot parse it: {error}"]
    parsed.pop("ResponseMetadata", None)
    check_parsed(parsed, shape, "", problems)
    return problems


class ShapeCheckLayer:
    """WSGI middleware around the whole app: records each answer's mismatches to ``record``."""

    def __init__(self, app: Callable, record: str) -> None:
        self.app = app
        self.record = record

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        call = identify(environ)
        if call is None:
            return self.app(environ, start_response)
        seen: dict[str, Any] = {}

        def start(status: str, headers: list, exc_info: Any = None) -> Callable:
            seen.update(status=status, headers=headers)
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        answer = self.app(environ, start)
        try:
            body = b"".join(answer)
        finally:
            if hasattr(answer, "close"):
                answer.close()
        try:
            status = int(str(seen.get("status", "500")).split()[0])
            problems = check_answer(call, status, dict(seen.get("headers") or []), body)
        except Exception as error:  # noqa: BLE001 - the check must never break an answer
            problems = [f"(check failed: {error})"]
        if problems:
            self._write(call, problems)
        return [body]

    def _write(self, call: Call, problems: list[str]) -> None:
        lines = "".join(json.dumps({"operation": f"{call.service}.{call.operation}", "member": p.split(":", 1)[0],
                                    "problem": p}) + "\n" for p in problems)
        with _lock, open(self.record, "a", encoding="utf-8") as out:
            out.write(lines)


def wrap(app: Callable, record: str | None) -> Callable:
    """``app`` checked when ``record`` (FARGATE_LAB_CHECK_SHAPES) names a file, else ``app`` itself."""
    return ShapeCheckLayer(app, record) if record else app
