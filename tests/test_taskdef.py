"""Task definitions: the payload, Fargate's rules (every valid size, invalid ones before any call), register."""

from __future__ import annotations

import pytest

from helpers import local, taskdef
from helpers.errors import InvalidTaskDefinition
from helpers.fargate import all_sizes, size_table
from helpers.session import LabSession
from helpers.tags import SUITE_TAG_KEY

ROLE = "arn:aws:iam::123456789012:role/fargate-lab-task-execution"
#: Fargate's task sizes as the AWS docs list them (Amazon ECS Developer Guide, task CPU and memory): CPU units to memory MiB.
EXPECTED_SIZES = {
    256: [512, 1024, 2048],
    512: list(range(1024, 4097, 1024)),
    1024: list(range(2048, 8193, 1024)),
    2048: list(range(4096, 16385, 1024)),
    4096: list(range(8192, 30721, 1024)),
    8192: list(range(16384, 61441, 4096)),
    16384: list(range(32768, 122881, 8192)),
}
LINUX_SIZES = [(c, m) for c, ms in EXPECTED_SIZES.items() for m in ms]
WINDOWS_SIZES = [(c, m) for c, m in LINUX_SIZES if c in (1024, 2048, 4096)]  # 1, 2 or 4 vCPU only


def td(**kwargs) -> dict:
    kwargs.setdefault("cpu", 256)
    kwargs.setdefault("memory", 512)
    kwargs.setdefault("execution_role_arn", ROLE)
    return taskdef.fargate_task_definition("demo", "busybox:latest", **kwargs)


def unreachable_session() -> LabSession:
    """A session whose endpoint nothing answers: any AWS call would fail with a connection error."""
    return LabSession(backend="local", endpoint_url="http://127.0.0.1:9", region_name="us-east-1", **local.CREDENTIALS)


def test_the_size_table_is_data_with_source_and_date():
    table = size_table()
    assert table["source"].startswith("https://docs.aws.amazon.com/")
    assert table["retrieved"]
    assert all_sizes() == LINUX_SIZES
    assert all_sizes("WINDOWS_SERVER_2022_CORE") == WINDOWS_SIZES


@pytest.mark.parametrize(("cpu", "memory"), LINUX_SIZES, ids=lambda v: str(v))
def test_every_valid_linux_size_is_accepted(cpu, memory):
    assert taskdef.problems(td(cpu=cpu, memory=memory)) == []


@pytest.mark.parametrize(("cpu", "memory"), WINDOWS_SIZES, ids=lambda v: str(v))
def test_every_valid_windows_size_is_accepted(cpu, memory):
    assert taskdef.problems(td(cpu=cpu, memory=memory, os_family="WINDOWS_SERVER_2022_CORE")) == []


@pytest.mark.parametrize(("cpu", "memory", "expected"), [
    (256, 4096, "memory 4096 MiB is not valid with cpu 256: valid memory is 512, 1024, 2048 MiB; "
                "nearest valid size: cpu 512 / memory 4096 MiB"),
    (256, 256, "nearest valid size: cpu 256 / memory 512 MiB"),
    (512, 512, "valid memory is 1024, 2048, 3072, 4096 MiB"),
    (1024, 2500, "nearest valid size: cpu 1024 / memory 3072 MiB"),
    (4096, 31744, "nearest valid size: cpu 8192 / memory 32768 MiB"),
    (8192, 18432, "valid memory is 16384 to 61440 MiB in steps of 4096"),
    (16384, 36864, "valid memory is 32768 to 122880 MiB in steps of 8192"),
    (300, 1024, "cpu 300 is not a Fargate CPU value: valid values are 256, 512, 1024, 2048, 4096, 8192, 16384"),
    (32768, 131072, "nearest valid size: cpu 16384 / memory 122880 MiB"),
])
def test_invalid_sizes_name_the_nearest_valid_size_and_its_price(cpu, memory, expected):
    found = taskdef.problems(td(cpu=cpu, memory=memory))
    assert len(found) == 1
    assert expected in found[0]
    assert "/hour in us-east-1" in found[0]


def test_price_difference_is_the_nearest_size_minus_the_request():
    (problem,) = taskdef.problems(td(cpu=256, memory=4096))
    # 512 CPU / 4 GB costs 0.5*0.04048 + 4*0.004445 = 0.03802; 256/4096 would be 0.25*0.04048 + 0.01778 = 0.0279
    assert "$0.03802/hour" in problem and "+$0.01012/hour" in problem


