"""What the embedded backend holds survives ``stop``/``start``, a crash (``kill -9``) and a reboot.

The state is moto's backends, one part per moto service in use (``ecs``, ``ecr``, ``logs``, ...), each pickled
with the emulator's own records that sit beside that service's objects (the ECS part carries the tasks the
emulator launched, the services its scheduler runs, client tokens, event versions and the billing record; the
ECR part the push scans, the images' last pulls and the registry's password; the ECS part is pickled task by task,
``emulator.ecs_part``, so a call pays for the tasks it changed, not for all), plus a ``lab`` part (the clock). ``emulator.state_store``
writes each part atomically in ``state-PORT/`` of the state directory.

When it is written: ``wrap`` sits in front of the app and, after every request that may change something (any
action not named Describe/List/Get/..., a registry push, a clock change), pickles the parts that request's
service touches and writes those whose bytes changed, before the answer leaves. Such requests run one at a time,
each with a snapshot of those parts taken first: a write that fails (a full disk) puts memory back to the
snapshot and the disk's files back to their previous generation, and turns the answer into 503
``ServiceUnavailable``, so nothing is acknowledged, or half-done, that was not kept. What changes without a
request (task states, container log lines, the scheduler's work, CUR exports) is written by a background flush
every ``FLUSH_SECONDS`` while anything runs, and once more at shutdown.

At start, ``start`` loads the parts (refusing another format, skipping a damaged file for its previous
generation) and ``emulator.reconcile`` settles what was running. ``FARGATE_LAB_PERSIST=0`` turns all of it
off (the benchmark's baseline): nothing is read or written, and the blob store is deleted at shutdown as before.
"""

from __future__ import annotations

import copyreg
import functools
import hashlib
import io
import logging
import pickle
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from emulator import CLOCK_PATH, clock, ecs_part, settings
from emulator.state_store import StateError, Store

log = logging.getLogger("emulator.persistence")

#: Seconds between two background flushes (real time: how often to look, not a reading of the clock).
FLUSH_SECONDS = 1.0
#: Every this many background flushes, every task of the ECS part is pickled again (``emulator.ecs_part``).
REFRESH_PASSES = 10
#: Actions of these prefixes only read (DescribeTasks' own bookkeeping is left to the background flush).
READ_PREFIXES = ("Describe", "List", "Get", "BatchGet", "Filter", "Search", "Lookup", "Simulate")
#: Services whose objects change without a request to them: task states, container logs, CUR files in S3.
BACKGROUND = ("ecs", "logs", "s3")
#: A request to the first service also changes these (RunTask creates log groups; a stop writes the CUR file).
ALSO = {"ecs": ("logs", "s3")}
#: Signing names that are not moto's service name.
SERVICE_NAMES = {"monitoring": "cloudwatch", "elasticloadbalancing": "elbv2"}
LAB = "lab"
ALL = "*"
OPTIONAL = "+"  # a part written only when its service is in use
#: The error code of a change that could not be kept (AWS's for a service that cannot take a request now).
UNAVAILABLE = "ServiceUnavailable"

_state: dict[str, Any] = {}
_write_lock = threading.RLock()
_last: dict[str, str] = {}  # part -> sha256 of what is on disk
_stop = threading.Event()


def enabled() -> bool:
    return bool(_state.get("store"))


def directory(config: settings.Settings) -> Path:
    return config.state_path() / f"state-{config.port}"


# -- the parts --------------------------------------------------------------------------------------------


def _backend_dicts() -> dict[str, Any]:
    """Every moto BackendDict in use (moto lists them once they hold an account), by service name."""
    from moto.core.base_backend import BackendDict

    return {bd.service_name: bd for bd in list(BackendDict._instances)}


def _extras() -> dict[str, tuple[Callable[[], Any], Callable[[Any], None]]]:
    """The emulator's records kept with a service's objects: (what to save, how to put it back)."""
    from emulator import cur_export, ecs_events, elbv2
    from emulator.fidelity import ecr, ecs, ecs_fields, services

    ecs_records = {"launched": ecs.LAUNCHED, "tokens": ecs._tokens, "scheduled": services.SCHEDULED,
                   "runs": services._runs, "versions": ecs_events.VERSIONS, "cur": cur_export._record,
                   "digests": ecs_fields._digests}

    def load_ecs(saved: dict) -> None:
        for key, target in ecs_records.items():
            target.clear()
            target.update(saved.get(key) or {})

    def dump_ecr() -> dict:
        return {"push_scans": ecr._push_scans, "password": ecr.password(), "pulls": ecs_fields._pulls}

    def load_ecr(saved: dict) -> None:
        ecr._push_scans.update(saved.get("push_scans") or {})
        ecs_fields._pulls.update(saved.get("pulls") or {})
        if saved.get("password") and not settings.current().ecr_password:
            ecr._password["value"] = saved["password"]  # tokens given before the restart stay valid

    return {"ecs": (lambda: ecs_records, load_ecs), "ecr": (dump_ecr, load_ecr),
            "elbv2": (elbv2.dump_records, elbv2.load_records)}


