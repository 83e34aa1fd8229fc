"""The emulator's settings object and its start-up checks: one place reads FARGATE_LAB_*, a wrong moto stops it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from emulator import settings
from emulator.errors import InvalidSetting
from emulator.extensions import MOTO_VERSION
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]


def test_settings_come_from_the_environment_and_flags_win():
    read = settings.Settings.from_environment({
        "FARGATE_LAB_STATE_DIR": "/tmp/x", "FARGATE_LAB_FAULTS": "throttle=0.1", "FARGATE_LAB_RUNTIME": "simulated",
        "FARGATE_LAB_SIMULATED_SECONDS": "0.5", "FARGATE_LAB_ECR_REGISTRY": "127.0.0.1:5000"})
    assert (read.state_dir, read.faults, read.runtime, read.simulated_seconds, read.ecr_registry, read.ecr_password) \
        == (Path("/tmp/x"), "throttle=0.1", "simulated", 0.5, "127.0.0.1:5000", None)
    configured = settings.configure(port=4999, runtime="docker", environ={"FARGATE_LAB_RUNTIME": "simulated"})
    assert (configured.port, configured.runtime, configured.simulated_seconds) == (4999, "docker", 3.0)
    settings._current.clear()


@pytest.mark.parametrize(("name", "value", "valid"), [
    ("FARGATE_LAB_RUNTIME", "podman", "one of auto, docker, simulated"),
    ("FARGATE_LAB_SIMULATED_SECONDS", "soon", "a number of seconds >= 0"),
    ("FARGATE_LAB_SIMULATED_SECONDS", "-1", "a number of seconds >= 0"),
    ("FARGATE_LAB_PERSIST", "yes", "1 (keep the state) or 0 (forget it at stop)"),
])
def test_a_bad_setting_says_what_would_be_valid(name, value, valid):
    with pytest.raises(InvalidSetting, match=re.escape(valid)):
        settings.Settings.from_environment({name: value})


def test_the_readme_table_lists_every_server_variable():
    readme = (ROOT / "README.md").read_text()
    for name in settings.VARIABLES:
        assert f"| `{name}` |" in readme, name


def test_moto_is_pinned_everywhere_to_the_release_the_emulator_checks():
    pins = {path: re.search(r"moto\[server\]==([\d.]+)", (ROOT / path).read_text()).group(1)
            for path in ("requirements.txt", "binder/requirements.txt", "pyproject.toml")}
    assert set(pins.values()) == {MOTO_VERSION}, pins
    import moto

    assert moto.__version__ == MOTO_VERSION


def test_the_emulator_refuses_to_start_under_another_moto_naming_both_versions(tmp_path):
    port = free_port()
    program = ("import sys, moto; moto.__version__ = '9.9.9'; from emulator.__main__ import main; "
               f"sys.exit(main(['serve', '--port', '{port}']))")
    done = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "FARGATE_LAB_STATE_DIR": str(tmp_path)})
    assert done.returncode == 2, done.stderr
    assert f"written for moto {MOTO_VERSION}, but moto 9.9.9 is installed" in done.stderr
