"""The response-shape check (emulator/shapes.py) names the operation and member of each mismatch with botocore's
model; the embedded backend's JSON answers leave out members without a value, as AWS's JSON protocol does
(https://smithy.io/2.0/aws/protocols/aws-json-1_1-protocol.html: null values are omitted)."""

from __future__ import annotations

import json

from emulator.faults import Call
from emulator.json_answers import without_nulls
from emulator.shapes import check_answer

ECS = Call("ecs", "DescribeTasks", "json", 1)


def test_a_good_answer_has_no_mismatch():
    body = json.dumps({"tasks": [{"taskArn": "arn:aws:ecs:us-east-1:1:task/c/1", "lastStatus": "RUNNING",
                                  "launchType": "FARGATE", "cpu": "256"}], "failures": []}).encode()
    assert check_answer(ECS, 200, {}, body) == []


def test_names_an_unknown_member_a_bad_enum_a_wrong_type_and_a_missing_required_member():
    body = json.dumps({"tasks": [{"launchType": "FARGATTE", "cpu": 256, "stopped_code": "x"}]}).encode()
    problems = check_answer(ECS, 200, {}, body)
    assert any(p.startswith("tasks[0].launchType: 'FARGATTE' is not one of") for p in problems)
    assert any(p.startswith("tasks[0].cpu: int") for p in problems)
    assert any(p.startswith("tasks[0].stopped_code: not a member of Task") for p in problems)
    listed = check_answer(Call("ecr", "ListImages", "json", 1), 200, {}, b'{"imageIds": [{"imageTag": null}]}')
    assert listed == ["imageIds[0].imageTag: null where botocore expects string"]
    required = check_answer(Call("ecr", "GetAuthorizationToken", "json", 1), 200, {}, b"{}")
    assert required == []  # nothing required there; a structure with required members:
    secret = check_answer(Call("secretsmanager", "GetRandomPassword", "json", 1), 200, {}, b'{"RandomPassword": 1}')
    assert secret == ["RandomPassword: int 1 where botocore expects a string"]


def test_errors_and_unknown_operations_are_not_checked():
    assert check_answer(ECS, 400, {}, b'{"__type": "ClientException"}') == []
    assert check_answer(Call("ecs", "NoSuchOperation", "json", 1), 200, {}, b"{}") == []


def test_query_answers_are_checked_as_botocore_parses_them():
    body = (b'<DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><vpcSet><item>'
            b"<vpcId>vpc-1</vpcId><state>melting</state></item></vpcSet></DescribeVpcsResponse>")
    problems = check_answer(Call("ec2", "DescribeVpcs", "ec2", 1), 200, {}, body)
    assert problems and problems[0].startswith("Vpcs[0].State: 'melting' is not one of")


def test_nulls_are_left_out():
    assert without_nulls({"a": None, "b": [{"c": None, "d": 1}], "e": {"f": None}}) == {"b": [{"d": 1}], "e": {}}
