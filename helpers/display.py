"""Tables a person can read, for every table a notebook shows.

``table(frame)`` keeps the data as it is and shows it formatted: money with a fixed number of decimals per
column (never ``5.9e-01``), sizes in MB, short ids (a task's id, ``family:revision``, a repository's name,
``sha256:`` and 12 digits), nothing for what is unknown (no ``None``, ``NaN``, ``NaT``, ``<NA>``), times to the
second, and long text wrapped onto more lines instead of cut off. The column names say which rule applies:
``usd``/``cost`` in the name is money, a name ending in ``bytes`` is a size, ``_arn`` an id.
"""

from __future__ import annotations

import html
import math
import re
import textwrap
from collections.abc import Iterable
from typing import Any

import pandas as pd

#: Column names holding money (USD): a fixed number of decimals each.
MONEY = re.compile(r"usd|cost|price|saving(?!_pct)", re.I)
#: Column names holding a size in bytes: shown in MB.
BYTES = re.compile(r"_?bytes$", re.I)
#: Bytes in a megabyte (decimal, as ECR's console and ``size_mb`` count).
MB = 1_000_000
#: Characters a text cell gets per line before it wraps.
WRAP = 60
#: Rows shown of a longer table (as pandas shows 60 by default); the rest is counted.
MAX_ROWS = 60
#: Digits of a sha256 digest worth showing: enough to tell images apart, as ``docker images`` does.
DIGEST_DIGITS = 12
_DIGEST = re.compile(r"\bsha256:([0-9a-f]{64})\b")


