"""A tiny local image whose only job is to hold a task's network namespace (awsvpc).

All containers of a task join the namespace of one "pause" container, as Fargate's task ENI lets them reach each
other on localhost. Task images may lack a shell and no registry may be reachable, so the image is this machine's
static busybox (Debian's busybox-static, which the lab's offline base image is built from too) running
``busybox sleep infinity``, imported into the engine FROM scratch: nothing is pulled. Without a static busybox
matching the engine's architecture there is no pause image, and a task's first container owns its namespace.
"""

from __future__ import annotations

import io
import json
import logging
import platform
import tarfile
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger("emulator.pause_image")

PAUSE_IMAGE = "fargate-lab/pause:2"
#: Where Debian's busybox-static installs it (``/usr/bin`` on merged-/usr systems that link it there).
BUSYBOX_PATHS = ("/bin/busybox", "/usr/bin/busybox")
COMMAND = ["/busybox", "sleep", "infinity"]

_ARCH_ALIASES = {"amd64": "x86_64", "x86_64": "x86_64", "arm64": "aarch64", "aarch64": "aarch64"}
_PT_INTERP = 3  # an ELF program header naming a dynamic loader: the binary is not static
_lock = threading.Lock()


def is_static_elf(path: Path) -> bool:
    """Whether ``path`` is a 64-bit little-endian ELF executable with no dynamic loader (runs FROM scratch)."""
    try:
        data = path.read_bytes()
    except OSError:
        return False
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return False
    table, size, count = (int.from_bytes(data[32:40], "little"), int.from_bytes(data[54:56], "little"),
                          int.from_bytes(data[56:58], "little"))
    return all(int.from_bytes(data[table + i * size:table + i * size + 4], "little") != _PT_INTERP
               for i in range(count))


def static_busybox(paths: tuple[str, ...] = BUSYBOX_PATHS) -> Path | None:
    """This machine's static busybox, or None."""
    return next((Path(p) for p in paths if is_static_elf(Path(p))), None)


def ensure(client: Any) -> str | None:
    """The pause image's reference, imported once into the engine; None when this machine cannot provide it."""
    import docker.errors

    engine = _ARCH_ALIASES.get(str(client.info().get("Architecture", "")))
    if engine is None or engine != _ARCH_ALIASES.get(platform.machine()):
        log.info("no pause image: the engine's architecture is not this machine's")
        return None
    with _lock:
        try:
            client.images.get(PAUSE_IMAGE)
            return PAUSE_IMAGE
        except docker.errors.ImageNotFound:
            pass
        busybox = static_busybox()
        if busybox is None:
            log.info("no pause image: no static busybox (apt-get install busybox-static)")
            return None
        payload = busybox.read_bytes()
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            info = tarfile.TarInfo("busybox")
            info.size, info.mode = len(payload), 0o755
            tar.addfile(info, io.BytesIO(payload))
        repository, tag = PAUSE_IMAGE.split(":")
        client.api.import_image_from_data(
            buffer.getvalue(), repository=repository, tag=tag,
            changes=[f"CMD {json.dumps(COMMAND)}", 'LABEL fargate-lab.role="pause"'],
        )
        return PAUSE_IMAGE
