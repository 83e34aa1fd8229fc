"""Run notebooks headlessly with papermill, in order, and report a summary table.

``python -m helpers run`` and ``make lab`` use this. Each parameter reaches only the
notebooks that declare it; the first failure stops the run, and its executed
notebook (with papermill's error cell) is kept in the output folder.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jupyter_client import AsyncKernelManager
from jupyter_core.paths import jupyter_runtime_dir
from traitlets import default

from helpers.errors import InvalidParameters
from helpers.parameters import for_notebook, parse_text, unknown_name
from helpers.tags import RUN_ID_ENV

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
#: The kernels' own log says only errors: a warning such as "running over TCP without encryption" (a kernel on
#: 127.0.0.1 that only this process talks to) would repeat once per notebook in a passing run.
KERNEL_ARGUMENTS = ("--IPKernelApp.log_level=ERROR",)


class NoInterruptAtShutdown(AsyncKernelManager):
    """nbclient's kernel manager, minus the SIGINT jupyter_client sends before every shutdown request, over unix
    sockets.

    That interrupt goes to the kernel's whole process group. After the last cell has answered there is nothing to
    interrupt: the signal only lands in whatever the kernel (or a process it started) handles at that instant, and
    a passing run printed "KeyboardInterrupt caught in kernel." A shutdown here is a shutdown request alone; a
    kernel that does not stop is still terminated, then killed, and a cell timeout still interrupts.
    """

    async def _async_interrupt_kernel(self) -> None:
        if self.shutting_down:
            return
        await super()._async_interrupt_kernel()

    @default("transport")
    def _transport_default(self) -> str:
        """Unix sockets, not TCP ports: a TCP kernel's ports are picked free, released, and bound by the kernel a
        moment later, so two runs starting kernels at once (a fleet of operators, ``make test``) can pick the
        same port, and one kernel dies before it answers ("Address already in use"). A socket path is this
        kernel's alone. TCP only where the path would be too long for a unix socket."""
        return "ipc" if len(_socket_prefix()) <= MAX_SOCKET_PREFIX else "tcp"  # every prefix is as long

    @default("ip")
    def _ip_default(self) -> str:
        """The sockets' path prefix, one per kernel (jupyter_client's own is ``kernel-ipc`` in the notebook's
        folder, shared by every kernel there); 127.0.0.1 over TCP."""
        if self.transport != "ipc":
            return "127.0.0.1"
        prefix = _socket_prefix()
        Path(prefix).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return prefix


#: A unix socket's path is at most 107 bytes on Linux; the kernel appends "-<channel number>".
MAX_SOCKET_PREFIX = 100


def _socket_prefix() -> str:
    """A new kernel's socket path prefix in Jupyter's runtime directory (the user's own, mode 0700)."""
    return str(Path(jupyter_runtime_dir()) / f"kernel-{uuid.uuid4().hex[:12]}")


@dataclass
class NotebookRun:
    """The outcome of one notebook in a run."""

    notebook: str
    status: str  # "ok", "failed", "not run"
    seconds: float
    output: Path | None
    error: str = ""


def default_notebooks(directory: Path = NOTEBOOK_DIR) -> list[Path]:
    """Every notebook of the suite, in name order (00_, 01_, ... 99_)."""
    return sorted(p for p in directory.glob("*.ipynb") if not p.name.startswith("."))


def parse_value(raw: str) -> Any:
    """A command-line parameter value: YAML scalars, lists and mappings (``512``, ``true``, ``[a, b]``), else the text."""
    return parse_text(raw)


def declared_parameters(notebook: Path) -> set[str]:
    import papermill

    return set(papermill.inspect_notebook(str(notebook)))


def check_parameters(notebooks: Iterable[Path], parameters: dict[str, Any]) -> None:
    """Before any notebook starts: each name is declared by a notebook of the run, each value valid for it.

    Raises InvalidParameters listing every problem: a name no notebook declares (with the closest one), and
    what each notebook's parameter model says of the values it would get.
    """
    declared = {Path(n): declared_parameters(Path(n)) for n in notebooks}
    known = sorted(set().union(*declared.values()))
    problems = {unknown_name(name, known, "any notebook of this run"): [] for name in parameters if name not in known}
    for notebook, names in declared.items():
        model = for_notebook(notebook)
        if model is None:
            continue
        try:
            model.from_values({k: v for k, v in parameters.items() if k in names})
        except InvalidParameters as exc:
            for problem in exc.problems:
                problems.setdefault(problem, []).append(notebook.name)
    if problems:
        raise InvalidParameters([p + (f" (in {', '.join(where)})" if where else "") for p, where in problems.items()])


