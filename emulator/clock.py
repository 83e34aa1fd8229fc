"""The emulator's one clock: every moment the emulator reports or decides by comes from here.

Real by default. In manual mode time stands still until it is advanced, so a test can say "60 seconds pass"
instead of sleeping: ``POST /_lab/clock`` with ``{"mode": "manual"}``, then ``{"advance_seconds": 60}``
(``helpers.local.set_clock`` and ``helpers.local.advance_clock`` send these). ``{"mode": "real"}`` lets it run
again from where it stands; a backend reset does the same. The clock never goes backwards: leaving manual mode
keeps what was advanced as an offset over real time.

What reads it: the simulated task lifecycle, the Docker executor's timestamps and its startTimeout and
pull-failure memory, failed-start timing, the service scheduler's restart back-off and event times, rollout
timestamps, ECR token expiry, log timestamps. What does not: how often a loop looks (the scheduler's tick, polls
of a real Docker engine) and injected slowness (a real delay the client must see), which are real waiting, not
reading the time.
"""

from __future__ import annotations

import threading
import time as _time
from datetime import UTC, datetime

MODES = ("real", "manual")


class ClockError(ValueError):
    """A clock request the emulator cannot follow (an unknown mode, a negative advance)."""


class Clock:
    """Seconds elapsed since the clock was made, on real time (plus an offset) or on a frozen, advanced value."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wall0 = _time.time()
        self._mono0 = _time.monotonic()
        self._offset = 0.0  # real mode: seconds added to real elapsed time
        self._frozen: float | None = None  # manual mode: elapsed seconds, moved only by advance()

    def _elapsed(self) -> float:
        if self._frozen is not None:
            return self._frozen
        return _time.monotonic() - self._mono0 + self._offset

    @property
    def mode(self) -> str:
        return "manual" if self._frozen is not None else "real"

    def time(self) -> float:
        """Seconds since the epoch (``time.time()``)."""
        with self._lock:
            return self._wall0 + self._elapsed()

    def monotonic(self) -> float:
        """For intervals (``time.monotonic()``): never goes backwards, stands still in manual mode."""
        with self._lock:
            return self._mono0 + self._elapsed()

    def now(self) -> datetime:
        """The current moment, timezone-aware UTC (``datetime.now(UTC)``)."""
        return datetime.fromtimestamp(self.time(), UTC)

    def now_ms(self) -> int:
        """Milliseconds since the epoch, as CloudWatch Logs timestamps are."""
        return int(self.time() * 1000)

    def set_mode(self, mode: str) -> None:
        """``"manual"`` freezes the clock where it stands; ``"real"`` lets it run on from there."""
        if mode not in MODES:
            raise ClockError(f"clock mode {mode!r} is not one of {', '.join(MODES)}")
        with self._lock:
            if mode == "manual" and self._frozen is None:
                self._frozen = self._elapsed()
            elif mode == "real" and self._frozen is not None:
                self._offset = self._frozen - (_time.monotonic() - self._mono0)
                self._frozen = None

    def advance(self, seconds: float) -> None:
        """Move the clock forward (in either mode); a negative amount is refused: the clock never goes back."""
        seconds = float(seconds)
        if seconds < 0 or seconds != seconds:
            raise ClockError(f"advance_seconds must be a number of seconds >= 0, not {seconds}")
        with self._lock:
            if self._frozen is not None:
                self._frozen += seconds
            else:
                self._offset += seconds

    def back_to_real_time(self) -> None:
        """At a reset: real time again, no offset, not frozen. The one time the clock goes back, when nothing that
        was timed on it is left (tasks, tokens, health checks and logs are all forgotten with it)."""
        with self._lock:
            self._frozen = None
            self._offset = 0.0

    @property
    def ahead(self) -> float:
        """Real mode: seconds ``advance`` has moved the clock beyond real time (what a restart carries over)."""
        with self._lock:
            return self._offset

    def describe(self) -> dict:
        """What ``GET /_lab/clock`` answers: the mode and the moment, ISO 8601 and epoch seconds."""
        moment = self.time()
        return {"mode": self.mode, "now": datetime.fromtimestamp(moment, UTC).isoformat(), "epoch": moment}


#: The clock of this server process.
CLOCK = Clock()


def now() -> datetime:
    return CLOCK.now()


def time() -> float:
    return CLOCK.time()


def monotonic() -> float:
    return CLOCK.monotonic()


def now_ms() -> int:
    return CLOCK.now_ms()

