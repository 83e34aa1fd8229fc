"""Domain facts written once on the client side: units, the awslogs stream name, Fargate's constants, image
references, the task definition cache, regional sessions; and the dead code that went."""

from __future__ import annotations

import dataclasses
import re

import pytest

from helpers import cleanup, fargate, fleet, inventory, local, rollout, services, taskdef, tasks
from helpers.apicalls import count_calls
from helpers.session import LabSession
from tests.conftest import ROOT

HELPERS = sorted((ROOT / "helpers").rglob("*.py"))


def sources_matching(pattern: str) -> list[str]:
    """The helpers modules whose source matches ``pattern``."""
    return [str(p.relative_to(ROOT)) for p in HELPERS if re.search(pattern, p.read_text(), re.M)]


@pytest.mark.parametrize(("value", "units"), [
    (256, 256), ("1024", 1024), ("1 vCPU", 1024), ("0.25 vcpu", 256), ("2vCPU", 2048), (None, None), ("", None),
    ("256.5", None), ("0.1 vCPU", None), ("lots", None), (True, None), (512.0, 512),
])
def test_cpu_units_read_what_register_task_definition_reads(value, units):
    """RegisterTaskDefinition turns "1 vCPU" into 1024 units; a fraction of a unit is not a size."""
    assert fargate.cpu_units(value) == units


@pytest.mark.parametrize(("value", "mib"), [
    (512, 512), ("2048", 2048), ("2 GB", 2048), ("0.5 gb", 512), ("1GB", 1024), (None, None), ("2 TB", None),
])
def test_memory_mib_read_what_register_task_definition_reads(value, mib):
    assert fargate.memory_mib(value) == mib


def test_units_are_parsed_in_one_place():
    assert sources_matching(r"endswith\((unit|suffix)\)") == ["helpers/fargate.py"]
    definition = taskdef.fargate_task_definition("f", "busybox", cpu="1 vCPU", memory="2 GB")
    assert taskdef.normalize(definition)["cpu"] == "1024" and taskdef.normalize(definition)["memory"] == "2048"
    assert taskdef.size_problems("0.25 vCPU", "0.5 GB") == []


def test_the_awslogs_stream_name_is_written_once():
    """https://docs.aws.amazon.com/AmazonECS/latest/developerguide/using_awslogs.html: prefix/container/task-id."""
    assert fargate.awslogs_stream("ecs", "app", "abc") == "ecs/app/abc"
    assert fargate.awslogs_stream(None, "app", "abc") == "abc"
    assert sources_matching(r"\}/\{task_id\}") == ["helpers/fargate.py"]
    definition = taskdef.fargate_task_definition("f", "busybox", cpu=256, memory=512, log_stream_prefix="p")
    assert tasks._streams(definition, "t1")["f"][1] == "p/f/t1"


def test_fargate_constants_live_in_one_module():
    """20 GiB included ephemeral storage, 21-200 configurable:
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-task-storage.html"""
    assert fargate.INCLUDED_EPHEMERAL_GIB == 20 and fargate.EPHEMERAL_GIB_RANGE == (21, 200)
    assert sources_matching(r"INCLUDED_EPHEMERAL_GIB\s*=|EPHEMERAL_GIB_RANGE\s*=|CAPACITY_PROVIDERS\s*=|"
                            r"ARCHITECTURES\s*=|OS_FAMILIES\s*=") == ["helpers/fargate.py"]
    assert sources_matching(r"sizeInGiB[\"']?\)?,\s*20\b|\b20 GiB|> 20\b") == []
    assert fargate.ephemeral_gib({}) == 20 and fargate.ephemeral_gib({"ephemeralStorage": {"sizeInGiB": 50}}) == 50


@pytest.mark.parametrize(("image", "repository"), [
    ("busybox", "busybox"),
    ("fargate-lab/sample-app:v1", "fargate-lab/sample-app"),
    ("127.0.0.1:4620/fargate-lab/sample-app:v1", "127.0.0.1:4620/fargate-lab/sample-app"),
    ("127.0.0.1:4620/sample-app", "127.0.0.1:4620/sample-app"),
    ("123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1@sha256:" + "0" * 64,
     "123456789012.dkr.ecr.us-east-1.amazonaws.com/app"),
    ("app@sha256:" + "0" * 64, "app"),
])
def test_image_references_are_read_as_the_docker_sdk_reads_them(image, repository):
    assert services.image_repository(image) == repository
    retagged = services.with_image_tag({"containerDefinitions": [{"name": "c", "image": image}]}, "v2")
    assert retagged["containerDefinitions"][0]["image"] == f"{repository}:v2"


def test_one_task_definition_cache_describes_each_revision_once(session):
    registered = taskdef.register(session, taskdef.fargate_task_definition(
        "facts-cache", "busybox", cpu=256, memory=512, awslogs=False)).arn
    with count_calls(session) as calls:
        cache = taskdef.DefinitionCache(session.client("ecs"), tags=True)
        first, again = cache.get(registered), cache.get(registered)
    assert first is again and calls.get("ecs.DescribeTaskDefinition") == 1 and "tags" in first
    assert issubclass(cleanup._TaskDefinitions, taskdef.DefinitionCache)
    assert not hasattr(inventory, "_Definitions") and not hasattr(tasks, "_Definitions")
    assert sources_matching(r"if arn not in self\.\w+:") == ["helpers/taskdef.py"]


def test_a_session_in_another_region_keeps_backend_endpoint_and_credentials():
    session = LabSession(backend="local", endpoint_url="http://127.0.0.1:9", region_name="us-east-1",
                         **local.CREDENTIALS)
    assert session.in_region("us-east-1") is session
    other = session.in_region("eu-west-1")
    assert isinstance(other, LabSession)
    assert (other.backend, other.endpoint_url, other.region_name) == ("local", "http://127.0.0.1:9", "eu-west-1")
    assert other.get_credentials().access_key == session.get_credentials().access_key
    assert other.client("ecs").meta.endpoint_url == "http://127.0.0.1:9"
    assert not hasattr(fleet, "regional_session") and not hasattr(cleanup, "_Regional")


def test_dead_code_is_gone():
    assert not hasattr(taskdef, "size_choices")
    assert "replaced_by" not in {f.name for f in dataclasses.fields(rollout.Outcome)}
    assert "KNOWN" not in (ROOT / "tests" / "test_papermill_contract.py").read_text()


def test_a_task_has_one_shape_on_the_client_side():
    """Every helper that reports tasks reports ``tasks.TaskResult``: services' stopped tasks, failures, tables."""
    assert sources_matching(r"^class Task\w*(Result|State|Info)\b") == ["helpers/tasks.py"]
    assert services._stopped_tasks.__annotations__["return"] == "list[TaskResult]"
