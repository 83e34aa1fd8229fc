"""The files the embedded backend keeps its state in: written atomically, versioned, two generations, one owner.

Each part of the state (one moto service, the emulator's clock) is one file ``NAME.state`` in the server's
state directory: a header line (``fargate-lab-state``), a JSON line (format version, moto release, length and
SHA-256 of the payload) and the payload. A write goes to a temporary file, is fsynced, the previous file
becomes ``NAME.state.prev`` and the new one takes its name (``os.replace``), then the directory is fsynced: a
crash leaves the new file, or the previous one, never half of one. A file that does not check out (cut off
mid-write, damaged) is skipped with a warning and its previous generation read instead; a file written by
another format or moto release is refused, with what to do, never half-loaded.

The directory is locked (``fcntl.flock`` on ``lock``) for the server's life, so a second server on it refuses
to start instead of overwriting the first one's state.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import secrets
from pathlib import Path

from emulator.errors import EmulatorError

log = logging.getLogger("emulator.state")

#: The version of the files' layout and content; a file of another version is refused.
FORMAT = 3  # 2: a launched task's record holds its TaskState; 3: the ECS part pickled task by task
#: Formats this version reads: 2 differs only in the ECS part's layout, which ``emulator.ecs_part`` reads too.
READS = (2, FORMAT)
MAGIC = b"fargate-lab-state\n"
SUFFIX = ".state"
PREVIOUS = ".prev"


class StateError(EmulatorError):
    """The state directory cannot be used: not writable, locked by another server, or of another version."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Store:
    """One state directory's files; ``open`` checks that it is writable and takes its lock."""

    def __init__(self, directory: Path, moto_version: str) -> None:
        self.directory = directory
        self.moto_version = moto_version
        self._lock_file: int | None = None

    # -- owning the directory ------------------------------------------------------------------------------

    def open(self) -> None:
        """Create the directory, check a file can be written and synced in it, and lock it for this process."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            probe = self.directory / f".probe-{secrets.token_hex(4)}"
            with open(probe, "wb") as handle:
                handle.write(b"probe")
                handle.flush()
                os.fsync(handle.fileno())
            probe.unlink()
            for leftover in self.directory.glob(f"*{SUFFIX}*.tmp"):  # a write a crash cut off: never renamed
                leftover.unlink()
            fd = os.open(self.directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            raise StateError(
                f"the embedded backend cannot keep its state in {self.directory}: {error.strerror or error}. "
                "Make that directory writable (and give its disk room), or choose another with "
                "FARGATE_LAB_STATE_DIR.") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StateError(
                f"another embedded backend (pid {owner}) keeps its state in {self.directory}: two servers on one "
                "state directory would overwrite each other's state. Stop that one (python -m helpers.local stop), "
                "or give this one another FARGATE_LAB_STATE_DIR or FARGATE_LAB_PORT.") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_file = fd

    def close(self) -> None:
        """Release the directory's lock (at shutdown; a killed process releases it with its descriptors)."""
        if self._lock_file is not None:
            os.close(self._lock_file)
            self._lock_file = None

    # -- files -----------------------------------------------------------------------------------------------

    def path(self, name: str) -> Path:
        return self.directory / f"{name}{SUFFIX}"

    def names(self) -> list[str]:
        """The parts that have a file (current or previous generation)."""
        found = {p.name.split(SUFFIX)[0] for p in self.directory.glob(f"*{SUFFIX}*") if not p.name.endswith(".tmp")}
        return sorted(found)

    def write(self, name: str, payload: bytes, sha256: str | None = None) -> None:
        """Keep ``payload`` as part ``name``, durably; the file it replaces becomes the previous generation.

        Raises OSError when the disk refuses (full, read-only): the caller must not acknowledge the change.
        ``sha256``: the payload's, when the caller has it already (hashing megabytes twice costs milliseconds).
        """
        header = {"format": FORMAT, "moto": self.moto_version, "part": name, "length": len(payload),
                  "sha256": sha256 or hashlib.sha256(payload).hexdigest()}
        target = self.path(name)
        temporary = target.with_name(f"{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            with open(temporary, "wb", opener=lambda p, flags: os.open(p, flags, 0o600)) as handle:  # secrets inside
                handle.write(MAGIC + json.dumps(header).encode() + b"\n")
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            if target.exists():
                os.replace(target, target.with_name(target.name + PREVIOUS))
            os.replace(temporary, target)
            _fsync_dir(self.directory)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    def revert(self, name: str, existed: bool) -> None:
        """Undo the last ``write`` of part ``name``: its previous generation is current again (renames only: no
        disk space needed), or, for a part that had no file, its file removed."""
        target = self.path(name)
        previous = target.with_name(target.name + PREVIOUS)
        if existed and previous.exists():
            os.replace(previous, target)
        elif not existed:
            target.unlink(missing_ok=True)
        _fsync_dir(self.directory)

    def read(self, name: str) -> bytes | None:
        """Part ``name``'s payload: the current file, else (missing or damaged) the previous one; None if neither.

        Raises StateError for a file of another format or moto release.
        """
        target = self.path(name)
        for candidate in (target, target.with_name(target.name + PREVIOUS)):
            if not candidate.exists():
                continue
            payload = self._check(candidate)
            if payload is not None:
                if candidate is not target:
                    log.warning("state part %s: using its previous generation %s", name, candidate)
                return payload
        return None

    def _check(self, path: Path) -> bytes | None:
        data = path.read_bytes()
        first, _, rest = data.partition(b"\n")
        line, _, payload = rest.partition(b"\n")
        if first + b"\n" != MAGIC:
            log.warning("ignoring %s: not a state file of the embedded backend", path)
            return None
        try:
            header = json.loads(line)
            version = header["format"]
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring %s: its header is damaged (cut off while it was written?)", path)
            return None
        if version not in READS:
            newer = isinstance(version, int) and version > FORMAT
            raise StateError(
                f"{path} holds state of format {version}, written by a {'newer' if newer else 'different'} version "
                f"of the lab; this one reads format {' and '.join(map(str, READS))} only and will not half-load it. "
                f"Start that version again, or move {self.directory} away to start with an empty backend.")
        if header.get("moto") != self.moto_version:
            raise StateError(
                f"{path} was written under moto {header.get('moto')}, this backend runs moto {self.moto_version}: "
                f"its saved objects may not load. Install the pinned moto, or move {self.directory} away to start "
                "with an empty backend.")
        if len(payload) != header.get("length") or hashlib.sha256(payload).hexdigest() != header.get("sha256"):
            log.warning("ignoring %s: %d of %s bytes, or their checksum differs (cut off while it was written?)",
                        path, len(payload), header.get("length"))
            return None
        return payload

    def forget(self) -> None:
        """Delete every part (both generations): a reset."""
        for path in self.directory.glob(f"*{SUFFIX}*"):
            path.unlink(missing_ok=True)
        _fsync_dir(self.directory)
