"""ECS's rules for tags, checked on the wire for every ECS call that carries them (moto stores any tag).

From the API reference's Tag type (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Tag.html): at
most 50 tags per resource; a key of 1 to 128 characters, a value of at most 256; both match
``^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$`` (letters, separators such as spaces, numbers and ``_ . : / = + - @``);
keys are unique per resource. The ``aws:`` prefix is reserved; ECS does not document the error for these, so the
refusal is an ``InvalidParameterException`` in our own words.
"""

from __future__ import annotations

import unicodedata
from typing import Any

#: The ECS operations whose request carries ``tags`` (a list of ``{"key", "value"}``).
TAGGED_OPERATIONS = ("CreateCluster", "CreateService", "CreateTaskSet", "CreateCapacityProvider",
                     "RegisterTaskDefinition", "RunTask", "StartTask", "TagResource")
MAX_TAGS = 50
MAX_KEY = 128
MAX_VALUE = 256
ALLOWED_SYMBOLS = set("_.:/=+-@")
VALID = "letters, numbers, spaces and _ . : / = + - @"


def _allowed(char: str) -> bool:
    category = unicodedata.category(char)
    return category[0] in "LNZ" or char in ALLOWED_SYMBOLS


def tag_problem(tags: Any) -> str | None:
    """What ECS would refuse in ``tags`` (the request's list), or None."""
    if not isinstance(tags, list):
        return None
    user = [t for t in tags if isinstance(t, dict) and not str(t.get("key", "")).lower().startswith("aws:")]
    if len(user) > MAX_TAGS:
        return f"a resource has at most {MAX_TAGS} tags; the request has {len(user)}"
    seen: set[str] = set()
    for tag in tags:
        key, value = str(tag.get("key", "")), str(tag.get("value", ""))
        if not 1 <= len(key) <= MAX_KEY:
            return f"tag key {key!r} must be 1 to {MAX_KEY} characters"
        if len(value) > MAX_VALUE:
            return f"the value of tag {key!r} must be at most {MAX_VALUE} characters"
        for part, text in (("key", key), ("value", value)):
            bad = sorted({c for c in text if not _allowed(c)})
            if bad:
                return f"tag {part} {text!r} has characters tags may not have ({''.join(bad)}): use {VALID}"
        if key in seen:
            return f"tag key {key!r} appears twice: each key has one value"
        seen.add(key)
    return None
