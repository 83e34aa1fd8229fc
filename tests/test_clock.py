"""The emulator's one clock: real by default, manual when a test says so, driven through the control API."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from emulator.clock import Clock, ClockError
from helpers import local
from helpers.errors import BackendError


def test_a_manual_clock_stands_still_until_advanced_and_never_goes_back():
    clock = Clock()
    assert clock.mode == "real"
    clock.set_mode("manual")
    frozen = clock.time()
    assert clock.time() == frozen and clock.monotonic() == clock.monotonic()
    clock.advance(90)
    assert clock.time() == pytest.approx(frozen + 90)
    clock.set_mode("real")  # runs on from where it stood, not from the real time it would have been
    assert clock.time() >= frozen + 90
    with pytest.raises(ClockError, match=">= 0"):
        clock.advance(-1)
    with pytest.raises(ClockError, match="real, manual"):
        clock.set_mode("slow")


def test_the_control_api_sets_and_advances_the_clock(simulated_backend):
    port = simulated_backend.port
    local.reset(port)
    assert local.clock(port)["mode"] == "real"
    frozen = local.set_clock("manual", port)
    assert frozen["mode"] == "manual" and local.clock(port)["epoch"] == frozen["epoch"]
    moved = local.advance_clock(3600, port)
    assert moved["epoch"] == pytest.approx(frozen["epoch"] + 3600)
    assert datetime.fromisoformat(moved["now"]).timestamp() == pytest.approx(moved["epoch"], abs=1e-3)
    with pytest.raises(BackendError, match="not one of real, manual"):
        local.set_clock("fast", port)
    with pytest.raises(BackendError, match=">= 0"):
        local.advance_clock(-5, port)
    local.reset(port)  # a reset backend is a fresh one: its clock is real time again, the hour's advance forgotten
    after = local.clock(port)
    assert after["mode"] == "real" and after["epoch"] == pytest.approx(time.time(), abs=5)
    assert after["epoch"] < moved["epoch"] - 3000


def test_ecr_tokens_expire_twelve_hours_after_now_on_the_emulator_clock(simulated_backend):
    from helpers.session import LabSession

    port = simulated_backend.port
    local.reset(port)
    session = LabSession(backend="local", endpoint_url=simulated_backend.url, region_name="us-east-1",
                         **local.CREDENTIALS)
    local.set_clock("manual", port)
    now = local.advance_clock(86400, port)["epoch"]
    token = session.client("ecr").get_authorization_token()["authorizationData"][0]
    assert token["expiresAt"].timestamp() == pytest.approx(now + 12 * 3600, abs=1)
    local.set_clock("real", port)
