"""Choosing a backend: the one place where "local" and "aws" differ (endpoint and credentials)."""

from __future__ import annotations

import re
from typing import Any

import boto3
from botocore.config import Config

from helpers.errors import BackendNotConfigured, InvalidParameter

BACKENDS = ("local", "aws")
DEFAULT_REGION = "us-east-1"
#: The shape of a region code (us-east-1, eu-west-3, ap-southeast-2, us-gov-west-1, cn-north-1).
REGION_PATTERN = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}")
#: botocore's standard retry mode: throttling and transient errors are retried with backoff.
RETRY_CONFIG = Config(retries={"mode": "standard", "max_attempts": 8})


class LabSession(boto3.Session):
    """A boto3 Session whose clients reach the chosen backend with the suite's retry settings."""

    def __init__(self, *, backend: str, endpoint_url: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.backend = backend
        self.endpoint_url = endpoint_url

    def client(self, service_name: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs.setdefault("endpoint_url", self.endpoint_url)
        config = kwargs.get("config")
        kwargs["config"] = RETRY_CONFIG.merge(config) if config else RETRY_CONFIG
        return super().client(service_name, *args, **kwargs)

    def resource(self, service_name: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs.setdefault("endpoint_url", self.endpoint_url)
        config = kwargs.get("config")
        kwargs["config"] = RETRY_CONFIG.merge(config) if config else RETRY_CONFIG
        return super().resource(service_name, *args, **kwargs)

    def in_region(self, region: str) -> LabSession:
        """This session in ``region``: same backend, endpoint and credentials (itself when already there).

        For helpers that work on the session's region, e.g. a demo fleet or a cleanup across regions.
        The credentials are a frozen copy, as long-lived as the ones they copy.
        """
        if region == self.region_name:
            return self
        frozen = self.get_credentials().get_frozen_credentials()
        return LabSession(backend=self.backend, endpoint_url=self.endpoint_url, region_name=region,
                          aws_access_key_id=frozen.access_key, aws_secret_access_key=frozen.secret_key,
                          aws_session_token=frozen.token)

    def __repr__(self) -> str:
        where = self.endpoint_url or "AWS"
        return f"LabSession(backend={self.backend!r}, region={self.region_name!r}, endpoint={where!r})"


def connect(backend: str = "local", region: str | None = DEFAULT_REGION, profile: str | None = None) -> LabSession:
    """A session for ``backend``: "local" (the embedded backend, started if needed) or "aws".

    For "aws", ``region=None`` takes the region from the default chain (profile,
    AWS_REGION, config file). Nothing reaches AWS unless "aws" is asked for.
    """
    if backend not in BACKENDS:
        raise InvalidParameter("backend", backend, f"choose one of {', '.join(repr(b) for b in BACKENDS)}")
    if region is not None and not (isinstance(region, str) and REGION_PATTERN.fullmatch(region)):
        raise InvalidParameter("region", region, "an AWS region code such as 'us-east-1' or 'eu-west-3' "
                                                 "(or None for the default chain, with backend='aws')")
    if backend == "local":
        from helpers import local

        info = local.start()
        return LabSession(
            backend="local", endpoint_url=info.url, region_name=region or DEFAULT_REGION, **local.CREDENTIALS
        )
    return _aws_session(region, profile)


def _aws_session(region: str | None, profile: str | None) -> LabSession:
    import botocore.exceptions

    try:
        session = LabSession(backend="aws", profile_name=profile, region_name=region)
    except botocore.exceptions.ProfileNotFound as exc:
        raise BackendNotConfigured(f"{exc}. List your profiles with: aws configure list-profiles") from None
    if session.get_credentials() is None:
        raise BackendNotConfigured(
            "backend='aws' needs AWS credentials and none were found. Configure them with `aws configure` "
            "(or `aws sso login --profile NAME` and pass profile=NAME), or set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY. To learn without an account, use backend='local'."
        )
    if not session.region_name:
        raise BackendNotConfigured(
            "backend='aws' needs a region and none was found. Pass region='us-east-1' (for example), "
            "set AWS_REGION, or run `aws configure set region us-east-1`."
        )
    return session


def backend_of(session: boto3.Session) -> str:
    """"local" or "aws" for a LabSession; "aws" for any other boto3 session."""
    return getattr(session, "backend", "aws")