def _dump_lab() -> bytes:
    if clock.CLOCK.mode == "manual":
        saved = {"mode": "manual", "at": clock.CLOCK.time()}
    else:
        saved = {"mode": "real", "ahead": round(clock.CLOCK.ahead, 3)}  # stable bytes: not rewritten while idle
    return pickle.dumps(saved)


def _load_lab(saved: dict) -> None:
    """The clock runs on from where it stood: never backwards, still manual if it was."""
    if saved.get("mode") == "manual":
        behind = saved["at"] - clock.CLOCK.time()
        clock.CLOCK.advance(max(0.0, behind))
        clock.CLOCK.set_mode("manual")
    elif saved.get("ahead", 0) > 0:
        clock.CLOCK.advance(saved["ahead"])


def _factory(sample: Any) -> Any:
    """A picklable default factory that makes what ``sample`` is: moto builds some defaultdicts with a lambda."""
    if isinstance(sample, defaultdict):
        inner = sample.default_factory
        if getattr(inner, "__name__", "") == "<lambda>":
            inner = _factory(inner())
        return functools.partial(defaultdict, inner)
    if type(sample) in (dict, list, set, int, float, str):
        return type(sample)
    raise pickle.PicklingError(f"a defaultdict whose factory makes {type(sample).__name__} cannot be saved")


def _reduce_defaultdict(value: defaultdict) -> Any:
    factory = value.default_factory
    if getattr(factory, "__name__", "") == "<lambda>":
        factory = _factory(factory())
    return defaultdict, (factory,), None, None, iter(value.items())


@functools.cache
def _dispatch_table() -> dict[type, Callable[[Any], Any]]:
    return {**copyreg.dispatch_table, **_reducers()}


def _reducers() -> dict[type, Callable[[Any], Any]]:
    """How to pickle what moto's own classes do not let pickle rebuild, by exact type."""
    from moto.ssm.models import ParameterDict  # a defaultdict whose __init__ takes (account, region)

    return {defaultdict: _reduce_defaultdict,
            ParameterDict: lambda d: (ParameterDict, (d.account_id, d.region_name), d.__dict__, None, iter(d.items())),
            **_LOCKS}


#: Locks guard a running process, not state: a saved one is loaded as a new, unheld lock of its kind (SQS keeps a
#: Condition per queue, ECR an RLock per backend).
_LOCKS: dict[type, Callable[[Any], Any]] = {
    type(threading.Lock()): lambda _lock: (threading.Lock, ()),
    type(threading.RLock()): lambda _lock: (threading.RLock, ()),
    threading.Condition: lambda _condition: (threading.Condition, ()),
}


def _pickler(buffer: io.BytesIO) -> pickle.Pickler:
    """A pickler that also pickles moto's defaultdicts made with a lambda (as defaultdicts of what it makes)."""
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _dispatch_table()
    return pickler


def _pickle(value: Any) -> bytes:
    buffer = io.BytesIO()
    _pickler(buffer).dump(value)
    return buffer.getvalue()


def dump(name: str) -> bytes:
    """Part ``name`` pickled now (retried when another thread changes a dict under the pickler)."""
    if name == LAB:
        return _dump_lab()
    from emulator.fidelity import ecs

    backend_dict = _backend_dicts().get(name)
    extra = _extras().get(name)
    with ecs._lock if name == "ecs" else nullcontext():
        for attempt in range(10):
            try:
                backends = {} if backend_dict is None else {
                    account: dict(dict.items(regions)) for account, regions in dict.items(backend_dict)}
                part = {"backends": backends, "extra": extra[0]() if extra else None}
                return ecs_part.dump(part, _dispatch_table()) if name == "ecs" else _pickle(part)
            except RuntimeError:  # "dictionary changed size during iteration": a request or the log pump
                if attempt == 9:
                    raise
                time.sleep(0.005)
    raise AssertionError("unreachable")


