"""Members AWS leaves out of an answer, which moto 5.2.5 sends as null or adds beside the documented ones.

- Secrets Manager ListSecrets: a ``SecretListEntry`` omits what does not apply (``LastAccessedDate`` "is omitted
  if the secret has never been retrieved", ``KmsKeyId`` for the AWS managed key, ``DeletedDate`` on an active
  secret; https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_SecretListEntry.html) and has no
  ``VersionIdsToStages`` (moto's copy of ``SecretVersionsToStages``).
- EventBridge ListRules: a ``Rule`` has no ``CreatedBy`` (DescribeRule's answer has it;
  https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_Rule.html).
- CloudWatch Logs FilterLogEvents: no ``nextToken`` when pagination is finished
  (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_FilterLogEvents.html).

Each is a responses subclass (``emulator.extensions``) that calls moto and drops those members from its JSON.
"""

from __future__ import annotations

import json
from typing import Any

from moto.events.responses import EventsHandler
from moto.logs.responses import LogsResponse
from moto.secretsmanager.responses import SecretsManagerResponse

#: Members of a SecretListEntry that are not in the API's shape.
_NOT_SECRET_LIST_ENTRY = ("VersionIdsToStages",)
#: Members of ListRules' Rule that are not in the API's shape.
_NOT_RULE = ("CreatedBy",)


def _without_nulls(item: dict) -> dict:
    return {key: value for key, value in item.items() if value is not None}


def _body(answer: Any) -> tuple[dict, Any]:
    """moto's answer as a dict, and how to put a body back into its form (a string, or (string, headers))."""
    if isinstance(answer, tuple):
        body, *rest = answer
        return json.loads(body), lambda data: (json.dumps(data), *rest)
    return json.loads(answer), json.dumps


class SecretsResponse(SecretsManagerResponse):
    """ListSecrets' entries without null or undocumented members."""

    def list_secrets(self) -> Any:
        data, back = _body(super().list_secrets())
        data["SecretList"] = [{k: v for k, v in _without_nulls(entry).items() if k not in _NOT_SECRET_LIST_ENTRY}
                              for entry in data.get("SecretList") or []]
        return back(_without_nulls(data))


class EventsResponse(EventsHandler):
    """ListRules' rules as the Rule shape: no CreatedBy, no nulls."""

    def list_rules(self) -> Any:
        data, back = _body(super().list_rules())
        data["Rules"] = [{k: v for k, v in _without_nulls(rule).items() if k not in _NOT_RULE}
                         for rule in data.get("Rules") or []]
        return back(_without_nulls(data))


class LogsAnswers(LogsResponse):
    """FilterLogEvents without a null ``nextToken`` on its last page."""

    def filter_log_events(self) -> Any:
        data, back = _body(super().filter_log_events())
        return back(_without_nulls(data))
