"""The lab's IAM policy grants no way to an admin role: parliament finds nothing above LOW, and no Allow statement
lets its holder create or pass an arbitrary role or attach an arbitrary policy. Its Athena statements (CUR 2.0
queries on AWS) grant exactly the calls a recorded run of the Athena path makes, and reach only the lab's
workgroups, CUR table and buckets.

The escalation it closes: ``iam:CreateRole`` + ``iam:AttachRolePolicy`` (AdministratorAccess) + ``iam:PassRole`` to a
task. Condition keys: https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsidentityandaccessmanagementiam.html
(``iam:PolicyARN``, ``iam:PassedToService``, ``aws:RequestTag``).
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

POLICY = Path(__file__).resolve().parent.parent / "iam" / "fargate-lab-policy.json"
LAB_ROLES = "arn:aws:iam::*:role/fargate-lab-*"
EXECUTION_ROLE = "arn:aws:iam::*:role/fargate-lab-task-execution"
#: The runbook runner's task role: it has no permission policy (a bucket policy grants it its notebooks), and none
#: can be put on it (iam:PutRolePolicy is never granted, iam:AttachRolePolicy only of the execution policy).
RUNBOOK_ROLE = "arn:aws:iam::*:role/fargate-lab-runbook-task"
RUNBOOK_BUCKETS = "arn:aws:s3:::fargate-lab-runbooks-*"
EXECUTION_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
#: Actions that hand out permissions by themselves: never granted, whatever the resource.
NEVER = ["iam:PutRolePolicy", "iam:PutUserPolicy", "iam:PutGroupPolicy", "iam:AttachUserPolicy",
         "iam:AttachGroupPolicy", "iam:CreatePolicy", "iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion",
         "iam:UpdateAssumeRolePolicy", "iam:CreateAccessKey", "iam:CreateLoginProfile", "iam:UpdateLoginProfile",
         "iam:AddUserToGroup", "iam:CreateUser", "iam:PutRolePermissionsBoundary", "iam:DeleteRolePermissionsBoundary",
         "iam:CreateServiceLinkedRole", "sts:AssumeRole", "lambda:CreateFunction", "ec2:RunInstances"]
#: Role actions: only on the suite's role names.
ROLE_SCOPED = ["iam:CreateRole", "iam:AttachRolePolicy", "iam:PassRole", "iam:TagRole", "iam:DeleteRole",
               "iam:DetachRolePolicy", "iam:DeleteRolePolicy"]


def _list(value) -> list:
    return value if isinstance(value, list) else [value]


def _grants(statement: dict, action: str) -> bool:
    return any(fnmatchcase(action.lower(), pattern.lower()) for pattern in _list(statement.get("Action", [])))


def _condition(statement: dict, operators: tuple[str, ...], key: str) -> list[str] | None:
    for operator, pairs in (statement.get("Condition") or {}).items():
        if operator in operators and key in pairs:
            return _list(pairs[key])
    return None


def escalation_problems(document: dict) -> list[str]:
    """Every way an Allow statement of ``document`` would let its holder reach permissions it does not grant."""
    problems = []
    for statement in _list(document["Statement"]):
        if statement.get("Effect") != "Allow":
            continue
        sid = statement.get("Sid", "?")
        if "NotAction" in statement or "NotResource" in statement:
            problems.append(f"{sid}: NotAction/NotResource in an Allow grants what it does not name")
            continue
        resources = _list(statement.get("Resource", []))
        for action in NEVER:
            if _grants(statement, action):
                problems.append(f"{sid}: grants {action}")
        for action in ROLE_SCOPED:
            if _grants(statement, action) and any(r not in (LAB_ROLES, EXECUTION_ROLE, RUNBOOK_ROLE) for r in resources):
                problems.append(f"{sid}: {action} on {resources}, not only the suite's roles ({LAB_ROLES})")
        if _grants(statement, "iam:AttachRolePolicy") and _condition(
                statement, ("ArnEquals", "StringEquals"), "iam:PolicyARN") != [EXECUTION_POLICY]:
            problems.append(f"{sid}: iam:AttachRolePolicy of any policy, not only {EXECUTION_POLICY}")
        if _grants(statement, "iam:PassRole"):
            if resources not in ([EXECUTION_ROLE], [RUNBOOK_ROLE]):
                problems.append(f"{sid}: iam:PassRole of {resources}, not only {EXECUTION_ROLE} or {RUNBOOK_ROLE}")
            if _condition(statement, ("StringEquals",), "iam:PassedToService") != ["ecs-tasks.amazonaws.com"]:
                problems.append(f"{sid}: iam:PassRole to any service, not only ecs-tasks.amazonaws.com")
        if _grants(statement, "iam:CreateRole") and _condition(
                statement, ("StringEquals",), "aws:RequestTag/fargate-lab:suite") != ["fargate-lab"]:
            problems.append(f"{sid}: iam:CreateRole without the suite's tag")
    return problems


def policy() -> dict:
    return json.loads(POLICY.read_text())


def test_the_policy_allows_no_escalation():
    assert escalation_problems(policy()) == []


def _statement(document: dict, action: str) -> dict:
    return next(s for s in document["Statement"] if action in _list(s["Action"]))


def _old_shape(document: dict) -> None:
    """The policy as it was: role actions on *, no condition on what is attached."""
    for action in ("iam:CreateRole", "iam:AttachRolePolicy", "iam:PassRole"):
        statement = _statement(document, action)
        statement["Resource"] = "*"
        statement.pop("Condition", None)


ESCALATIONS = {
    "the old policy": _old_shape,
    "attach any policy": lambda d: _statement(d, "iam:AttachRolePolicy").pop("Condition"),
    "attach AdministratorAccess": lambda d: _statement(d, "iam:AttachRolePolicy")["Condition"]["ArnEquals"].update(
        {"iam:PolicyARN": "arn:aws:iam::aws:policy/AdministratorAccess"}),
    "pass any role": lambda d: _statement(d, "iam:PassRole").update(Resource="*"),
    "pass to any service": lambda d: _statement(d, "iam:PassRole").pop("Condition"),
    "create any role": lambda d: _statement(d, "iam:CreateRole").update(Resource="arn:aws:iam::*:role/*"),
    "an iam wildcard": lambda d: d["Statement"].append({"Effect": "Allow", "Action": "iam:*", "Resource": "*"}),
    "a put-policy wildcard": lambda d: d["Statement"].append({"Effect": "Allow", "Action": "iam:Put*",
                                                               "Resource": LAB_ROLES}),
    "NotAction": lambda d: d["Statement"].append({"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}),
}


@pytest.mark.parametrize("change", ESCALATIONS.values(), ids=ESCALATIONS.keys())
def test_the_check_catches_each_way_to_an_admin_role(change):
    document = copy.deepcopy(policy())
    change(document)
    assert escalation_problems(document), "the check would not notice this escalation"


def test_parliament_finds_nothing_above_low():
    from parliament import analyze_policy_string, enhance_finding

    analysed = analyze_policy_string(POLICY.read_text())
    findings = [enhance_finding(f) for f in analysed.findings]
    above = [(f.severity, f.issue, f.detail) for f in findings if f.severity not in ("LOW", "INFO")]
    assert above == []
    # parliament does see a bad policy: the check is not vacuous.
    bad = copy.deepcopy(policy())
    bad["Statement"].append({"Effect": "Allow", "Action": "ecs:RunTask", "Resource": "*",  # a key RunTask lacks
                             "Condition": {"StringEquals": {"iam:PolicyARN": EXECUTION_POLICY}}})
    assert [f for f in analyze_policy_string(json.dumps(bad)).findings
            if enhance_finding(f).severity not in ("LOW", "INFO")]


# -- the Athena path (CUR 2.0 queries on AWS) -----------------------------------------------------------------------
# What Athena needs of its caller: the Athena actions on the workgroup, the Glue Data Catalog's database and table
# (GetDatabase, GetTable, GetPartitions), reading the data's bucket and writing the query results' location
# (https://docs.aws.amazon.com/athena/latest/ug/access.html; the S3 actions of the results location:
# https://repost.aws/knowledge-center/athena-access-iam). Glue's ARNs:
# https://docs.aws.amazon.com/glue/latest/dg/glue-specifying-resource-arns.html (catalog, database, table).

WORKGROUPS = ["arn:aws:athena:*:*:workgroup/primary", "arn:aws:athena:*:*:workgroup/fargate-lab-*"]
CUR_BUCKET, RESULTS_BUCKET = "arn:aws:s3:::fargate-lab-cur*", "arn:aws:s3:::fargate-lab-athena-*"
S3_WRITES = {"s3:PutObject", "s3:AbortMultipartUpload"}


def athena_path_calls(tmp_path) -> set[str]:
    """The IAM actions the Athena path makes, recorded (helpers.calls.record_calls) against moto's Athena: a ready-made
    query answered, and a query still queued when the wait runs out, which is stopped."""
    import boto3
    from moto import mock_aws
    from moto.athena.models import QueryResults, athena_backends
    from moto.moto_api import state_manager

    from helpers import calls, cur
    from helpers.errors import QueryFailed

    record = tmp_path / "athena-calls.txt"
    settings = dict(database="fargate_lab_cur", table="cur2", output_location="s3://fargate-lab-athena-results/q/")
    with mock_aws():
        session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")
        calls.record_calls(session, record)
        columns = [{"Name": "task_arn", "Type": "varchar"}, {"Name": "split_cost_usd", "Type": "double"}]
        rows = [{"Data": [{"VarCharValue": "task_arn"}, {"VarCharValue": "split_cost_usd"}]},
                {"Data": [{"VarCharValue": "arn:aws:ecs:us-east-1:123456789012:task/c/1"}, {"VarCharValue": "0.5"}]}]
        athena_backends["123456789012"]["us-east-1"].query_results_queue.append(
            QueryResults(rows=rows, column_info=columns))
        answered = cur.ready(session, "cost_per_task", since=datetime(2026, 11, 1, tzinfo=UTC),
                             until=datetime(2026, 12, 1, tzinfo=UTC), **settings)
        assert list(answered["split_cost_usd"]) == [0.5]
        state_manager.set_transition(model_name="athena::execution", transition={"progression": "manual", "times": 99})
        try:
            with pytest.raises(QueryFailed, match="stopped"):
                cur.query(session, "SELECT count(*) FROM {cur}", max_wait_seconds=0, **settings)
        finally:
            state_manager.unset_transition("athena::execution")
    return calls.recorded_actions(record)


def test_the_policy_grants_exactly_the_calls_of_the_athena_path(tmp_path):
    from helpers import calls

    made = athena_path_calls(tmp_path)
    assert made == {"athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults",
                    "athena:StopQueryExecution"}
    assert made == calls.on_aws_actions(implied=False)  # granted, and nothing the path never calls
    implied = calls.on_aws_actions(implied=True)
    assert {"glue:GetDatabase", "glue:GetTable", "glue:GetPartitions", "s3:GetObject", "s3:ListBucket",
            "s3:PutObject", "s3:GetBucketLocation"} <= implied
    assert {a for a in implied if not calls.IMPLIED_BY.get(a, set()) & made} == set()  # each one needed by a call
    assert made | implied <= calls.policy_actions()


def scope_problems(document: dict) -> list[str]:
    """Where an Allow statement gives Athena, Glue or S3 more than the Athena path needs: another workgroup, a Glue
    write, an S3 write outside the results location, a delete, anything on every resource."""
    problems = []
    for statement in _list(document["Statement"]):
        if statement.get("Effect") != "Allow":
            continue
        sid, resources = statement.get("Sid", "?"), _list(statement.get("Resource", []))
        actions = [a for a in _list(statement.get("Action", [])) if a.split(":")[0] in ("athena", "glue", "s3")]
        if not actions or sid.startswith("Runbook"):  # the runner's: runbook_scope_problems
            continue
        if "*" in resources:
            problems.append(f"{sid}: {actions} on every resource")
        for action in actions:
            service, name = action.split(":", 1)
            if "*" in name:
                problems.append(f"{sid}: the wildcard action {action}")
            if service == "athena" and any(r not in WORKGROUPS for r in resources):
                problems.append(f"{sid}: {action} on {resources}, not only the workgroups {WORKGROUPS}")
            if service == "glue" and not name.startswith("Get"):
                problems.append(f"{sid}: {action} changes the Glue Data Catalog")
            if service == "s3" and (name.startswith("Delete") or name.startswith("Put")) and action not in S3_WRITES:
                problems.append(f"{sid}: {action}")
            if action in S3_WRITES and any(r != f"{RESULTS_BUCKET}/*" for r in resources):
                problems.append(f"{sid}: {action} on {resources}, not only the query results ({RESULTS_BUCKET}/*)")
            if service == "s3" and any(not (r.startswith(CUR_BUCKET) or r.startswith(RESULTS_BUCKET))
                                       for r in resources):
                problems.append(f"{sid}: {action} on {resources}, not only the CUR and results buckets")
    return problems


def runbook_scope_problems(document: dict) -> list[str]:
    """Where a Runbook statement reaches beyond the runbook buckets (objects only under runs/) or the runner's role."""
    problems = []
    for statement in _list(document["Statement"]):
        sid = statement.get("Sid", "")
        if not sid.startswith("Runbook") or statement.get("Effect") != "Allow":
            continue
        for action in _list(statement.get("Action", [])):
            service, resources = action.split(":")[0], _list(statement.get("Resource", []))
            allowed = {"s3": [RUNBOOK_BUCKETS, f"{RUNBOOK_BUCKETS}/runs/*"], "iam": [RUNBOOK_ROLE]}.get(service, [])
            if action in ("s3:DeleteObject", "s3:DeleteObjectVersion"):  # cleanup empties the bucket before deleting it
                allowed = [f"{RUNBOOK_BUCKETS}/*"]
            if action == "s3:ListAllMyBuckets":  # no resource-level control: cleanup filters by name and tags
                allowed = ["*"]
            if "*" in action or any(r not in allowed for r in resources):
                problems.append(f"{sid}: {action} on {resources}")
            if action in ("s3:GetObject", "s3:PutObject") and resources != [f"{RUNBOOK_BUCKETS}/runs/*"]:
                problems.append(f"{sid}: {action} on {resources}, not only the run notebooks")
    return problems