def _load(name: str, payload: bytes, records: bool = True) -> None:
    if name == LAB:
        _load_lab(pickle.loads(payload))
        return
    from moto.backends import get_backend

    try:
        saved = ecs_part.load(payload) if name == "ecs" else pickle.loads(payload)
        backend_dict = get_backend(name)
    except Exception as error:  # noqa: BLE001 - a class that moved, a service moto no longer has
        raise StateError(f"the saved state of {name} does not load ({type(error).__name__}: {error}); move "
                         f"{_state['store'].directory} away to start with an empty backend") from None
    for account, regions in saved["backends"].items():
        holder = backend_dict[account]  # moto's AccountSpecificBackend, listed as in use
        for region, backend in regions.items():
            dict.__setitem__(holder, region, backend)
    extra = _extras().get(name)
    if records and extra and saved.get("extra") is not None:
        extra[1](saved["extra"])


def parts_in_use() -> list[str]:
    return [*_backend_dicts(), LAB]


def _wanted(names: Iterable[str]) -> list[str]:
    """The parts a request of ``names`` may change, among those in use now."""
    in_use = parts_in_use()
    names = list(names)
    required = [n for n in names if not n.startswith(OPTIONAL)]
    optional = [n[1:] for n in names if n.startswith(OPTIONAL) and n[1:] in in_use]
    # a service not in use after its request (the tagging API, which changes others; a misnamed one): all
    if ALL in required or any(n not in in_use for n in required):
        return in_use
    return list(dict.fromkeys([*required, *optional]))


def keep(names: Iterable[str]) -> None:
    """Write each named part whose bytes changed since it was last written; OSError when the disk refuses.

    All or nothing: when one part's write fails, the parts this call wrote before it get their previous file
    back, so the disk never holds half of a request's change.
    """
    store: Store | None = _state.get("store")
    if store is None or _state.get("closed"):
        return
    with _write_lock:
        written: list[tuple[str, str | None]] = []
        try:
            for name in _wanted(names):
                payload = dump(name)
                digest = hashlib.sha256(payload).hexdigest()
                if _last.get(name) == digest:
                    continue
                existed = store.path(name).exists()
                store.write(name, payload, digest)
                written.append((name, _last.get(name) if existed else None))
                _last[name] = digest
        except BaseException:
            for name, previous in reversed(written):
                store.revert(name, existed=previous is not None)
                if previous is None:
                    _last.pop(name, None)
                else:
                    _last[name] = previous
            raise


def _restore(before: dict[str, bytes], in_use: list[str]) -> None:
    """Memory as it was before a request whose change could not be written: its parts from their snapshots.

    Tasks the request launched are stopped and forgotten by the executor; tasks that ran before run on (the
    executor is keyed by task id; the live set points at the restored task objects). A service not ``in_use``
    before the request is emptied again. The clock is left alone (it never goes back).
    """
    from emulator.fidelity import ecr, ecs

    with ecs._lock:
        live = list(ecs._live)
        for name, backend_dict in _backend_dicts().items():
            if name in in_use:
                continue
            for holder in dict.values(backend_dict):  # put in use by this request: empty again
                dict.clear(holder)
        for name, payload in before.items():
            backend_dict = _backend_dicts().get(name)
            for holder in dict.values(backend_dict) if backend_dict is not None else ():
                dict.clear(holder)
            if name == "ecr":
                ecr._push_scans.clear()
            _load(name, payload, records=name != "elbv2")  # ELBv2's records open listeners: kept as they are
        if "ecs" in before:
            ecs._live.clear()
            for task_id in live:
                record = ecs.LAUNCHED.get(task_id)
                if record is not None:
                    ecs._live[task_id] = record.task
                elif "current" in ecs._executor:  # launched by the failed request: nothing of it may run on
                    ecs._executor["current"].stop(task_id, "the request that started it was not kept")
                    ecs._executor["current"].forget(task_id)


# -- which requests change what ---------------------------------------------------------------------------


def _signing_service(environ: dict) -> str | None:
    header = environ.get("HTTP_AUTHORIZATION", "")
    credential = header.split("Credential=", 1)[1] if "Credential=" in header else \
        (parse_qs(environ.get("QUERY_STRING", "")).get("X-Amz-Credential") or [""])[0]
    scope = credential.split(",")[0].split("/")
    return scope[3] if len(scope) >= 5 else None


