"""The installation's key for the embedded backend, and signing the control API's requests with it.

The backend accepts only requests signed (SigV4) with the access key it created in its state directory
(``credentials.json``, mode 0600). This module reads that file (data shared by path: the client never imports
the emulator) and asks the emulator program to create it when it is missing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from helpers.errors import BackendError

FILE_NAME = "credentials.json"
#: The scope the control API's requests are signed for (the backend accepts any scope with its key).
CONTROL_SERVICE = "fargate-lab"
CONTROL_REGION = "us-east-1"


def credentials_path(state: Path) -> Path:
    return Path(state) / FILE_NAME


def read_credentials(state: Path, project_root: Path, create: bool = True) -> dict[str, str] | None:
    """``{"aws_access_key_id": ..., "aws_secret_access_key": ...}`` of the backend whose state dir is ``state``.

    Missing, it is created by the emulator program (``python -m emulator credentials``) when ``create``.
    """
    path = credentials_path(state)
    if not path.exists():
        if not create:
            return None
        made = subprocess.run([sys.executable, "-m", "emulator", "credentials"], capture_output=True, text=True,
                              cwd=project_root)
        if made.returncode != 0:
            raise BackendError(f"the embedded backend's credentials could not be created: {made.stderr.strip()}")
    try:
        data = json.loads(path.read_text())
        return {"aws_access_key_id": data["aws_access_key_id"],
                "aws_secret_access_key": data["aws_secret_access_key"]}
    except (OSError, ValueError, KeyError) as error:
        raise BackendError(f"{path} is not readable as the embedded backend's credentials ({error}); "
                           "rotate them: python -m helpers.local rotate-credentials") from None


def signed_request(address: str, keys: Mapping[str, str], method: str = "GET", data: bytes | None = None,
                   headers: dict[str, str] | None = None) -> urllib.request.Request:
    """A urllib request to the backend's control API, signed with ``keys`` as the backend demands."""
    request = AWSRequest(method=method, url=address, data=data or b"", headers=dict(headers or {}))
    SigV4Auth(Credentials(keys["aws_access_key_id"], keys["aws_secret_access_key"]), CONTROL_SERVICE,
              CONTROL_REGION).add_auth(request)
    return urllib.request.Request(address, data=data, method=method, headers=dict(request.headers.items()))


class LiveCredentials(Mapping[str, str]):
    """The current key of the backend in this process's state directory, read at each use (``**CREDENTIALS``).

    A mapping rather than a constant: the key is made at the backend's first start and changes on rotation.
    """

    def __init__(self, read: callable) -> None:  # type: ignore[valid-type]
        self._read = read

    def __getitem__(self, name: str) -> str:
        return self._read()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._read())

    def __len__(self) -> int:
        return len(self._read())

    def __repr__(self) -> str:  # never the secret
        return "<the embedded backend's access key, read from its state directory>"
