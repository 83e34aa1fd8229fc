"""DescribeTasks in a few milliseconds: each task is serialized by moto's own serializer once per state of it.

moto 5.2.5 serializes every answer by walking botocore's output shape member by member, looking each one up on
the model object under several aliases: about a millisecond per task, so a DescribeTasks of 100 tasks took most
of 100 ms, and an inventory of 2,000 tasks seconds, where AWS answers in milliseconds. The answer is the same
here; what changes is when it is computed. Each task's serialized form is kept in ``AnswerCache``, owned by the
ECS backend and keyed by task ARN, beside moto's task (nothing is added to moto's objects). An entry holds while
the task's ``fingerprint`` (every plain value of the task and of its containers, whoever wrote it: moto or the
emulator) and the variant asked for (tags or not) are unchanged: a few microseconds to compute, where
serializing takes a millisecond.

moto also runs a regular expression for an XML ``<RequestId>`` over every answer's body; ECS answers JSON, so
that scan of a 100-task answer is skipped.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from moto.core.responses import ActionResult

#: Values compared as they are; lists and dicts are compared by their text; other objects (moto's backend) are
#: not part of an answer.
_PLAIN = (str, int, float, bool, type(None), datetime)
_CONTAINERS = "containers"
#: moto's ManagedState bookkeeping: how often a task was described, not what it shows.
_BOOKKEEPING = frozenset({"_tick", "_time_progressed", "_transitions"})


def _values(obj: Any) -> tuple:
    """The plain data of one model object (its instance attributes as stored, no property is run)."""
    out = []
    for name, value in vars(obj).items():
        if name in _BOOKKEEPING:
            continue
        if isinstance(value, _PLAIN):
            out.append((name, value))
        elif isinstance(value, (list, dict, tuple)):
            out.append((name, repr(value)))
    return tuple(out)


def fingerprint(task: Any) -> tuple:
    """What changes whenever anything an answer can show of ``task`` does."""
    containers = vars(task).get(_CONTAINERS) or []
    return _values(task), tuple(_values(c) for c in containers)


class AnswerCache:
    """Each task's serialized answer by task ARN, with the fingerprint and variant it was made from.

    A dict's single reads and writes are atomic, so no lock; saved empty (``pickle``): it is derived data.
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[tuple, str]] = {}

    def get(self, arn: str, key: tuple) -> str | None:
        entry = self._entries.get(arn)
        return entry[1] if entry is not None and entry[0] == key else None

    def put(self, arn: str, key: tuple, wire: str) -> None:
        self._entries[arn] = (key, wire)

    def forget(self, arn: str) -> None:
        """Drop a task's entry (the task left ECS)."""
        self._entries.pop(arn, None)

    def __len__(self) -> int:
        return len(self._entries)

    def __getstate__(self) -> dict:
        """Saved with the ECS backend (emulator/persistence.py) as empty: derived data."""
        return {}

    def __setstate__(self, state: dict) -> None:
        self.__init__()


class TasksAnswer(ActionResult):
    """``{"tasks": [...], "failures": [...]}`` whose tasks come serialized from their cache where it holds."""

    def __init__(self, result: dict, variant: object, cache: AnswerCache) -> None:
        super().__init__(result)
        self.variant = variant  # what else shapes a task's answer (whether its tags are included)
        self.cache = cache

    def execute_result(self, context: Any) -> Any:
        tasks = list(self.result["tasks"])
        keys = [(self.variant, fingerprint(task)) for task in tasks]
        wires = [self.cache.get(task.task_arn, key) for task, key in zip(tasks, keys, strict=True)]
        stale = [i for i, wire in enumerate(wires) if wire is None]
        if stale:
            _, _, body = ActionResult({"tasks": [tasks[i] for i in stale], "failures": []}).execute_result(context)
            for i, wire in zip(stale, json.loads(body)["tasks"], strict=True):
                wires[i] = json.dumps(wire)
                self.cache.put(tasks[i].task_arn, keys[i], wires[i])
        status, headers, body = ActionResult({**self.result, "tasks": []}).execute_result(context)
        rest = json.loads(body)
        rest.pop("tasks", None)
        parts = [f'"tasks": [{", ".join(wires)}]']
        parts += [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in rest.items()]
        headers = {k: v for k, v in headers.items() if k.lower() != "content-length"}
        return status, headers, "{" + ", ".join(parts) + "}"


def enrich_response(headers: dict, body: Any) -> tuple[dict, Any]:
    from moto.core.responses import BaseResponse

    if isinstance(body, str) and "<RequestId>" not in body:  # JSON: moto's XML substitution has nothing to do
        headers, _ = BaseResponse._enrich_response(headers, "")
        return headers, body
    return BaseResponse._enrich_response(headers, body)


def cached_answer(answer: Any, include_tags: bool, cache: AnswerCache) -> Any:
    """moto's DescribeTasks answer, as one whose tasks come from ``cache`` (``TasksResponse.describe_tasks``)."""
    if not isinstance(answer, ActionResult) or not isinstance(answer.result, dict):
        return answer
    return TasksAnswer(answer.result, include_tags, cache)