def _action(environ: dict) -> str | None:
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.rsplit(".", 1)[-1]
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if "Action" in query:
        return query["Action"][0]
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0) or -1)
        environ["wsgi.input"] = io.BytesIO(body)
        found = parse_qs(body.decode("utf-8", "replace")).get("Action")
        return found[0] if found else None
    return None


def touched(environ: dict) -> list[str] | None:
    """The parts a request may change (``[ALL]``: any), or None for one that only reads."""
    path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
    reading = method in ("GET", "HEAD", "OPTIONS")
    if path.startswith("/_lab/"):
        if path == CLOCK_PATH and not reading:
            return [LAB]
        return ["s3"] if path == "/_lab/cur-export" and not reading else None
    if path.startswith("/moto-api"):
        return None if reading else [ALL]
    signed = environ.get("HTTP_AUTHORIZATION", "").startswith("AWS4-") or "X-Amz-Credential" in environ.get(
        "QUERY_STRING", "")
    if path.startswith("/v2") and not signed:  # the embedded registry: docker push
        return None if reading else ["ecr"]
    action = _action(environ)
    if (action.startswith(READ_PREFIXES) if action else reading):
        return None
    service = _signing_service(environ)
    if not service:
        return [ALL]
    service = SERVICE_NAMES.get(service, service)
    return [service, *(OPTIONAL + also for also in ALSO.get(service, ()))]


def _failure(environ: dict, error: BaseException) -> tuple[str, list[tuple[str, str]], bytes]:
    """503 ServiceUnavailable, as AWS answers when it cannot take a change now: the call may be retried."""
    what = ("Free disk space or fix the directory's permissions, then retry." if isinstance(error, OSError) else
            "The embedded backend cannot save this kind of object: please report it, with the request.")
    reason = f"{error.strerror} ({error.filename})" if isinstance(error, OSError) and error.strerror else error
    message = (f"The embedded backend could not keep this change in {_state['store'].directory}: {reason}. "
               f"Nothing of it was done or kept. {what}")
    if environ.get("HTTP_X_AMZ_TARGET"):
        import json

        body = json.dumps({"__type": UNAVAILABLE, "message": message}).encode()
        return "503 Service Unavailable", [("Content-Type", "application/x-amz-json-1.1"),
                                           ("x-amzn-ErrorType", UNAVAILABLE)], body
    from xml.sax.saxutils import escape

    body = (f"<ErrorResponse><Error><Type>Receiver</Type><Code>{UNAVAILABLE}</Code><Message>{escape(message)}"
            "</Message></Error><RequestId>0</RequestId></ErrorResponse>").encode()
    return "503 Service Unavailable", [("Content-Type", "text/xml")], body


def _log_refusal(environ: dict, error: BaseException) -> None:
    """A full or read-only disk is the learner's to fix: one calm line per kind of error, no traceback; anything
    else (an object pickle refuses) is a bug, with its traceback."""
    what = f"could not keep the state after {environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}"
    if isinstance(error, OSError):
        log.warning("%s (%s); memory is rolled back to before it", what, error)
    else:
        log.exception("%s; memory is rolled back to before it", what)


def _blob_upload(environ: dict) -> bool:
    """A registry layer upload: its bytes go to the blob store, not the state, and it may stream for long."""
    path = environ.get("PATH_INFO", "")
    return path.startswith("/v2/") and "/blobs/uploads" in path


