"""Pages and list limits as AWS applies them, in front of moto (a WSGI layer, see ``emulator.limits``).

moto ignores most page sizes (ListTasks returns every ARN, no ``nextToken``) and accepts any. Here a
list operation of ``limits.PAGED`` is answered by asking moto for everything (following moto's own
tokens where it has them), then cutting the page the client asked for: ``limit_key`` checked against
the range, the default page size when absent, an opaque token of our own. A token is bound to the
request it came from: reused with other filters it is refused, as AWS refuses it.
ListTaskDefinitions is sorted by family, then revision (``sort=DESC`` reverses), as ECS documents.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode

from emulator import limits
from emulator.faults import Call, error_response, identify

#: Query-protocol answers carry the items in ``<ELEMENT><item|member>...``.
_ITEM_TAGS = ("item", "member")
_MAX_ROUNDS = 1000  # moto's own pages followed at most this many times (a loop guard, never reached)


class PageError(Exception):
    """A request outside the API's limits: answered with the service's error code, HTTP 400."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class PagingLayer:
    """WSGI middleware (see ``hooks.MIDDLEWARE``): answers paged operations, checks list limits."""

    def __init__(self, downstream: Callable[[], Callable]) -> None:
        self._downstream = downstream  # resolved per call: moto's app (with the fidelity fixes)

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes] | None:
        call = identify(environ)
        if call is None:
            return None
        key = (call.service, call.operation)
        paged = limits.PAGED_BY_CALL.get(key)
        capped = limits.CAPPED_BY_CALL.get(key)
        if paged is None and capped is None:
            return None
        params = _read_params(environ, call)
        if params is None:
            return None
        try:
            for cap in capped or ():
                _check_cap(call, cap, params)
            if paged is None:
                return None
            size = _page_size(call, paged, params)
            if paged in limits.RANGE_ONLY:
                return None
            return self._page(environ, start_response, call, paged, params, size)
        except PageError as error:
            line, headers, body = error_response(call, 400, error.code, error.message)
            start_response(line, headers)
            return [body]

    def _page(self, environ: dict[str, Any], start_response: Callable, call: Call, paged: limits.Paged,
              params: dict[str, Any], size: int | None) -> Iterable[bytes]:
        offset = _offset(call, paged, params)
        base = {k: v for k, v in params.items() if k not in (paged.limit_key, paged.token_key)}
        if call.protocol == "json":
            status, headers, items, answer = self._all_json(environ, paged, base)
        else:
            status, headers, items, answer = self._all_xml(environ, call, paged, base)
        if not status.startswith("2"):  # moto's own error: pass it through as it is
            return _respond(start_response, status, headers, answer)
        if call.service == "ecs" and call.operation == "ListTaskDefinitions":
            items = _sorted_task_definitions(items, str(params.get("sort") or "ASC"))
        end = len(items) if size is None else offset + size
        page, more = items[offset:end], end < len(items)
        token = _token(paged, base, end) if more else None
        if call.protocol == "json":
            data = dict(answer)
            data[paged.result_keys[0]] = page
            data.pop(paged.token_key, None)
            if token:
                data[paged.token_key] = token
            body = json.dumps(data).encode()
        else:
            body = _xml_page(answer, call, paged, page, token)
        return _respond(start_response, status, headers, body)

    def _all_json(self, environ: dict[str, Any], paged: limits.Paged, base: dict[str, Any]):
        items: list = []
        request = dict(base)
        for _ in range(_MAX_ROUNDS):
            status, headers, body = self._forward(environ, json.dumps(request).encode())
            if not status.startswith("2"):
                return status, headers, [], body
            answer = json.loads(body or b"{}")
            items += answer.get(paged.result_keys[0]) or []
            native = answer.get(paged.token_key)
            if not native:
                return status, headers, items, answer
            request = {**base, paged.token_key: native}
        raise PageError("InternalFailure", "the embedded backend's pages did not end")

    def _all_xml(self, environ: dict[str, Any], call: Call, paged: limits.Paged, base: dict[str, Any]):
        items: list = []
        request = dict(base)
        for _ in range(_MAX_ROUNDS):
            status, headers, body = self._forward(environ, urlencode(request).encode())
            if not status.startswith("2"):
                return status, headers, [], body
            root = ET.fromstring(body)
            holder = _find(root, paged.result_keys[0])
            if holder is not None:
                items += list(holder)
            native = _text(root, "nextToken" if call.protocol == "ec2" else paged.token_key)
            truncated = call.protocol == "ec2" or (_text(root, "IsTruncated") or "").lower() == "true"
            if not native or not truncated:
                return status, headers, items, root
            request = {**base, paged.token_key: native}
        raise PageError("InternalFailure", "the embedded backend's pages did not end")

    def _forward(self, environ: dict[str, Any], body: bytes) -> tuple[str, list, bytes]:
        inner = dict(environ)
        inner["wsgi.input"] = io.BytesIO(body)
        inner["CONTENT_LENGTH"] = str(len(body))
        seen: dict[str, Any] = {}

        def start(status: str, headers: list, exc_info: Any = None) -> Callable:
            seen.update(status=status, headers=headers)
            return lambda data: None

        answer = self._downstream()(inner, start)
        try:
            data = b"".join(answer)
        finally:
            if hasattr(answer, "close"):
                answer.close()
        return seen["status"], seen["headers"], data


