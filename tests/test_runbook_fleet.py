"""helpers.runbooks.run_on_fargate and ``python -m helpers run --on fargate``: a matrix of parameter sets as
Fargate tasks at once, in real containers (the runner image of .ci/runner-image), outputs in S3.

S3 bucket names: https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
The runner's calls are recorded (helpers.calls) and must be what the policy's Runbook statements grant
(iam/fargate-lab-policy.json); the task role is created beforehand, as an administrator would.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import nbformat
import pytest
import yaml

from helpers import calls, runbooks
from helpers.__main__ import main
from tests.test_docker_tasks_e2e import docker_backend, lab  # noqa: F401 - fixtures
from tests.test_runbooks import BUCKET, NOTEBOOK, runner_image  # noqa: F401 - fixture

pytestmark = pytest.mark.docker

ENVIRONMENT = Path(__file__).resolve().parent.parent / "notebooks" / "00_environment.ipynb"
MATRIX = [{"value": 1}, {"value": 2}, {"value": 3}, {"value": 20}]


def _printed(session, uri: str) -> str:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    notebook = nbformat.reads(session.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode(), 4)
    return "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", []))


def test_a_matrix_of_four_sets_runs_as_four_tasks_at_once_and_the_failed_output_is_downloaded(
        lab, runner_image, tmp_path):  # noqa: F811
    lines: list[str] = []
    runbooks.ensure_task_role(lab, allow_create=True)
    calls.record_calls(lab, tmp_path / "calls.txt")
    rows = runbooks.run_on_fargate(lab, [NOTEBOOK], MATRIX, parallel=4, bucket=BUCKET, image=runner_image,
                                   create_bucket=True, out_dir=tmp_path / "out", progress=lines.append, timeout=300)
    made = calls.recorded_actions(tmp_path / "calls.txt")
    assert made - calls.policy_actions() == set(), "the runner calls what iam/fargate-lab-policy.json does not grant"
    assert calls.runbook_actions(implied=False) - calls.runbook_cleanup_actions() <= made, (
        "the Runbook statements grant what the runner never calls")
    assert {"ecs:RegisterTaskDefinition", "ecs:RunTask"} <= made  # what iam:PassRole of the task role is for
    assert "iam:PutRolePolicy" not in made
    assert [(r.parameters, r.status, r.exit_code) for r in rows] == [
        ({"value": 1}, "ok", 0), ({"value": 2}, "ok", 0), ({"value": 3}, "ok", 0), ({"value": 20}, "failed", 1)]
    for row in rows[:3]:
        assert f"doubled {row.parameters['value'] * 2}" in _printed(lab, row.output_uri)
    assert len({r.output_uri for r in rows}) == 4 and all(r.stop_code == "EssentialContainerExited" for r in rows)
    started = max(r.task.created_at for r in rows)
    assert started < min(r.task.stopped_at for r in rows), "the four tasks ran at the same time"
    failed = rows[3]
    assert failed.local_output == tmp_path / "out" / failed.output_uri.rsplit("/", 1)[-1] and failed.local_output.is_file()
    assert failed.error == "AssertionError: value 20 reached the limit 10"
    assert rows[0].local_output is None and not list(tmp_path.glob("out/check-1*"))
    assert lines[-1] == "4 done (3 ok, 1 failed)" and len(lines) == len(set(lines)), lines
    tags = lab.client("s3").get_bucket_tagging(Bucket=BUCKET)["TagSet"]
    assert {"Key": "fargate-lab:suite", "Value": "fargate-lab"} in tags


def test_the_cli_runs_at_most_parallel_tasks_exits_1_on_a_failure_and_reuses_the_revision(
        lab, runner_image, tmp_path, capsys):  # noqa: F811
    matrix = tmp_path / "matrix.yaml"
    matrix.write_text(yaml.safe_dump([{"value": 20}, {"value": 4}]))
    arguments = ["run", "--on", "fargate", str(NOTEBOOK), "--matrix", str(matrix), "--parallel", "1",
                 "--bucket", BUCKET, "--create-bucket", "--create-task-role", "--image", runner_image, "--out", str(tmp_path / "out")]
    assert main(arguments) == 1
    out = capsys.readouterr().out
    assert "value 20 reached the limit 10" in out and f"downloaded to: {tmp_path / 'out'}" in out
    assert [line.split()[2] for line in out.splitlines() if line.startswith("check.ipynb  ")] == ["failed", "ok"]
    assert "\r" not in out and "2 done (1 ok, 1 failed)" in out
    ecs = lab.client("ecs")
    arns = ecs.list_tasks(cluster="fargate-lab", desiredStatus="STOPPED")["taskArns"]
    first, second = sorted(ecs.describe_tasks(cluster="fargate-lab", tasks=arns)["tasks"], key=lambda t: t["createdAt"])
    assert second["createdAt"] >= first["stoppedAt"] - timedelta(seconds=1), "--parallel 1 ran one at a time"
    assert main(["run", "--on", "fargate", str(NOTEBOOK), "-p", "value", "5", "--image", runner_image]) == 0
    lab.client("s3").head_bucket(Bucket="fargate-lab-runbooks-123456789012-us-east-1")  # the default, created
    revisions = ecs.list_task_definitions(familyPrefix=runbooks.FAMILY)["taskDefinitionArns"]
    assert len(revisions) == 1, revisions


BAD = {
    "matrix not a list": (["--matrix", "{value: 3}"], "matrix"),
    "matrix of non-mappings": (["--matrix", "[3, 4]"], "matrix"),
    "a name no notebook declares": (["-p", "valeu", "3"], "did you mean 'value'"),
    "a set's name no notebook declares": (["--matrix", "[{value: 1}, {valeu: 2}]"], "matrix set 2 {'valeu': 2}: "),
    "a value the model rejects": (["-p", "region", "moon-1"], "region"),
    "a bucket name S3 refuses": (["--bucket", "Bad_Bucket"], "bucket"),
    "a bucket the task role cannot reach": (["--bucket", "my-notebooks"], "fargate-lab-runbooks-"),
    "no task role": (["--bucket", BUCKET, "--create-bucket"], "--create-task-role"),
    "a missing bucket not to create": (["--bucket", "fargate-lab-runbooks-missing"], "create-bucket"),
}


@pytest.mark.parametrize(("extra", "says"), BAD.values(), ids=BAD.keys())
def test_bad_input_exits_2_with_a_clear_error_and_creates_nothing(lab, tmp_path, capsys, extra, says):  # noqa: F811
    if extra[0] == "--matrix":
        (tmp_path / "m.yaml").write_text(extra[1])
        extra = ["--matrix", str(tmp_path / "m.yaml")]
    notebooks = [str(ENVIRONMENT)] if "region" in extra else [str(NOTEBOOK)]
    assert main(["run", "--on", "fargate", *notebooks, *extra, "--image", "i"]) == 2
    err = capsys.readouterr().err
    assert says in err and ("--matrix" in extra or "matrix set" not in err), err
    assert lab.client("s3").list_buckets()["Buckets"] == []
    assert lab.client("ecs").list_task_definitions(familyPrefix=runbooks.FAMILY)["taskDefinitionArns"] == []
    assert not any(arn.endswith("/fargate-lab") for arn in lab.client("ecs").list_clusters()["clusterArns"])
    with pytest.raises(lab.client("iam").exceptions.NoSuchEntityException):
        lab.client("iam").get_role(RoleName=runbooks.TASK_ROLE_NAME)
