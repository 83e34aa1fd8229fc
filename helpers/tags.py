"""The suite's tags: how the suite recognises what it created, on any machine.

Every resource the suite creates carries ``SUITE_TAG_KEY=SUITE_TAG_VALUE`` and the
run id (``RUN_ID_TAG_KEY``). Cleanup finds resources by these tags on the backend
itself, never by name.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Literal

SUITE_TAG_KEY = "fargate-lab:suite"
SUITE_TAG_VALUE = "fargate-lab"
RUN_ID_TAG_KEY = "fargate-lab:run-id"
RUN_ID_ENV = "FARGATE_LAB_RUN_ID"

Style = Literal["Key", "key", "dict"]

_process_run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def run_id() -> str:
    """The id of this run: set by the runner for a whole suite, else one per process."""
    return os.environ.get(RUN_ID_ENV) or _process_run_id


def suite_tags(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The suite's tags plus ``extra``, as a plain dict."""
    tags = {SUITE_TAG_KEY: SUITE_TAG_VALUE, RUN_ID_TAG_KEY: run_id()}
    tags.update(extra or {})
    return tags


def tag_value(text: str) -> str:
    """``text`` as a tag value every AWS service here accepts: at most 256 characters, each a letter, a number, a
    space or one of ``_ . : / = + - @`` (others become ``_``), e.g. a notebook named "check (copy).ipynb"."""
    kept = "".join(c if unicodedata.category(c)[0] in "LNZ" or c in "_.:/=+-@" else "_" for c in text)
    return kept[:256]


def as_aws(tags: Mapping[str, str], style: Style = "Key") -> list[dict[str, str]] | dict[str, str]:
    """Tags in the shape an AWS API wants.

    ``"Key"``: ``[{"Key": k, "Value": v}]`` (ECR, EC2, IAM); ``"key"``: ``[{"key": k,
    "value": v}]`` (ECS); ``"dict"``: ``{k: v}`` (CloudWatch Logs).
    """
    if style == "dict":
        return dict(tags)
    k, v = ("Key", "Value") if style == "Key" else ("key", "value")
    return [{k: key, v: value} for key, value in tags.items()]


def is_suite_tagged(tags: Mapping[str, str] | list[dict[str, str]] | None) -> bool:
    """True when ``tags`` (any AWS shape) carry the suite's key and value."""
    if not tags:
        return False
    if isinstance(tags, Mapping):
        return tags.get(SUITE_TAG_KEY) == SUITE_TAG_VALUE
    for tag in tags:
        key = tag.get("Key", tag.get("key"))
        value = tag.get("Value", tag.get("value"))
        if key == SUITE_TAG_KEY and value == SUITE_TAG_VALUE:
            return True
    return False