# -- requests ------------------------------------------------------------------------------------------


def _read_params(environ: dict[str, Any], call: Call) -> dict[str, Any] | None:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    if call.protocol == "json":
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            return None
        return params if isinstance(params, dict) else None
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def _count_query_list(params: dict[str, Any], member: str) -> int | None:
    """How many items a query-protocol list member has (``Member.N`` / ``Member.member.N``), None if absent."""
    pattern = re.compile(rf"^{re.escape(member)}\.(?:member\.)?\d+$")
    found = [k for k in params if pattern.match(k)]
    return len(found) if found else None


def _check_cap(call: Call, cap: limits.Capped, params: dict[str, Any]) -> None:
    if call.protocol == "json":
        value = params.get(cap.member)
        count = len(value) if isinstance(value, list) else None
    else:
        count = _count_query_list(params, cap.member)
    if count is None:
        return
    if not cap.low <= count <= cap.high:
        raise PageError(limits.RANGE_ERROR[cap.service],
                        f"{cap.member} must have between {cap.low} and {cap.high} items; got {count} "
                        f"({cap.operation}, see {cap.source}).")


def _page_size(call: Call, paged: limits.Paged, params: dict[str, Any]) -> int | None:
    raw = params.get(paged.limit_key)
    if raw is None or raw == "":
        return paged.default
    try:
        size = int(raw)
    except (TypeError, ValueError):
        size = None
    if size is None or not paged.low <= size <= paged.high:
        raise PageError(limits.RANGE_ERROR[paged.service],
                        f"{paged.limit_key} must be between {paged.low} and {paged.high}; got {raw} "
                        f"({paged.operation}, see {paged.source}).")
    return size


def _fingerprint(paged: limits.Paged, base: dict[str, Any]) -> str:
    text = json.dumps([paged.service, paged.operation, base], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _token(paged: limits.Paged, base: dict[str, Any], offset: int) -> str:
    raw = json.dumps({"o": offset, "f": _fingerprint(paged, base)}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _offset(call: Call, paged: limits.Paged, params: dict[str, Any]) -> int:
    token = params.get(paged.token_key)
    if token in (None, ""):
        return 0
    base = {k: v for k, v in params.items() if k not in (paged.limit_key, paged.token_key)}
    try:
        padded = str(token) + "=" * (-len(str(token)) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        offset = int(data["o"])
        fingerprint = data["f"]
    except (ValueError, KeyError, TypeError):
        raise PageError(limits.TOKEN_ERROR[paged.service],
                        f"The {paged.token_key} is not one this operation handed out ({paged.operation}).") from None
    if fingerprint != _fingerprint(paged, base) or offset < 0:
        raise PageError(limits.TOKEN_ERROR[paged.service],
                        f"The {paged.token_key} belongs to a request with other parameters ({paged.operation}).")
    return offset


# -- answers -------------------------------------------------------------------------------------------


def _sorted_task_definitions(arns: list[str], order: str) -> list[str]:
    """Family lexicographically, then revision numerically; DESC reverses both (ListTaskDefinitions' ``sort``)."""

    def key(arn: str) -> tuple[str, int]:
        family, _, revision = arn.rsplit("/", 1)[-1].rpartition(":")
        return family, int(revision) if revision.isdigit() else 0

    return sorted(arns, key=key, reverse=order.upper() == "DESC")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(root: ET.Element, name: str) -> ET.Element | None:
    for element in root.iter():
        if _local(element.tag) == name:
            return element
    return None


def _text(root: ET.Element, name: str) -> str | None:
    element = _find(root, name)
    return element.text if element is not None and element.text else None


def _namespace(root: ET.Element) -> str:
    return root.tag[1:].split("}", 1)[0] if root.tag.startswith("{") else ""


def _xml_page(root: ET.Element, call: Call, paged: limits.Paged, page: list[ET.Element], token: str | None) -> bytes:
    namespace = _namespace(root)
    holder = _find(root, paged.result_keys[0])
    if holder is None:
        return ET.tostring(root, encoding="utf-8")
    for child in list(holder):
        holder.remove(child)
    for item in page:
        holder.append(item)
    parent = next(p for p in root.iter() if holder in list(p))
    token_name = "nextToken" if call.protocol == "ec2" else paged.token_key
    for old in [c for c in parent if _local(c.tag) in (token_name, "IsTruncated")]:
        parent.remove(old)
    qualified = (lambda n: f"{{{namespace}}}{n}") if namespace else (lambda n: n)
    if call.protocol != "ec2":
        ET.SubElement(parent, qualified("IsTruncated")).text = "true" if token else "false"
    if token:
        ET.SubElement(parent, qualified(token_name)).text = token
    kwargs = {"default_namespace": namespace} if namespace else {}
    return ET.tostring(root, encoding="utf-8", xml_declaration=True, **kwargs)


def _respond(start_response: Callable, status: str, headers: list, body: Any) -> list[bytes]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    kept = [(k, v) for k, v in headers if k.lower() != "content-length"]
    start_response(status, [*kept, ("Content-Length", str(len(data)))])
    return [data]
