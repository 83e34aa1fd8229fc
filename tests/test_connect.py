"""connect(): backend names, the embedded backend's endpoint, real AWS without credentials or region."""

from __future__ import annotations

import pytest

import helpers
from helpers.errors import BackendNotConfigured, InvalidParameter


def test_bad_backend_name_names_the_choices():
    with pytest.raises(InvalidParameter, match=r"'backend'.*'localstack'.*'local', 'aws'"):
        helpers.connect(backend="localstack")


def test_local_session_reaches_the_embedded_backend(session, backend):
    ecs = session.client("ecs")
    assert ecs.meta.endpoint_url == backend.url
    assert ecs.meta.config.retries["mode"] == "standard"
    assert session.client("sts").get_caller_identity()["Account"] == "123456789012"
    assert isinstance(session, helpers.LabSession) and session.region_name == "us-east-1"


@pytest.fixture
def no_aws_config(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return tmp_path


def test_aws_without_credentials_says_how_to_configure(no_aws_config):
    with pytest.raises(BackendNotConfigured, match="aws configure"):
        helpers.connect(backend="aws")


def test_aws_without_region_says_how_to_set_one(no_aws_config, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
    with pytest.raises(BackendNotConfigured, match="needs a region"):
        helpers.connect(backend="aws", region=None)
    session = helpers.connect(backend="aws", region="eu-west-1")
    assert session.endpoint_url is None and session.region_name == "eu-west-1"


def test_aws_with_unknown_profile(no_aws_config):
    with pytest.raises(BackendNotConfigured, match="list-profiles"):
        helpers.connect(backend="aws", profile="nobody")
