"""How the emulator extends moto: which moto it was written for, and (in order) what it installs at start."""

from __future__ import annotations

from emulator.errors import EmulatorError

#: The moto release every extension here was written against and tested with (pinned in requirements.txt and
#: in pyproject's ``local`` extra). Another release may have moved what the extensions subclass.
MOTO_VERSION = "5.2.5"


class WrongMotoVersion(EmulatorError):
    """moto is not the release the emulator was written for: its extensions could silently misbehave."""


def check_moto_version() -> None:
    """Refuse to start under another moto release, naming both."""
    import moto

    found = getattr(moto, "__version__", "unknown")
    if found != MOTO_VERSION:
        raise WrongMotoVersion(
            f"the emulator was written for moto {MOTO_VERSION}, but moto {found} is installed; install the pinned "
            f"release (pip install 'moto[server]=={MOTO_VERSION}', or pip install -r requirements.txt)")
