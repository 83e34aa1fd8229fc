"""Progress bars that show live and leave their final state in an executed notebook.

A ``tqdm.auto`` widget is saved by papermill as the text it had when it was drawn (often 0%), and a text bar on
stdout is saved as every redraw at once. In a Jupyter kernel this bar is one display output that each redraw
replaces (``update_display_data``): JupyterLab shows it move, and the notebook papermill writes keeps only its
last line. Elsewhere (a terminal, a script) it is plain tqdm on stderr.
"""

from __future__ import annotations

import io
import sys
from typing import Any

from tqdm.std import tqdm

WIDTH = 100


class _DisplayLine(io.TextIOBase):
    """A file tqdm writes to; each complete redraw replaces one display output's text."""

    def __init__(self) -> None:
        self.handle: Any = None
        self.text = ""

    def write(self, s: str) -> int:
        line = s.replace("\r", "\n").strip("\n").rsplit("\n", 1)[-1].rstrip()
        if line and line != self.text:
            from IPython.display import display

            self.text = line
            if self.handle is None:
                self.handle = display({"text/plain": line}, raw=True, display_id=True)
            else:
                self.handle.update({"text/plain": line}, raw=True)
        return len(s)

    def flush(self) -> None:  # tqdm flushes after each redraw; the display is already up to date
        return None


def in_kernel() -> bool:
    """Whether this runs in a Jupyter kernel (JupyterLab, papermill, nbmake), where outputs are displays."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def bar(total: int | None = None, *, desc: str, iterable: Any = None, unit: str = "it", unit_scale: bool = False,
        disable: bool = False, **kwargs: Any) -> tqdm:
    """A tqdm bar: one self-replacing output line in a kernel, tqdm on stderr elsewhere; kept at its end."""
    kwargs.pop("leave", None)  # always kept: what a person reads afterwards is where it ended
    file = _DisplayLine() if in_kernel() else sys.stderr
    return tqdm(iterable, total=total, desc=desc, unit=unit, unit_scale=unit_scale, disable=disable, leave=True, file=file,
                ncols=WIDTH, dynamic_ncols=False, **kwargs)