RUNBOOK_WIDENINGS = {
    "any bucket": lambda d: _on_aws(d, "RunbookBucketsOnlyTheLabsRunbookBuckets").update(Resource="*"),
    "any object": lambda d: _on_aws(d, "RunbookNotebooksOnlyUnderRuns").update(Resource=f"{RUNBOOK_BUCKETS}/*"),
    "s3:*": lambda d: _on_aws(d, "RunbookNotebooksOnlyUnderRuns").update(Action=["s3:*"]),
    "pass any role": lambda d: _on_aws(d, "RunbookImpliedPassTheTaskRoleToEcs").update(Resource=LAB_ROLES),
    "delete any bucket": lambda d: _on_aws(d, "RunbookCleanupOnlyTheRunbookBuckets").update(Resource="*"),
    "delete any object": lambda d: _on_aws(d, "RunbookCleanupTheirObjects").update(Resource="arn:aws:s3:::*/*"),
}


def test_the_runbook_statements_are_scoped():
    assert runbook_scope_problems(policy()) == []


@pytest.mark.parametrize("change", RUNBOOK_WIDENINGS.values(), ids=RUNBOOK_WIDENINGS.keys())
def test_the_runbook_scope_check_catches_each_widening(change):
    document = copy.deepcopy(policy())
    change(document)
    assert runbook_scope_problems(document) or escalation_problems(document)


