"""Where no registry is reachable, building the sample app falls back to a local base image, and says so."""

from __future__ import annotations

from pathlib import Path

from helpers import images


def test_static_busybox_is_told_from_a_dynamic_binary():
    assert images._is_static_elf(Path("/bin/busybox"))  # Debian's busybox-static, installed by .ci/run
    assert not images._is_static_elf(Path("/bin/ls"))
    assert not images._is_static_elf(Path(__file__))


def test_unreachable_default_base_falls_back_to_the_local_busybox(docker_client, monkeypatch, tmp_path):
    app = tmp_path / "app"
    app.mkdir()
    # A default base no registry here can serve: the build must fall back, not fail.
    (app / "Dockerfile").write_text(
        "ARG BASE_IMAGE=registry.invalid/library/busybox:stable\nFROM ${BASE_IMAGE}\n"
        'COPY run.sh /run.sh\nENTRYPOINT ["/bin/sh", "/run.sh"]\n'
    )
    (app / "run.sh").write_text("echo offline ok\n")
    monkeypatch.delenv(images.BASE_IMAGE_ENV, raising=False)
    said: list[str] = []
    result = images.build(app, "fargate-lab-test/offline:latest", client=docker_client, echo=said.append)
    assert result.method == "docker"
    assert any("could not be pulled" in line and "static busybox" in line for line in said)
    output = docker_client.containers.run("fargate-lab-test/offline:latest", remove=True)
    assert output.decode().strip() == "offline ok"
