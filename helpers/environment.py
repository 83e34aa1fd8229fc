"""What the lab runs on: backend, account, endpoint, Docker engine, package versions."""

from __future__ import annotations

import platform
from importlib import metadata

import boto3
import pandas as pd

from helpers.engine import engine_version
from helpers.session import backend_of

PACKAGES = ("boto3", "botocore", "pandas", "matplotlib", "papermill", "docker", "moto", "tqdm", "jupyterlab")


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def environment_table(session: boto3.Session) -> pd.DataFrame:
    """One row per fact (``item``, ``value``): the lab's first sanity check."""
    sts = session.client("sts")
    identity = sts.get_caller_identity()
    docker = engine_version()
    rows = [
        ("backend", backend_of(session)),
        ("region", session.region_name),
        ("account", identity["Account"]),
        ("endpoint", sts.meta.endpoint_url),
        ("docker engine", docker or "none: images are assembled in Python, tasks are simulated"),
        ("python", platform.python_version()),
    ]
    rows += [(f"package {name}", version) for name, version in package_versions().items()]
    return pd.DataFrame(rows, columns=["item", "value"])