def test_the_athena_statements_are_scoped():
    assert scope_problems(policy()) == []
    assert escalation_problems(policy()) == []


def _on_aws(document: dict, sid: str) -> dict:
    return next(s for s in document["Statement"] if s.get("Sid") == sid)


WIDENINGS = {
    "any workgroup": lambda d: _on_aws(d, "OnAwsCurQueriesInTheWorkgroup").update(Resource="*"),
    "athena:*": lambda d: _on_aws(d, "OnAwsCurQueriesInTheWorkgroup").update(Action=["athena:*"]),
    "write the CUR export": lambda d: _on_aws(d, "OnAwsImpliedReadTheCurExport")["Action"].append("s3:PutObject"),
    "write any bucket": lambda d: _on_aws(d, "OnAwsImpliedWriteTheQueryResults").update(Resource="arn:aws:s3:::*/*"),
    "delete objects": lambda d: _on_aws(d, "OnAwsImpliedWriteTheQueryResults")["Action"].append("s3:DeleteObject"),
    "change the catalog": lambda d: _on_aws(d, "OnAwsImpliedReadTheCurTable")["Action"].append("glue:DeleteTable"),
    "read every bucket": lambda d: _on_aws(d, "OnAwsImpliedReadTheCurExport").update(Resource="arn:aws:s3:::*/*"),
    "a bucket policy": lambda d: _on_aws(d, "OnAwsImpliedFindTheBuckets")["Action"].append("s3:PutBucketPolicy"),
}


@pytest.mark.parametrize("change", WIDENINGS.values(), ids=WIDENINGS.keys())
def test_the_scope_check_catches_each_widening(change):
    document = copy.deepcopy(policy())
    change(document)
    assert scope_problems(document), "the check would not notice this widening"
