"""ELBv2 target health, for real: each registered target is probed over HTTP on its target group's health check.

A target's state follows the ALB user guide ("Health checks for Application Load Balancer target groups"): a newly
registered target is ``initial`` until it passes one check (``healthy``) or fails ``UnhealthyThresholdCount`` in a
row (``unhealthy``); after that it changes state only after the threshold of consecutive results the other way
(``HealthyThresholdCount`` successes, ``UnhealthyThresholdCount`` failures). A deregistered target is ``draining``
for the group's ``deregistration_delay.timeout_seconds``, then gone. A group no listener forwards to has ``unused``
targets, and is not probed.

When a probe is due is decided by the emulator's clock (``emulator.clock``): every ``HealthCheckIntervalSeconds``
from registration. A probe itself is a real HTTP request with a real timeout (``HealthCheckTimeoutSeconds``). Due
probes run on a background loop and, before it answers, on DescribeTargetHealth, so after a test advances the clock
the answer already reflects the checks that were due. A clock moved on by several intervals at once counts the one
probe it then makes once for each interval passed (at most as many as the larger threshold: more change nothing).
"""

from __future__ import annotations

import http.client
import logging
import threading
from dataclasses import dataclass, field

from emulator import clock

log = logging.getLogger("emulator.elbv2")

#: How often (real seconds) the background loop looks for due probes: real waiting, not reading the time.
TICK_SECONDS = 0.25

DESCRIPTIONS = {
    "Elb.InitialHealthChecking": "Initial health checks in progress",
    "Target.ResponseCodeMismatch": "Health checks failed with these codes: [{code}]",
    "Target.Timeout": "Request timed out",
    "Target.FailedHealthChecks": "Health checks failed",
    "Target.NotRegistered": "Target is not registered to the target group",
    "Target.NotInUse": "Target group is not configured to receive traffic from the load balancer",
    "Target.DeregistrationInProgress": "Target deregistration is in progress",
    "Target.HealthCheckDisabled": "Health checks disabled",
}


@dataclass
class Probe:
    """One health check's outcome: a reason code when it failed (None when it passed), the code it got."""

    reason: str | None
    code: int | None = None


@dataclass
class TargetHealth:
    """What the load balancer knows of one registered target (id and port) of one target group."""

    target_id: str
    port: int
    registered_at: float
    state: str = "initial"
    reason: str | None = "Elb.InitialHealthChecking"
    code: int | None = None
    successes: int = 0
    failures: int = 0
    next_probe_at: float = 0.0
    draining_until: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.next_probe_at = self.registered_at

    def __getstate__(self) -> dict:  # kept across a restart (emulator.persistence), without its lock
        return {k: v for k, v in self.__dict__.items() if k != "lock"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, lock=threading.Lock())

    @property
    def description(self) -> str | None:
        if self.reason is None:
            return None
        return DESCRIPTIONS[self.reason].format(code=self.code)

    def record(self, probe: Probe, healthy_threshold: int, unhealthy_threshold: int) -> None:
        """Count one probe's result and move the state as the thresholds say."""
        if probe.reason is None:
            self.successes, self.failures = self.successes + 1, 0
            needed = 1 if self.state == "initial" else healthy_threshold
            if self.state != "healthy" and self.successes >= needed:
                self.state, self.reason, self.code = "healthy", None, None
        else:
            self.failures, self.successes = self.failures + 1, 0
            if self.state != "unhealthy" and self.failures >= unhealthy_threshold:
                self.state = "unhealthy"
            if self.state == "unhealthy":
                self.reason, self.code = probe.reason, probe.code


def matches(code: int, matcher: str) -> bool:
    """Whether an HTTP status matches a target group's ``Matcher.HttpCode`` ("200", "200-399", "200,202")."""
    for part in matcher.split(","):
        low, _, high = part.strip().partition("-")
        if int(low) <= code <= int(high or low):
            return True
    return False


def probe(host: str, port: int, path: str, timeout: float, matcher: str) -> Probe:
    """One real health check: ``GET path`` on host:port, as the ALB's checker sends it."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path or "/", headers={"User-Agent": "ELB-HealthChecker/2.0",
                                                       "Connection": "close"})
        response = connection.getresponse()
        response.read()
    except TimeoutError:
        return Probe("Target.Timeout")
    except (OSError, http.client.HTTPException):
        return Probe("Target.FailedHealthChecks")
    finally:
        connection.close()
    if matches(response.status, matcher):
        return Probe(None)
    return Probe("Target.ResponseCodeMismatch", response.status)


def run_due(health: TargetHealth, *, host: str | None, port: int, path: str, interval: int, timeout: float,
            matcher: str, healthy_threshold: int, unhealthy_threshold: int, refused: bool = False) -> None:
    """Probe ``health``'s target if a check is due by the emulator's clock; count it for every interval passed.

    ``host=None``: a simulated task, where nothing listens; its check passes without a probe, or fails as a
    refused connection would (``refused``: a port its container does not map)."""
    with health.lock:
        now = clock.time()
        if health.draining_until is not None or now < health.next_probe_at:
            return
        due = int((now - health.next_probe_at) // interval) + 1
        if refused:
            result = Probe("Target.FailedHealthChecks")
        else:
            result = Probe(None) if host is None else probe(host, port, path, timeout, matcher)
        for _ in range(min(due, max(healthy_threshold, unhealthy_threshold))):
            health.record(result, healthy_threshold, unhealthy_threshold)
        health.next_probe_at += due * interval


class Checker:
    """The background loop: every tick, asks ``sweep`` to run what is due (a stop event ends it)."""

    def __init__(self, sweep) -> None:
        self.sweep = sweep
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        if self.thread is None or not self.thread.is_alive():
            self.stopped.clear()
            self.thread = threading.Thread(target=self._loop, name="elbv2-health", daemon=True)
            self.thread.start()

    def stop(self) -> None:
        self.stopped.set()

    def _loop(self) -> None:
        while not self.stopped.wait(TICK_SECONDS):
            try:
                self.sweep()
            except Exception:  # noqa: BLE001 - one failed sweep must not end health checking
                log.exception("health check sweep failed")