def test_windows_needs_1024_cpu_and_x86():
    found = taskdef.problems(td(cpu=512, memory=1024, os_family="WINDOWS_SERVER_2019_FULL", arch="ARM64"))
    text = "\n".join(found)
    assert "1024, 2048, 4096 CPU units only" in text and "nearest valid size: cpu 1024 / memory 2048 MiB" in text
    assert "Windows tasks on Fargate run on X86_64 only" in text


def test_windows_takes_1_2_or_4_vcpu_only():
    # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html#fargate-tasks-size
    (problem,) = taskdef.problems(td(cpu=8192, memory=16384, os_family="WINDOWS_SERVER_2022_CORE"))
    assert "cpu 8192 is not valid for Windows" in problem and "(1, 2 or 4 vCPU)" in problem
    assert taskdef.problems(td(cpu=4096, memory=8192, os_family="WINDOWS_SERVER_2022_CORE")) == []


def test_every_problem_is_listed_at_once():
    bad = td(cpu=256, memory=4096, port=80, ephemeral_gib=300, arch="SPARC")
    bad.pop("executionRoleArn")
    bad["networkMode"] = "bridge"
    bad["requiresCompatibilities"] = ["EC2"]
    bad["containerDefinitions"][0]["essential"] = False
    bad["containerDefinitions"][0]["portMappings"][0]["hostPort"] = 8080
    bad["containerDefinitions"][0]["cpu"] = 512
    bad["containerDefinitions"][0]["memory"] = 8192
    with pytest.raises(InvalidTaskDefinition) as caught:
        taskdef.validate(bad)
    problems = caught.value.problems
    text = "\n".join(problems)
    for needle in ("memory 4096 MiB is not valid with cpu 256", "Fargate supports only 'awsvpc'",
                   "it must include 'FARGATE'", "executionRoleArn is missing", "logs with awslogs",
                   "no container is essential", "hostPort 8080 differs from containerPort 80",
                   "containers' cpu adds up to 512, more than the task's 256",
                   "containers' memory adds up to 8192 MiB, more than the task's 4096",
                   "ephemeralStorage.sizeInGiB is 300: give 21 to 200 GiB", "cpuArchitecture 'SPARC' is not valid"):
        assert needle in text, needle
    assert len(problems) == 10
    assert isinstance(caught.value, ValueError)
    assert str(caught.value).startswith("the task definition has 10 problem(s):")


@pytest.mark.parametrize(("change", "needle"), [
    ({"image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1", "awslogs": False}, "private ECR repository"),
    ({"secrets": {"TOKEN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:t-AbCdEf"}, "awslogs": False},
     "references secrets"),
    ({}, "logs with awslogs"),
])
def test_execution_role_is_required_and_why(change, needle):
    image = change.pop("image", "busybox")
    payload = taskdef.fargate_task_definition("demo", image, cpu=256, memory=512, **change)
    found = taskdef.problems(payload)
    assert len(found) == 1 and "executionRoleArn is missing" in found[0] and needle in found[0]


def test_public_image_without_logs_or_secrets_needs_no_execution_role():
    assert taskdef.problems(taskdef.fargate_task_definition("demo", "busybox", cpu=256, memory=512,
                                                            awslogs=False)) == []


@pytest.mark.parametrize("gib", [21, 200])
def test_ephemeral_storage_bounds_are_valid(gib):
    assert taskdef.problems(td(ephemeral_gib=gib)) == []


@pytest.mark.parametrize("gib", [20, 201])
def test_ephemeral_storage_outside_bounds_is_rejected(gib):
    assert any("21 to 200 GiB" in p for p in taskdef.problems(td(ephemeral_gib=gib)))


