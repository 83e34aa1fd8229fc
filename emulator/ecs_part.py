"""The ECS part of the state, pickled task by task: a changing call pays for what changed, not for the fleet.

Pickled whole, the ECS part cost every changing call (twice: the rollback's snapshot, then the write) time in
proportion to the tasks it holds: creating 2,000 tasks 10 at a time took 10 times longer than without
persistence. Each task the emulator launched (its ``Launched`` record, moto's task and containers inside) is now
pickled on its own, and those bytes are kept until the task changes; the rest of the part (clusters, task
definitions, services, the emulator's records) is pickled each time with a reference in place of each task.

When a task's bytes are pickled again: a new task; a record that is not the object they were pickled from (loaded,
rolled back); a task ``ecs.changed`` names (its state synced from the executor, a stop asked for); every task after
an ECS request other than those that only add tasks or definitions (``ADD_ONLY``); and every task once in a while
(``refresh``: the background flush's safety net for a change made without a mark).
"""

from __future__ import annotations

import io
import pickle
from typing import Any

#: ECS requests that change no task that exists: a task they did not make keeps its bytes.
ADD_ONLY = frozenset({"RunTask", "StartTask", "RegisterTaskDefinition", "CreateCluster", "CreateService",
                      "PutAccountSetting", "PutAccountSettingDefault", "CreateCapacityProvider"})

_cache: dict[str, tuple[Any, bytes]] = {}  # task id -> (its Launched record, that record pickled)


def refresh() -> None:
    """Pickle every task again at the next dump."""
    _cache.clear()


class _Backend:
    """Where a loaded task's ``_backend`` (moto's task keeps its ECS backend) goes, until that backend is loaded."""

    def __init__(self, account: str, region: str) -> None:
        self.account, self.region = account, region


_loading: dict[str, Any] = {}  # task id -> its record, while ``load`` unpickles the rest of the part


def _reference(kind: str, task_id: str) -> Any:
    """A task or record the rest of the part refers to (called by pickle at load)."""
    if kind == "backend":
        return _Backend(*task_id.split("/", 1))
    record = _loading[task_id]
    return record if kind == "record" else record.task


class _Pickler(pickle.Pickler):
    """Pickles each object of ``references`` (by id) as a reference to it; ``reducer_override``, which pickle calls
    for instances only (not for the str, int, dict, list... that make most of the part), keeps that cheap."""

    def __init__(self, buffer: io.BytesIO, dispatch: dict, references: dict[int, tuple]) -> None:
        super().__init__(buffer, protocol=pickle.HIGHEST_PROTOCOL)
        self.dispatch_table = dispatch
        self.references = references

    def reducer_override(self, value: Any) -> Any:
        found = self.references.get(id(value))
        return NotImplemented if found is None else (_reference, found)


def _pickle_with(dispatch: dict, value: Any, references: dict[int, tuple]) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer, dispatch, references).dump(value)
    return buffer.getvalue()


def _units(dispatch: dict, part: dict) -> dict[str, bytes]:
    from emulator.fidelity import ecs

    backends = {id(backend): ("backend", f"{account}/{region}")
                for account, regions in part["backends"].items() for region, backend in regions.items()}
    changed = set(ecs.CHANGED)
    ecs.CHANGED.difference_update(changed)
    units = {}
    for task_id, record in list(ecs.LAUNCHED.items()):
        cached = _cache.get(task_id)
        if cached is None or cached[0] is not record or task_id in changed:
            cached = _cache[task_id] = (record, _pickle_with(dispatch, record, backends))
        units[task_id] = cached[1]
    for gone in _cache.keys() - units.keys():
        del _cache[gone]
    return units


def dump(part: dict, dispatch: dict) -> bytes:
    """``part`` ({"backends": ..., "extra": ...}) pickled, each launched task by reference to its own bytes;
    ``dispatch``: the persistence's reducers for moto's objects."""
    from emulator.fidelity import ecs

    units = _units(dispatch, part)
    references: dict[int, tuple] = {}
    for task_id, record in ecs.LAUNCHED.items():
        references[id(record)] = ("record", task_id)
        references[id(record.task)] = ("task", task_id)
    rest = _pickle_with(dispatch, part, references)
    return pickle.dumps({"tasks": units, "rest": rest}, protocol=pickle.HIGHEST_PROTOCOL)


def load(payload: bytes) -> dict:
    """The part ``dump`` pickled, its tasks the same objects wherever they are referenced; their bytes kept."""
    saved = pickle.loads(payload)
    if "rest" not in saved:  # format 2: the part pickled whole
        _cache.clear()
        return saved
    records = {task_id: pickle.loads(data) for task_id, data in saved["tasks"].items()}
    _loading.update(records)
    try:
        part = pickle.loads(saved["rest"])
    finally:
        _loading.clear()
    for record in records.values():
        kept = getattr(record.task, "_backend", None)
        if isinstance(kept, _Backend):
            record.task._backend = part["backends"][kept.account][kept.region]
    _cache.clear()
    _cache.update({task_id: (records[task_id], data) for task_id, data in saved["tasks"].items()})
    return part
