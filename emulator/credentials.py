"""The installation's own access key: the only credentials the embedded backend accepts.

Created at the server's first start in its state directory (directory 0700, ``credentials.json`` 0600), so only
the user who runs the lab can read it; any other local user, and any web page, cannot sign a request. The
client's launcher (``helpers.local``) reads the same file: it is data shared by path, not an import. ``reset``
keeps it; ``python -m emulator credentials --rotate`` (``python -m helpers.local rotate-credentials``) replaces
it, and a running server takes the new key at its next request.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import string
import tempfile
from dataclasses import dataclass
from pathlib import Path

from emulator.errors import EmulatorError

FILE_NAME = "credentials.json"
#: Not AKIA/ASIA (real AWS keys): a key of the embedded backend is never mistaken for one of an account.
KEY_ID_PREFIX = "FLAB"
_KEY_ID_ALPHABET = string.ascii_uppercase + "234567"
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"


@dataclass(frozen=True)
class AccessKey:
    """An access key id and its secret (20 and 40 characters, as AWS's)."""

    access_key_id: str
    secret_access_key: str


def path(state_dir: Path) -> Path:
    return Path(state_dir) / FILE_NAME


def new_key() -> AccessKey:
    key_id = KEY_ID_PREFIX + "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(16))
    secret = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))
    return AccessKey(key_id, secret)


class SharedStateDir(EmulatorError):
    """The state directory is a shared one (like /tmp): the key cannot be kept private there."""


def _private_dir(state_dir: Path) -> Path:
    directory = Path(state_dir)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    info = os.stat(directory)
    if info.st_mode & stat.S_ISVTX or info.st_uid != os.getuid():
        raise SharedStateDir(f"the state directory {directory} is shared with other users (like /tmp); set "
                             "FARGATE_LAB_STATE_DIR to a directory of the lab's own, e.g. /tmp/fargate-lab-$USER")
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(directory, 0o700)  # an existing directory (an older lab's) is made private too
    return directory


def _write(state_dir: Path, key: AccessKey, replace: bool) -> bool:
    """Write ``key`` atomically with mode 0600; when not ``replace``, keep a file already there (False)."""
    directory = _private_dir(state_dir)
    data = json.dumps({"aws_access_key_id": key.access_key_id, "aws_secret_access_key": key.secret_access_key})
    handle, temporary = tempfile.mkstemp(prefix=".credentials-", dir=directory)  # created 0600
    try:
        with os.fdopen(handle, "w") as out:
            out.write(data + "\n")
        if replace:
            os.replace(temporary, path(directory))
            return True
        try:
            os.link(temporary, path(directory))  # fails when another process created it first: theirs wins
            return True
        except FileExistsError:
            return False
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def ensure(state_dir: Path) -> AccessKey:
    """The installation's key, created on first use; the file's mode is made 0600 whatever it was."""
    file = path(state_dir)
    if not file.exists():
        _write(state_dir, new_key(), replace=False)
    else:
        _private_dir(state_dir)
    os.chmod(file, 0o600)
    return load(state_dir)


def rotate(state_dir: Path) -> AccessKey:
    """A new key replaces the old one: requests signed with the old key are refused from now on."""
    _write(state_dir, new_key(), replace=True)
    return load(state_dir)


def load(state_dir: Path) -> AccessKey:
    data = json.loads(path(state_dir).read_text())
    return AccessKey(data["aws_access_key_id"], data["aws_secret_access_key"])


class KeyFile:
    """The key a running server checks against: re-read when the file changes (a rotation), else cached."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self._stamp: tuple[int, int] | None = None
        self._key = ensure(self.state_dir)
        self._stamp = self._stat()

    def _stat(self) -> tuple[int, int] | None:
        try:
            info = os.stat(path(self.state_dir))
        except FileNotFoundError:
            return None
        return info.st_ino, info.st_mtime_ns

    def current(self) -> AccessKey:
        stamp = self._stat()
        if stamp is None:  # removed while running: make a new one rather than accept anything
            self._key = ensure(self.state_dir)
            stamp = self._stat()
        elif stamp != self._stamp:
            self._key = load(self.state_dir)
        self._stamp = stamp
        return self._key