def test_payload_shape():
    payload = td(command="echo hi", environment={"B": 2, "A": "1"}, port=8080, ephemeral_gib=30,
                 arch="arm64", task_role_arn="arn:aws:iam::123456789012:role/app")
    container = payload["containerDefinitions"][0]
    assert payload["cpu"] == "256" and payload["memory"] == "512" and payload["networkMode"] == "awsvpc"
    assert payload["runtimePlatform"] == {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"}
    assert (container["entryPoint"], container["command"]) == (["sh", "-c"], ["echo hi"])
    assert container["environment"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert container["portMappings"] == [{"containerPort": 8080, "hostPort": 8080, "protocol": "tcp"}]
    assert container["logConfiguration"]["options"] == {"awslogs-group": "/fargate-lab/demo",
                                                        "awslogs-stream-prefix": "ecs"}
    assert payload["ephemeralStorage"] == {"sizeInGiB": 30}
    assert {t["key"] for t in payload["tags"]} >= {SUITE_TAG_KEY}
    listed = td(command=["echo", "a b"])["containerDefinitions"][0]
    assert listed["command"] == ["echo", "a b"] and "entryPoint" not in listed


def test_invalid_definition_is_rejected_before_any_call():
    with pytest.raises(InvalidTaskDefinition, match="memory 4096 MiB is not valid with cpu 256"):
        taskdef.register(unreachable_session(), td(cpu=256, memory=4096))


def test_register_twice_gives_one_revision_then_a_change_gives_a_diff(session):
    first = taskdef.register(session, td(command="echo hi"))
    assert first.created and first.revision == 1 and first.diff.startswith("--- (none)")
    again = taskdef.register(session, td(command="echo hi"))
    assert (again.created, again.revision, again.diff, again.arn) == (False, 1, "", first.arn)
    assert taskdef.diff_against_live(session, td(command="echo hi")) == ""

    changed = taskdef.register(session, td(command="echo bye", cpu=512, memory=1024))
    assert changed.created and changed.revision == 2
    assert '-  "cpu": "256",' in changed.diff and '+  "cpu": "512",' in changed.diff
    assert '"echo bye"' in changed.diff and changed.diff.startswith("--- demo:1")
    ecs = session.client("ecs")
    assert ecs.list_task_definitions(familyPrefix="demo")["taskDefinitionArns"][-1] == changed.arn
    registered = ecs.describe_task_definition(taskDefinition=changed.arn, include=["TAGS"])
    options = registered["taskDefinition"]["containerDefinitions"][0]["logConfiguration"]["options"]
    assert options["awslogs-region"] == "us-east-1"  # filled in from the session
    assert any(t["key"] == SUITE_TAG_KEY for t in registered["tags"])


def test_register_compares_with_the_latest_active_revision(session):
    taskdef.register(session, td(command="echo one"))
    second = taskdef.register(session, td(command="echo two"))
    session.client("ecs").deregister_task_definition(taskDefinition=second.arn)
    back = taskdef.register(session, td(command="echo one"))  # equal to revision 1, the latest ACTIVE
    assert (back.created, back.revision) == (False, 1)
    third = taskdef.register(session, td(command="echo two"))
    assert (third.created, third.revision) == (True, 3)


def test_normalize_ignores_what_the_service_adds():
    described = dict(td(), taskDefinitionArn="arn:...:task-definition/demo:4", revision=4, status="ACTIVE",
                     compatibilities=["EC2", "FARGATE"], registeredAt="2026-01-01", volumes=[],
                     placementConstraints=[], requiresAttributes=[{"name": "ecs.capability.task-eni"}])
    container = described["containerDefinitions"][0] = dict(described["containerDefinitions"][0])
    container.update(cpu=0, essential=True, environment=[], mountPoints=[], volumesFrom=[], systemControls=[],
                     versionConsistency="enabled")
    described["enableFaultInjection"] = False
    assert taskdef.diff(described, td()) == ""


def test_the_embedded_backend_rejects_invalid_fargate_sizes_like_ecs(session):
    ecs = session.client("ecs")
    with pytest.raises(ecs.exceptions.ClientException, match="No Fargate configuration exists for given values"):
        ecs.register_task_definition(family="raw", requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
                                     cpu="256", memory="4096", containerDefinitions=[{"name": "a", "image": "x"}])
    with pytest.raises(ecs.exceptions.ClientException, match="Fargate only supports network mode 'awsvpc'"):
        ecs.register_task_definition(family="raw", requiresCompatibilities=["FARGATE"], networkMode="bridge",
                                     cpu="256", memory="512", containerDefinitions=[{"name": "a", "image": "x"}])
    ok = ecs.register_task_definition(family="raw", requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
                                      cpu="1 vCPU", memory="2 GB", containerDefinitions=[{"name": "a", "image": "x"}])
    assert ok["taskDefinition"]["revision"] == 1