def wrap(app: Callable) -> Callable:
    """WSGI middleware: a request that may change state is answered only once its change is on disk.

    Requests that may change state run one at a time (reads run beside them), each with a snapshot of the parts
    it may touch: when its change cannot be written, memory goes back to that snapshot and the answer is 503
    ServiceUnavailable, so nothing is acknowledged, or half-done, that is not on disk.
    """

    def run(environ: dict) -> tuple[dict[str, Any], list[bytes]]:
        captured: dict[str, Any] = {}
        chunks: list[bytes] = []

        def capture(status: str, headers: list, exc_info: Any = None) -> Callable[[bytes], None]:
            captured.update(status=status, headers=headers)
            return chunks.append

        answer = app(environ, capture)
        try:
            chunks.extend(answer)
        finally:
            if hasattr(answer, "close"):
                answer.close()
        return captured, chunks

    def persisted(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if not enabled():
            return app(environ, start_response)
        names = touched(environ)
        _state["activity"] = time.monotonic()
        if names is None:
            return app(environ, start_response)
        with nullcontext() if _blob_upload(environ) else _write_lock:
            in_use = parts_in_use()
            before = {} if _blob_upload(environ) else {n: dump(n) for n in _wanted(names) if n != LAB}
            changes_tasks = "ecs" in _wanted(names) and _action(environ) not in ecs_part.ADD_ONLY
            captured, chunks = run(environ)
            if changes_tasks:
                ecs_part.refresh()  # it may have changed a task that exists: every task pickled again
            try:
                keep(names)
            except Exception as error:  # noqa: BLE001 - a full disk, a read-only directory, an object pickle refuses
                _log_refusal(environ, error)
                if before:
                    _restore(before, in_use)
                status, headers, body = _failure(environ, error)
                start_response(status, [*headers, ("Content-Length", str(len(body)))])
                return [body]
        start_response(captured["status"], captured["headers"])
        return chunks

    return persisted


# -- the background flush, start and shutdown -------------------------------------------------------------


def _busy() -> bool:
    from emulator.fidelity import ecs, services

    recent = time.monotonic() - _state.get("activity", 0.0) < 5 * FLUSH_SECONDS
    return recent or bool(ecs._live) or bool(services.SCHEDULED)


def _flush_loop() -> None:
    passes = 0
    while not _stop.wait(FLUSH_SECONDS):
        if not _busy():
            continue
        passes += 1
        try:
            from emulator.fidelity import ecs

            if passes % REFRESH_PASSES == 0:
                with _write_lock:
                    ecs_part.refresh()  # a task changed without ecs.changed naming it is written within seconds
            ecs._sync_live()  # task states up to date before they are written
            keep([p for p in parts_in_use() if p in BACKGROUND or p == LAB])
        except Exception as error:  # noqa: BLE001 - the next pass retries; requests still fail on their own writes
            _flush_failed(error)
        else:
            if _state.pop("flush_failure", None):
                log.warning("the background flush of the state works again")


def _flush_failed(error: Exception) -> None:
    """Said once per kind of failure, not every second: a full disk is one calm line, a bug its traceback."""
    kind = (type(error).__name__, getattr(error, "errno", None))
    if _state.get("flush_failure") == kind:
        return
    _state["flush_failure"] = kind
    if isinstance(error, OSError):
        log.warning("the background flush of the state failed (%s); it retries every %.0f s, quietly until it "
                    "works again", error, FLUSH_SECONDS)
    else:
        log.exception("the background flush of the state failed; it retries every %.0f s", FLUSH_SECONDS)


def start(config: settings.Settings) -> bool:
    """Open the state directory (lock it, check it is writable), load what it holds, reconcile; True if loaded.

    Raises StateError when the directory cannot be used or holds state this version must not load.
    """
    if not config.persist:
        return False
    from emulator.extensions import MOTO_VERSION

    store = Store(directory(config), MOTO_VERSION)
    store.open()
    _state["store"] = store
    names = store.names()
    loaded = []
    for name in names:
        payload = store.read(name)
        if payload is None:
            log.warning("state part %s: no readable generation; it starts empty", name)
            continue
        _load(name, payload)
        _last[name] = hashlib.sha256(payload).hexdigest()
        loaded.append(name)
    if loaded:
        log.info("loaded the state of %s from %s", ", ".join(loaded), store.directory)
        from emulator import reconcile

        reconcile.after_restart()
        ecs_part.refresh()  # reconciling stopped tasks
    keep([ALL])  # what reconciling changed, and the clock's part: on disk before the first answer
    _stop.clear()
    threading.Thread(target=_flush_loop, name="state-flush", daemon=True).start()
    return bool(loaded)


def reset(forget_everything: Callable[[], None]) -> None:
    """``reset``: forget everything in memory and on disk, with no write in between."""
    with _write_lock:
        forget_everything()
        ecs_part.refresh()
        store: Store | None = _state.get("store")
        if store is not None:
            store.forget()
        _last.clear()


def shutdown() -> None:
    """At shutdown, before the other hooks clear the state: write it all once more, then write nothing more."""
    _stop.set()
    store: Store | None = _state.get("store")
    if store is None:
        return
    with _write_lock:
        try:
            from emulator.fidelity import ecs

            ecs._sync_live()
            keep([ALL])
        finally:
            _state["closed"] = True
            store.close()
