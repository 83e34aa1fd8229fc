"""Fault injection: errors in each protocol's shape, retried by botocore; faults never touch the control paths."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from emulator.errors import InvalidSetting
from emulator.faults import FaultSpec, identify, parse_spec
from helpers import local
from helpers.tags import as_aws, suite_tags
from tests.faulty import fault_counts, faulty_backend

NO_RETRY = Config(retries={"mode": "standard", "total_max_attempts": 1})


def test_spec_is_parsed_and_bad_specs_say_what_is_valid():
    spec = parse_spec("throttle=0.3, error=0.05,slow=0.1,slow_seconds=1,seed=7,ops=RunTask|PutImage,max_attempt=2,"
                      "limit=4")
    assert spec == FaultSpec(throttle=0.3, error=0.05, slow=0.1, slow_seconds=1.0, seed=7, max_attempt=2, limit=4,
                             ops=frozenset({"RunTask", "PutImage"}))
    assert not parse_spec(None).active and not parse_spec("").active
    for bad in ("throttle=1.5", "throttle", "nonsense=1", "seed=x", "max_attempt=0", "slow_seconds=-1", "limit=-1"):
        with pytest.raises(InvalidSetting, match=r"parameter 'faults'.*rates from 0 to 1"):
            parse_spec(bad)


def test_only_signed_aws_calls_are_identified():
    signed = "AWS4-HMAC-SHA256 Credential=testing/20261128/us-east-1/ecs/aws4_request, SignedHeaders=x"
    call = identify({"PATH_INFO": "/", "HTTP_AUTHORIZATION": signed, "HTTP_AMZ_SDK_REQUEST": "attempt=2; max=8",
                     "HTTP_X_AMZ_TARGET": "AmazonEC2ContainerServiceV20141113.RunTask"})
    assert (call.service, call.operation, call.protocol, call.attempt) == ("ecs", "RunTask", "json", 2)
    for path in ("/v2/repo/blobs/uploads/", "/moto-api/reset", "/_lab/health"):
        assert identify({"PATH_INFO": path, "HTTP_AUTHORIZATION": signed, "HTTP_X_AMZ_TARGET": "x.Y"}) is None
    assert identify({"PATH_INFO": "/", "HTTP_X_AMZ_TARGET": "x.Y"}) is None  # unsigned: not an AWS SDK call


@pytest.fixture(scope="module")
def always_throttled_once():
    """Every first attempt is throttled, every retry goes through: deterministic."""
    with faulty_backend("throttle=1,max_attempt=1") as session:
        yield session


@pytest.mark.parametrize("service,call,code", [
    ("ecs", lambda c: c.list_clusters(), "ThrottlingException"),
    ("ecr", lambda c: c.describe_repositories(), "ThrottlingException"),
    ("logs", lambda c: c.describe_log_groups(), "ThrottlingException"),
    ("secretsmanager", lambda c: c.list_secrets(), "ThrottlingException"),
    ("sts", lambda c: c.get_caller_identity(), "Throttling"),
    ("iam", lambda c: c.list_roles(), "Throttling"),
    ("ec2", lambda c: c.describe_security_groups(), "RequestLimitExceeded"),
])
def test_throttling_has_each_protocols_shape_and_is_retried(always_throttled_once, service, call, code):
    with pytest.raises(ClientError) as caught:
        call(always_throttled_once.client(service, config=NO_RETRY))
    assert caught.value.response["Error"]["Code"] == code
    answer = call(always_throttled_once.client(service))  # the suite's standard retry mode
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert answer["ResponseMetadata"]["RetryAttempts"] == 1


def test_control_paths_are_never_faulted(always_throttled_once):
    port = int(always_throttled_once.endpoint_url.rsplit(":", 1)[1])
    assert local.health(port)["faults"] == "throttle=1,max_attempt=1"
    before = fault_counts(always_throttled_once)["throttle"]
    signed = "AWS4-HMAC-SHA256 Credential=testing/20261128/us-east-1/ecr/aws4_request, SignedHeaders=x"
    for path in ("/v2/", "/moto-api/data.json"):
        request = urllib.request.Request(always_throttled_once.endpoint_url + path, headers={
            "Authorization": signed, "X-Amz-Target": "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories"})
        try:
            urllib.request.urlopen(request, timeout=10).close()
        except urllib.error.HTTPError as exc:
            assert b"Throttling" not in exc.read()
    assert fault_counts(always_throttled_once)["throttle"] == before


def test_random_faults_at_30_percent_are_survived():
    """Throttling, 5xx and slow answers at realistic rates: every call still succeeds, some only after retries."""
    with faulty_backend("throttle=0.3,error=0.05,slow=0.05,slow_seconds=0.2,seed=7") as session:
        ecs, ecr, logs = session.client("ecs"), session.client("ecr"), session.client("logs")
        retried = 0
        for n in range(8):
            answers = [
                ecs.create_cluster(clusterName=f"c{n}", tags=as_aws(suite_tags(), "key")),
                ecr.create_repository(repositoryName=f"r{n}", tags=as_aws(suite_tags())),
                logs.create_log_group(logGroupName=f"/g{n}", tags=suite_tags()),
            ]
            retried += sum(a["ResponseMetadata"]["RetryAttempts"] for a in answers)
        assert len(ecs.list_clusters()["clusterArns"]) == 8
        assert len(ecr.describe_repositories()["repositories"]) == 8
        counts = fault_counts(session)
        assert counts["throttle"] > 3 and retried > 3


def test_a_lost_answer_makes_the_client_retry_what_already_happened():
    """The "lost" fault: moto processes the request, the client sees a 500 and retries it."""
    with faulty_backend("lost=1,ops=CreateRepository,max_attempt=1") as session:
        ecr = session.client("ecr")
        with pytest.raises(ClientError, match="RepositoryAlreadyExistsException"):
            ecr.create_repository(repositoryName="twice")  # the retry meets what the first attempt created
        assert [r["repositoryName"] for r in ecr.describe_repositories()["repositories"]] == ["twice"]
        assert fault_counts(session)["lost"] == 1


def test_a_retried_run_task_starts_one_task(tmp_path):
    """RunTask is processed, its answer lost, botocore retries it: the client token makes it start one task."""
    from helpers import prereqs, taskdef, tasks

    with faulty_backend("lost=1,ops=RunTask,max_attempt=1") as session:
        prereqs.ensure_cluster(session, "lost-answers")
        role = prereqs.ensure_execution_role(session, allow_create=True)
        definition = taskdef.fargate_task_definition("lost-answers", "busybox", cpu=256, memory=512,
                                                     command="sleep 1", execution_role_arn=role)
        registered = taskdef.register(session, definition)
        arns = tasks.run_task(session, "lost-answers", registered.arn)
        ecs = session.client("ecs")
        everything = [a for status in ("RUNNING", "STOPPED")
                      for a in ecs.list_tasks(cluster="lost-answers", desiredStatus=status)["taskArns"]]
        assert fault_counts(session)["lost"] == 1  # the first attempt was processed, its answer lost
        assert len(arns) == 1 and everything == arns


@pytest.mark.parametrize("spec", [
    "lost=1,ops=CompleteLayerUpload|PutImage,max_attempt=1",  # every completion and the manifest, once each
    "lost=1,ops=UploadLayerPart,max_attempt=1,limit=2",  # a part: the upload moved past it, so it starts over
])
def test_a_retried_push_creates_one_image(tmp_path, spec):
    """Blob parts, blob completions and put_image are processed, their answers lost, and retried: one image."""
    from helpers import ecr, images

    with faulty_backend(spec) as session:
        built = images.assemble(images.DEFAULT_APP_DIR, "fargate-lab/lost:v1", out_dir=tmp_path / "image",
                                echo=lambda _: None)
        ecr.ensure_repository(session, "fargate-lab/lost")
        result = ecr.push_image(session, built.source, "fargate-lab/lost", "v1", progress=False)
        details = session.client("ecr").describe_images(repositoryName="fargate-lab/lost")["imageDetails"]
        assert fault_counts(session)["lost"] >= 2
        assert [(d["imageDigest"], d.get("imageTags")) for d in details] == [(result.digest, ["v1"])]
        again = ecr.push_image(session, built.source, "fargate-lab/lost", "v1", progress=False)
        assert again.bytes_uploaded == 0 and again.digest == result.digest


def test_a_retried_create_service_creates_one_service():
    """CreateService is processed, its answer lost, botocore retries it: the client token returns the same service."""
    from helpers import prereqs, services, taskdef

    with faulty_backend("lost=1,ops=CreateService,max_attempt=1") as session:
        prereqs.ensure_cluster(session, "lost-services")
        definition = taskdef.fargate_task_definition("lost-services", "busybox", cpu=256, memory=512,
                                                     command="sleep 60", awslogs=False)
        described = services.ensure_service(session, "lost-services", "web", definition, desired_count=1,
                                            network=prereqs.network(session))
        assert fault_counts(session)["lost"] == 1  # the first attempt created the service, its answer was lost
        assert described["serviceName"] == "web" and described["status"] == "ACTIVE"
        ecs = session.client("ecs")
        assert len(ecs.list_services(cluster="lost-services")["serviceArns"]) == 1
