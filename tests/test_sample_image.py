"""The sample app's image: its tag is its version, so two tags are two different images."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import images


def config_of(oci_dir: str) -> dict:
    root = Path(oci_dir)
    index = json.loads((root / "index.json").read_text())
    manifest = json.loads((root / "blobs" / "sha256" / index["manifests"][0]["digest"].split(":")[1]).read_bytes())
    return json.loads((root / "blobs" / "sha256" / manifest["config"]["digest"].split(":")[1]).read_bytes())


def test_two_tags_of_the_sample_app_differ_in_digest_and_say_their_version(tmp_path):
    v1 = images.assemble(images.DEFAULT_APP_DIR, "app:v1", tmp_path / "v1", echo=lambda _: None,
                         build_args={"APP_VERSION": "v1"})
    v2 = images.assemble(images.DEFAULT_APP_DIR, "app:v2", tmp_path / "v2", echo=lambda _: None,
                         build_args={"APP_VERSION": "v2"})
    assert v1.image_id != v2.image_id
    assert "APP_VERSION=v2" in config_of(v2.source)["config"]["Env"]
    default = images.assemble(images.DEFAULT_APP_DIR, "app:x", tmp_path / "x", echo=lambda _: None)
    assert "APP_VERSION=dev" in config_of(default.source)["config"]["Env"]  # the Dockerfile's ARG default
