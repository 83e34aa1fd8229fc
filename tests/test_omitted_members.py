"""Members AWS omits are absent from the wire, not null (emulator/fidelity/omitted_members.py).

botocore drops a null member when it parses, so each test reads the raw body of the answer a real client got.
SecretListEntry: https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_SecretListEntry.html
Rule (ListRules): https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_Rule.html
FilterLogEvents: https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_FilterLogEvents.html
"""

from __future__ import annotations

import json
import time

import pytest
from botocore import xform_name

from helpers import local
from tests.backends import lab_session


@pytest.fixture
def session(simulated_backend):
    local.reset(simulated_backend.port)
    yield lab_session(simulated_backend)
    local.reset(simulated_backend.port)


def _raw(client, operation: str, **params) -> dict:
    """The JSON body of ``operation``'s answer as it came over the wire."""
    bodies: list[bytes] = []
    client.meta.events.register(f"after-call.*.{operation}",
                                lambda http_response, **_: bodies.append(http_response.content))
    getattr(client, xform_name(operation))(**params)
    return json.loads(bodies[-1])


def test_list_secrets_omits_what_does_not_apply_and_has_only_documented_members(session):
    secrets = session.client("secretsmanager")
    secrets.create_secret(Name="omitted/one", SecretString="s3cret")
    (entry,) = _raw(secrets, "ListSecrets")["SecretList"]
    assert None not in entry.values(), entry
    for absent in ("LastAccessedDate", "DeletedDate", "KmsKeyId", "NextRotationDate", "VersionIdsToStages"):
        assert absent not in entry, absent
    assert entry["Name"] == "omitted/one" and list(entry["SecretVersionsToStages"].values()) == [["AWSCURRENT"]]


def test_list_rules_answers_the_rule_shape_without_created_by(session):
    events = session.client("events")
    events.put_rule(Name="omitted-rule", EventPattern=json.dumps({"source": ["aws.ecs"]}))
    (rule,) = _raw(events, "ListRules")["Rules"]
    assert "CreatedBy" not in rule and None not in rule.values(), rule
    assert (rule["Name"], rule["State"]) == ("omitted-rule", "ENABLED")
    assert events.describe_rule(Name="omitted-rule")["CreatedBy"]  # DescribeRule's answer does have it


def test_filter_log_events_last_page_has_no_next_token(session):
    logs = session.client("logs")
    logs.create_log_group(logGroupName="omitted")
    logs.create_log_stream(logGroupName="omitted", logStreamName="s")
    logs.put_log_events(logGroupName="omitted", logStreamName="s",
                        logEvents=[{"timestamp": int(time.time() * 1000), "message": "one line"}])
    answer = _raw(logs, "FilterLogEvents", logGroupName="omitted")
    assert "nextToken" not in answer, answer
    assert [e["message"] for e in answer["events"]] == ["one line"]
