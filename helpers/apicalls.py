"""Counting the API calls a piece of code makes, with botocore's event hooks (no mocks, no proxies)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import count

import boto3

_ids = count()


class CallCounter(Counter):
    """``Counter`` of "service.Operation" (e.g. "ecs.DescribeTasks") to the number of calls made."""

    @property
    def total(self) -> int:  # type: ignore[override]
        return sum(self.values())


@contextmanager
def count_calls(session: boto3.Session) -> Iterator[CallCounter]:
    """Count every API call of clients created from ``session`` inside the block (retries count once).

    Clients copy the session's event hooks when they are created, so only clients created inside the
    block are counted, which is what the suite's helpers do.
    """
    counter = CallCounter()
    lock = threading.Lock()
    unique_id = f"fargate-lab-count-calls-{next(_ids)}"

    def before_call(event_name: str, **_: object) -> None:
        _, service, operation = event_name.split(".", 2)
        with lock:
            counter[f"{service}.{operation}"] += 1

    session.events.register("before-call.*.*", before_call, unique_id=unique_id)
    try:
        yield counter
    finally:
        session.events.unregister("before-call.*.*", unique_id=unique_id)
