"""Reading what an executed notebook printed, for tests that check its saved output."""

from __future__ import annotations


def printed_text(nb) -> str:
    """Every stream and plain-text output of ``nb``'s cells, in order, one block per output."""
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", "") or output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)
