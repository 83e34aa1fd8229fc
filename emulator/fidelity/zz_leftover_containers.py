"""At server start, remove task containers a previous server on this port left behind (it was killed, or crashed).

Not a moto fix: the one start-up hook of the Docker runtime, here because every module of this
package is applied at server start. Runs in the background and only touches containers labeled
with this backend's port, so other backends sharing the engine keep theirs.
"""

from __future__ import annotations

import logging
import threading

from emulator import settings

log = logging.getLogger("emulator.fidelity.leftovers")


def sweep() -> int:
    """Remove this port's labeled containers; how many there were."""
    from emulator.docker_runtime import LABEL_PORT
    from emulator.engine import docker_client

    client = docker_client()
    if client is None:
        return 0
    try:
        found = client.api.containers(all=True, quiet=True, filters={"label": f"{LABEL_PORT}={settings.current().port}"})
        for item in found:
            client.api.remove_container(item["Id"], force=True, v=True)
        if found:
            log.info("removed %d container(s) a previous server on this port left", len(found))
        return len(found)
    finally:
        client.close()


def apply() -> None:
    def run() -> None:
        try:
            sweep()
        except Exception:  # noqa: BLE001 - a failed sweep must not stop the server
            log.exception("could not remove leftover containers")

    threading.Thread(target=run, daemon=True, name="leftover-containers").start()
