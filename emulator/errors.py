"""The emulator's own errors: it is a separate program and shares no code with the client."""

from __future__ import annotations


class EmulatorError(Exception):
    """Something the emulator cannot do, said so a learner understands it."""


class InvalidSetting(EmulatorError, ValueError):
    """A server setting (a flag or a FARGATE_LAB_* variable) has a value the emulator cannot use."""

    def __init__(self, name: str, value: object, valid: str) -> None:
        super().__init__(f"parameter {name!r} is {value!r}, which is not valid: {valid}")
        self.name, self.value, self.valid = name, value, valid