def run_notebooks(
    notebooks: Iterable[Path],
    parameters: dict[str, Any] | None = None,
    out_dir: Path | None = None,
    progress: bool = False,
) -> list[NotebookRun]:
    """Execute ``notebooks`` in order; stop at the first failure. Never raises for a failed notebook."""
    import papermill

    notebooks = [Path(n) for n in notebooks]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir = Path(out_dir) if out_dir else Path("runs") / stamp
    out_dir.mkdir(parents=True, exist_ok=True)
    parameters = parameters or {}
    results: list[NotebookRun] = []
    failed = False
    with run_id(stamp):
        for notebook in notebooks:
            if failed:
                results.append(NotebookRun(notebook.name, "not run", 0.0, None))
                continue
            output = out_dir / notebook.name
            declared = declared_parameters(notebook)
            given = {k: v for k, v in parameters.items() if k in declared}
            started = time.monotonic()
            try:
                papermill.execute_notebook(
                    str(notebook), str(output), parameters=given, cwd=str(notebook.parent),
                    progress_bar=progress, log_output=False, extra_arguments=list(KERNEL_ARGUMENTS),
                    kernel_manager_class=NoInterruptAtShutdown,
                )
                results.append(NotebookRun(notebook.name, "ok", time.monotonic() - started, output))
            except Exception as exc:  # noqa: BLE001 - any failure is reported in the table, the run stops
                failed = True
                results.append(NotebookRun(notebook.name, "failed", time.monotonic() - started, output, _summary(exc)))
    return results


@contextmanager
def run_id(stamp: str) -> Iterator[str]:
    """The run ID the notebooks' kernels inherit (an exported one wins), for this run only: the calling process's
    environment is as it was afterwards, so a second run in the same process gets a run ID of its own."""
    exported = os.environ.get(RUN_ID_ENV)
    os.environ[RUN_ID_ENV] = exported or stamp
    try:
        yield os.environ[RUN_ID_ENV]
    finally:
        if exported is None:
            os.environ.pop(RUN_ID_ENV, None)


def _summary(exc: Exception) -> str:
    name = getattr(exc, "ename", type(exc).__name__)
    value = getattr(exc, "evalue", str(exc))
    return f"{name}: {value}".strip()


def summary_table(results: list[NotebookRun]) -> str:
    """A plain-text table: notebook, status, seconds (and the error of a failure)."""
    width = max([len("notebook")] + [len(r.notebook) for r in results])
    lines = [f"{'notebook':<{width}}  {'status':<8}  {'seconds':>8}", f"{'-' * width}  {'-' * 8}  {'-' * 8}"]
    for r in results:
        lines.append(f"{r.notebook:<{width}}  {r.status:<8}  {r.seconds:>8.1f}")
    for r in results:
        if r.status == "failed":
            lines.append(f"\n{r.notebook} failed: {r.error}\nexecuted notebook kept at: {r.output}")
    return "\n".join(lines)


def closing_summary(out_dir: Path, backend: str, url: str | None, running: list | None) -> str:
    """What a person needs after the table: where the executed notebooks are, what still runs (and, on the
    embedded backend, that it keeps running), and how to stop or clean up. ``running``: ``still_running``'s
    answer, or None when it could not be read."""
    where = "the embedded backend" if backend == "local" else "your AWS account (billed until deleted)"
    lines = [f"executed notebooks: {Path(out_dir).resolve()}/"]
    if backend == "local":
        lines.append(f"the embedded backend keeps running at {url}, with what the notebooks created")
    if running is None:
        lines.append(f"still running in {where}: could not be read")
    elif running:
        lines.append(f"still running in {where}:")
        lines += [f"  {r}" for r in running]
    else:
        lines.append(f"still running in {where}: no service and no task")
    cleanup = "python -m helpers run notebooks/99_cleanup.ipynb -p dry_run false -p confirm true"
    if backend == "local":
        lines += [f"delete what the notebooks created: {cleanup}",
                  "forget everything the backend holds: python -m helpers.local reset",
                  "stop the backend and its containers: python -m helpers.local stop (or make backend-stop); "
                  "make clean also removes runs/"]
    else:
        lines.append(f"delete what the notebooks created: {cleanup.replace(' -p', ' --backend aws -p', 1)}")
    return "\n".join(lines)
