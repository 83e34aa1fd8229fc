"""Carries a task's container output to CloudWatch Logs while it runs, as the awslogs driver does.

One thread per container follows ``docker logs`` (stdout and stderr, with the engine's
timestamps); the task's supervisor calls ``flush`` on every tick, which hands the lines
gathered so far to the log sink in one batch per stream, in time order.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any

from emulator import clock
from emulator.executor import LogSink

log = logging.getLogger("emulator.logs")

#: CloudWatch Logs limits a PutLogEvents batch to 10,000 events.
MAX_BATCH = 10_000


def parse_line(raw: bytes) -> tuple[int, str] | None:
    """``b"2026-01-01T00:00:00.123456789Z message"`` -> (ms since epoch, "message"); None for empty lines."""
    text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
    stamp, _, message = text.partition(" ")
    if not message.strip():
        return None
    try:
        whole, _, fraction = stamp.rstrip("Z").partition(".")
        seconds = datetime.fromisoformat(whole + "+00:00").timestamp()
        millis = int(seconds * 1000) + int((fraction + "000")[:3])
    except ValueError:
        return clock.now_ms(), text
    return millis, message


class LogPump:
    """Follows each container's output; ``flush`` delivers what has arrived."""

    def __init__(self, api: Any, sink: LogSink) -> None:
        self.api = api
        self.sink = sink
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str], list[tuple[int, str]]] = {}
        self._threads: list[threading.Thread] = []

    def follow(self, container_id: str, group: str, stream: str) -> None:
        thread = threading.Thread(target=self._read, args=(container_id, (group, stream)), daemon=True,
                                  name=f"logs-{container_id[:12]}")
        self._threads.append(thread)
        thread.start()

    def _read(self, container_id: str, key: tuple[str, str]) -> None:
        partial = b""
        try:
            for chunk in self.api.logs(container_id, stream=True, follow=True, timestamps=True):
                lines = (partial + chunk).split(b"\n")
                partial = lines.pop()
                events = [event for event in map(parse_line, lines) if event]
                if events:
                    with self._lock:
                        self._pending.setdefault(key, []).extend(events)
        except Exception:  # noqa: BLE001 - the container was removed under us (reset): nothing more to read
            log.debug("log follow of %s ended", container_id, exc_info=True)
        event = parse_line(partial) if partial else None
        if event:
            with self._lock:
                self._pending.setdefault(key, []).append(event)

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        for (group, stream), events in pending.items():
            events.sort(key=lambda e: e[0])
            for start in range(0, len(events), MAX_BATCH):
                try:
                    self.sink(group, stream, events[start:start + MAX_BATCH])
                except Exception:  # noqa: BLE001 - a lost batch must not stop the task
                    log.exception("could not deliver %d log events to %s/%s", len(events), group, stream)

    def finish(self, timeout: float = 5.0) -> None:
        """Wait for every follower to reach the end of its container's output, then deliver the rest."""
        for thread in self._threads:
            thread.join(timeout)
        self.flush()
