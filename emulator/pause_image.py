"""A tiny local image whose only job is to hold a task's network namespace (awsvpc).

All containers of a task join the namespace of one "pause" container, as Fargate's
task ENI lets them reach each other on localhost. Task images may lack a shell and no
registry may be reachable, so the image is built here from a hand-written static
executable (a loop around the ``pause``/``ppoll`` system call, ~130 bytes), imported
into the engine FROM scratch: nothing is pulled.
"""

from __future__ import annotations

import io
import struct
import tarfile
import threading
from typing import Any

PAUSE_IMAGE = "fargate-lab/pause:1"

_BASE = 0x400000
_HEADERS = 64 + 56
#: Machine code per engine architecture: loop { pause() } on x86-64, loop { ppoll(0,0,0,0) } on arm64.
_CODE = {
    "x86_64": (0x3E, bytes.fromhex("b822000000" "0f05" "ebf7")),
    "aarch64": (0xB7, struct.pack("<7I", 0xD2800000, 0xD2800001, 0xD2800002, 0xD2800003,
                                  0xD2800928, 0xD4000001, 0x17FFFFFA)),
}
_ARCH_ALIASES = {"amd64": "x86_64", "x86_64": "x86_64", "arm64": "aarch64", "aarch64": "aarch64"}
_lock = threading.Lock()


def elf_executable(arch: str) -> bytes:
    """A minimal static ELF64 executable that sleeps until killed."""
    machine, code = _CODE[_ARCH_ALIASES[arch]]
    size = _HEADERS + len(code)
    header = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8) + struct.pack(
        "<HHIQQQIHHHHHH", 2, machine, 1, _BASE + _HEADERS, 64, 0, 0, 64, 56, 1, 0, 0, 0
    )
    program = struct.pack("<IIQQQQQQ", 1, 5, 0, _BASE, _BASE, size, size, 0x1000)
    return header + program + code


def supported(arch: str) -> bool:
    return arch in _ARCH_ALIASES


def ensure(client: Any) -> str | None:
    """The pause image's reference, imported once into the engine; None on an architecture it lacks code for."""
    import docker.errors

    arch = str(client.info().get("Architecture", ""))
    if not supported(arch):
        return None
    with _lock:
        try:
            client.images.get(PAUSE_IMAGE)
            return PAUSE_IMAGE
        except docker.errors.ImageNotFound:
            pass
        payload = elf_executable(arch)
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            info = tarfile.TarInfo("pause")
            info.size, info.mode = len(payload), 0o755
            tar.addfile(info, io.BytesIO(payload))
        repository, tag = PAUSE_IMAGE.split(":")
        client.api.import_image_from_data(
            buffer.getvalue(), repository=repository, tag=tag,
            changes=['CMD ["/pause"]', 'LABEL fargate-lab.role="pause"'],
        )
        return PAUSE_IMAGE