def is_unknown(value: Any) -> bool:
    """None, NaN, NaT and pandas' NA: shown as an empty cell."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    try:
        return bool(pd.isna(value)) if not isinstance(value, (list, tuple, dict, set)) else False
    except (TypeError, ValueError):
        return False


def short_id(value: Any) -> Any:
    """An ARN as the part a person recognizes; a sha256 digest cut to 12 digits; anything else unchanged.

    ``arn:...:task/CLUSTER/ID`` -> ``ID``; ``arn:...:task-definition/FAMILY:3`` -> ``FAMILY:3``;
    ``arn:...:repository/NAMESPACE/NAME`` -> ``NAMESPACE/NAME``; other ARNs -> the name after the type.
    """
    if not isinstance(value, str):
        return value
    if value.startswith("arn:"):
        resource = value.split(":", 5)[-1]
        kind, sep, rest = resource.partition("/")
        if not sep:
            return resource
        if kind in ("task", "service", "container-instance", "task-set"):
            return rest.rsplit("/", 1)[-1]  # CLUSTER/ID (or SERVICE/ID for a task set): the id alone
        if kind in ("repository", "task-definition", "log-group"):
            return rest
        return rest.rsplit("/", 1)[-1]
    return _DIGEST.sub(lambda m: f"sha256:{m.group(1)[:DIGEST_DIGITS]}", value)


def decimals(values: Iterable[float], minimum: int = 0, maximum: int = 6) -> int:
    """Decimals that show the smallest non-zero value with two significant digits, within the bounds."""
    finite = [abs(v) for v in values if not is_unknown(v) and math.isfinite(v)]
    if all(float(v).is_integer() for v in finite):
        return minimum
    smallest = min((v for v in finite if v), default=1.0)
    return max(minimum, min(maximum, 1 - math.floor(math.log10(smallest))))


def megabytes(size_bytes: Any, places: int = 2) -> str:
    """A size in bytes as MB (10^6 bytes) with ``places`` decimals; empty when unknown."""
    return "" if is_unknown(size_bytes) else f"{float(size_bytes) / MB:,.{places}f} MB"


def wrap(text: str, width: int = WRAP) -> list[str]:
    """``text`` as lines of at most ``width`` characters, broken between words where it can be."""
    lines = [line for paragraph in text.splitlines() or [""]
             for line in textwrap.wrap(paragraph, width, break_on_hyphens=False) or [""]]
    return lines or [""]


def _column(series: pd.Series, name: str) -> list[str]:
    if pd.api.types.is_bool_dtype(series):
        return ["" if is_unknown(v) else ("yes" if v else "no") for v in series]
    if pd.api.types.is_datetime64_any_dtype(series):
        return ["" if is_unknown(v) else v.strftime("%Y-%m-%d %H:%M:%S") for v in series]
    if pd.api.types.is_numeric_dtype(series):
        values = pd.to_numeric(series, errors="coerce").astype(float)
        places = decimals(values, 2 if MONEY.search(name) or name.endswith("_mb") else 0)
        grouping = "," if MONEY.search(name) else ""
        return ["" if is_unknown(v) else f"{v:{grouping}.{places}f}" for v in values]
    out = []
    for value in series.astype(object):
        if is_unknown(value):
            out.append("")
        elif isinstance(value, float):
            out.append(f"{value:,.{decimals([value])}f}")
        elif hasattr(value, "strftime"):
            out.append(value.strftime("%Y-%m-%d %H:%M:%S"))
        else:
            out.append(str(short_id(value)))
    return out


def _shown_columns(frame: pd.DataFrame) -> dict[str, pd.Series]:
    """Column title to values, after the rules that rename: sizes in MB, ARNs without ``_arn``."""
    names = {str(c) for c in frame.columns}
    shown: dict[str, pd.Series] = {}
    for column in frame.columns:
        name, values = str(column), frame[column]
        if BYTES.search(name) and pd.api.types.is_numeric_dtype(values):
            name = BYTES.sub("_mb", name) if name.lower() != "bytes" else "mb"
            if name in names:
                continue  # the frame shows the size in MB already
            values = pd.to_numeric(values, errors="coerce").astype(float) / MB
        elif name.endswith("_arn"):
            stem = name[: -len("_arn")]
            if stem in names or f"{stem}_id" in names:
                continue  # the short id is there already, under its own name
            name = stem
        shown[name] = values
    return shown


class Table:
    """A DataFrame shown readably (``data`` is the frame itself, ``frame`` its formatted text, at most
    ``max_rows`` rows of it)."""

    def __init__(self, data: pd.DataFrame, width: int = WRAP, max_rows: int = MAX_ROWS) -> None:
        self.data = data
        self.width = width
        self.hidden = max(0, len(data) - max_rows)
        flat = data if isinstance(data.index, pd.RangeIndex) else data.reset_index()
        flat = flat.head(max_rows)
        self.frame = pd.DataFrame({name: _column(values.reset_index(drop=True), name)
                                   for name, values in _shown_columns(flat).items()}, dtype=object)

    def __len__(self) -> int:
        return len(self.frame)

    def _cells(self) -> list[list[list[str]]]:
        return [[wrap(cell, self.width) for cell in row] for row in self.frame.itertuples(index=False)]

    def __repr__(self) -> str:
        if self.frame.empty:
            return "(no rows)" if len(self.frame.columns) else "(empty)"
        rows = self._cells()
        titles = [str(c) for c in self.frame.columns]
        widths = [max([len(t)] + [len(line) for row in rows for line in row[i]]) for i, t in enumerate(titles)]
        lines = ["  ".join(t.ljust(w) for t, w in zip(titles, widths, strict=True)).rstrip()]
        for row in rows:
            for k in range(max(len(cell) for cell in row)):
                lines.append("  ".join((cell[k] if k < len(cell) else "").ljust(w)
                                       for cell, w in zip(row, widths, strict=True)).rstrip())
        return "\n".join(lines + ([f"({self.hidden} more rows)"] if self.hidden else []))

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in self.frame.columns)
        body = "".join("<tr>" + "".join(f"<td>{'<br>'.join(html.escape(line) for line in cell)}</td>"
                                        for cell in row) + "</tr>" for row in self._cells())
        more = f"<p>({self.hidden} more rows)</p>" if self.hidden else ""
        return (f'<table class="dataframe fargate-lab-table"><thead><tr style="text-align: left;">{head}</tr>'
                f'</thead><tbody>{body}</tbody></table>{more}')


def table(frame: pd.DataFrame, width: int = WRAP, max_rows: int = MAX_ROWS) -> Table:
    """``frame`` as a notebook should show it (see the module's docstring); the data is not changed."""
    return Table(frame, width, max_rows)


def readable_tables(shell: Any = None) -> bool:
    """Show every DataFrame of this notebook as ``table`` does, in HTML and as text (the frames are unchanged).

    One call in a notebook's first code cell; returns False outside IPython, where there is nothing to change.
    """
    if shell is None:
        from IPython import get_ipython

        shell = get_ipython()
    if shell is None:
        return False
    formatters = shell.display_formatter.formatters
    formatters["text/html"].for_type(pd.DataFrame, lambda frame: Table(frame)._repr_html_())
    formatters["text/plain"].for_type(pd.DataFrame, lambda frame, printer, cycle: printer.text(repr(Table(frame))))
    return True
