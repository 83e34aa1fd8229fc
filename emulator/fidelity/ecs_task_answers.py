"""DescribeTasks in a few milliseconds: each task is serialized by moto's own serializer once per state of it.

moto 5.2.5 serializes every answer by walking botocore's output shape member by member, looking each one up on
the model object under several aliases: about a millisecond per task, so a DescribeTasks of 100 tasks took most
of 100 ms, and an inventory of 2,000 tasks seconds, where AWS answers in milliseconds. The answer is the same
here; what changes is when it is computed. A task, and each of its containers, counts the writes that change one
of its attributes; a task's serialized form is kept beside it, keyed by those counts, by the text of the lists
an answer shows and that could change in place (tags, attachments), and by whether tags were asked for. It is
serialized again as soon as anything in it changes, and never otherwise.

moto also runs a regular expression for an XML ``<RequestId>`` over every answer's body; ECS answers JSON, so
that scan of a 100-task answer is skipped.
"""

from __future__ import annotations

import json
from typing import Any

from moto.core.responses import ActionResult

_MISSING = object()
_COUNTER = "_lab_changes"


def _counting_setattr(cls: type) -> None:
    """Make ``cls`` count the writes that change an attribute (a write of the same value is not a change)."""
    original = cls.__setattr__

    def __setattr__(self: Any, name: str, value: Any) -> None:
        if name != "_lab_wire":
            old = self.__dict__.get(name, _MISSING)
            if old is not value and (old is _MISSING or type(old) is not type(value) or old != value):
                self.__dict__[_COUNTER] = self.__dict__.get(_COUNTER, 0) + 1
        original(self, name, value)

    cls.__setattr__ = __setattr__


def fingerprint(task: Any) -> tuple:
    """What changes whenever anything an answer can show of ``task`` does."""
    containers = getattr(task, "containers", None) or []
    return (task.__dict__.get(_COUNTER, 0), tuple(c.__dict__.get(_COUNTER, 0) for c in containers),
            repr(getattr(task, "tags", None)), repr(getattr(task, "attachments", None)))


class TasksAnswer(ActionResult):
    """``{"tasks": [...], "failures": [...]}`` whose tasks come serialized from their cache where it holds."""

    def __init__(self, result: dict, variant: object) -> None:
        super().__init__(result)
        self.variant = variant  # what else shapes a task's answer (whether its tags are included)

    def execute_result(self, context: Any) -> Any:
        tasks = list(self.result["tasks"])
        keys = [(self.variant, fingerprint(task)) for task in tasks]
        stale = [(task, key) for task, key in zip(tasks, keys, strict=True)
                 if task.__dict__.get("_lab_wire", (None, None))[0] != key]
        if stale:
            _, _, body = ActionResult({"tasks": [t for t, _ in stale], "failures": []}).execute_result(context)
            for (task, key), wire in zip(stale, json.loads(body)["tasks"], strict=True):
                task.__dict__["_lab_wire"] = (key, json.dumps(wire))
        status, headers, body = ActionResult({**self.result, "tasks": []}).execute_result(context)
        rest = json.loads(body)
        rest.pop("tasks", None)
        parts = [f'"tasks": [{", ".join(task.__dict__["_lab_wire"][1] for task in tasks)}]']
        parts += [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in rest.items()]
        headers = {k: v for k, v in headers.items() if k.lower() != "content-length"}
        return status, headers, "{" + ", ".join(parts) + "}"


def enrich_response(headers: dict, body: Any) -> tuple[dict, Any]:
    from moto.core.responses import BaseResponse

    if isinstance(body, str) and "<RequestId>" not in body:  # JSON: moto's XML substitution has nothing to do
        headers, _ = BaseResponse._enrich_response(headers, "")
        return headers, body
    return BaseResponse._enrich_response(headers, body)


def cached_answer(answer: Any, include_tags: bool) -> Any:
    """moto's DescribeTasks answer, as one whose tasks come from their cache (``TasksResponse.describe_tasks``)."""
    if not isinstance(answer, ActionResult) or not isinstance(answer.result, dict):
        return answer
    return TasksAnswer(answer.result, include_tags)


def count_changes() -> None:
    """A model patch (``emulator.extensions``): tasks and containers count the writes that change them."""
    from moto.ecs import models

    from emulator.fidelity.ecs import LabContainer

    for cls in (models.Task, models.Container, LabContainer):
        _counting_setattr(cls)
