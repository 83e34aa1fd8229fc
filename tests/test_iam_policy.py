"""The lab's IAM policy grants no way to an admin role: parliament finds nothing above LOW, and no Allow statement
lets its holder create or pass an arbitrary role or attach an arbitrary policy.

The escalation it closes: ``iam:CreateRole`` + ``iam:AttachRolePolicy`` (AdministratorAccess) + ``iam:PassRole`` to a
task. Condition keys: https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsidentityandaccessmanagementiam.html
(``iam:PolicyARN``, ``iam:PassedToService``, ``aws:RequestTag``).
"""

from __future__ import annotations

import copy
import json
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

POLICY = Path(__file__).resolve().parent.parent / "iam" / "fargate-lab-policy.json"
LAB_ROLES = "arn:aws:iam::*:role/fargate-lab-*"
EXECUTION_ROLE = "arn:aws:iam::*:role/fargate-lab-task-execution"
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
            if _grants(statement, action) and any(r != LAB_ROLES and r != EXECUTION_ROLE for r in resources):
                problems.append(f"{sid}: {action} on {resources}, not only the suite's roles ({LAB_ROLES})")
        if _grants(statement, "iam:AttachRolePolicy") and _condition(
                statement, ("ArnEquals", "StringEquals"), "iam:PolicyARN") != [EXECUTION_POLICY]:
            problems.append(f"{sid}: iam:AttachRolePolicy of any policy, not only {EXECUTION_POLICY}")
        if _grants(statement, "iam:PassRole"):
            if resources != [EXECUTION_ROLE]:
                problems.append(f"{sid}: iam:PassRole of {resources}, not only {EXECUTION_ROLE}")
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
