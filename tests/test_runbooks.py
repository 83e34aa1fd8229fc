"""helpers.runbooks end to end: a notebook run by papermill in a real container, as a Fargate task.

The runner image is Debian bookworm's python3 with its Jupyter packages, plus papermill and boto3 copied in
(containers here reach no package index). Inside, boto3 finds the task role's credentials and the embedded
backend's endpoint the way Fargate gives them (AWS_CONTAINER_CREDENTIALS_FULL_URI, AWS_ENDPOINT_URL).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest

from helpers import runbooks
from helpers.errors import InvalidParameter
from tests.test_docker_tasks_e2e import CLUSTER, GROUP, docker_backend, lab  # noqa: F401 - fixtures

pytestmark = pytest.mark.docker

NOTEBOOK = Path(__file__).parent / "fixtures" / "runbooks" / "check.ipynb"
RUNNER_IMAGE = os.environ.get("FARGATE_LAB_RUNNER_IMAGE", "fargate-lab-test/runner:local")
BUCKET = "fargate-lab-runbooks-test"


@pytest.fixture(scope="session")
def runner_image(docker_client) -> str:
    import docker.errors

    try:
        docker_client.images.get(RUNNER_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"the runner image {RUNNER_IMAGE} is missing: build it with .ci/runner-image")
    return RUNNER_IMAGE


def _output(session, uri: str):
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    body = session.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return nbformat.reads(body.decode(), as_version=4)


def test_a_notebook_runs_as_a_task_with_its_parameters_and_its_output_in_s3(lab, runner_image):  # noqa: F811
    lab.client("s3").create_bucket(Bucket=BUCKET)
    result = runbooks.run_notebook(lab, NOTEBOOK, bucket=BUCKET, image=runner_image, cluster=CLUSTER,
                                   log_group=GROUP, parameters={"value": 3}, timeout=180,
                                   create_task_role=True)
    assert result.succeeded, (result.task.hint, result.task.exit_codes)
    assert result.task.exit_codes == {runbooks.CONTAINER: 0}
    executed = _output(lab, result.output_uri)
    printed = "".join(o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "doubled 6" in printed and "task http://169.254.170.2:" in printed
    assert executed.metadata["papermill"]["parameters"] == {"value": 3}


def test_a_failing_notebook_is_a_failed_task_with_its_output_and_error_in_s3(lab, runner_image):  # noqa: F811
    lab.client("s3").create_bucket(Bucket=BUCKET)
    result = runbooks.run_notebook(lab, NOTEBOOK, bucket=BUCKET, image=runner_image, cluster=CLUSTER,
                                   log_group=GROUP, parameters={"value": 20}, timeout=180,
                                   create_task_role=True)
    assert not result.succeeded and result.task.exit_codes[runbooks.CONTAINER] not in (0, None)
    executed = _output(lab, result.output_uri)
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert errors and "value 20 reached the limit 10" in json.dumps(errors[0])


@pytest.mark.parametrize("bucket", ["Upper", "ab", "a..b", "-start", "x" * 64])
def test_a_bucket_name_s3_refuses_is_refused_before_anything_runs(bucket):
    with pytest.raises(InvalidParameter, match="bucket"):
        runbooks.run_notebook(None, NOTEBOOK, bucket=bucket, image="i", cluster="c", log_group="g")


@pytest.mark.parametrize(("notebook", "parameters", "name"), [(NOTEBOOK.with_name("missing.ipynb"), None, "notebook"),
                                                              (NOTEBOOK, [("value", 3)], "parameters")])
def test_a_missing_notebook_or_parameters_not_a_mapping_are_refused_before_anything_runs(notebook, parameters, name):
    with pytest.raises(InvalidParameter, match=name):
        runbooks.run_notebook(None, notebook, bucket=BUCKET, image="i", cluster="c", log_group="g",
                              parameters=parameters)
