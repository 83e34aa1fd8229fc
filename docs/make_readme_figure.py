"""Regenerate the README's figure: run notebook 04 on the embedded backend, keep one of its plots as a PNG.

    .venv/bin/python docs/make_readme_figure.py

The figure is what a learner sees in notebook 04 with its demo fleet (no AWS account, no charges).
"""

from __future__ import annotations

import base64
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "04_cost_and_state.ipynb"
#: The cell whose plot goes into the README, found by what its source calls.
MARKER = "plots.cost_by_cluster_and_service"
FIGURE = ROOT / "docs" / "img" / "04_cost_by_service.png"


def first_png(executed: Path, marker: str) -> bytes:
    """The first PNG output of the first code cell whose source contains ``marker``."""
    for cell in json.loads(executed.read_text())["cells"]:
        text = "".join(cell.get("source", ""))
        if cell["cell_type"] == "code" and marker in text:
            for output in cell.get("outputs", []):
                if "image/png" in output.get("data", {}):
                    return base64.b64decode(output["data"]["image/png"])
    raise SystemExit(f"no PNG output in a cell calling {marker} of {executed}")


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from helpers import local, runner

    local.start()
    with tempfile.TemporaryDirectory(prefix="readme-figure-") as out:
        [result] = runner.run_notebooks([NOTEBOOK], {"backend": "local"}, Path(out))
        if result.status != "ok":
            raise SystemExit(f"notebook 04 failed: {result.error}")
        FIGURE.parent.mkdir(parents=True, exist_ok=True)
        FIGURE.write_bytes(first_png(Path(out) / NOTEBOOK.name, MARKER))
    print(f"wrote {FIGURE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
