"""Notebook 04 run headlessly with parameters: what it prints says where each number comes from."""

from __future__ import annotations

import re

import papermill as pm

from tests.conftest import ROOT
from tests.notebook_output import printed_text as _text


def test_one_region_one_cluster(session, tmp_path):
    out = tmp_path / "04.ipynb"
    nb = pm.execute_notebook(str(ROOT / "notebooks" / "04_cost_and_state.ipynb"), str(out),
                             parameters={"regions": ["us-east-1"], "clusters": ["demo-web", "demo-batch"],
                                         "period_days": 3}, kernel_name="python3", progress_bar=False)
    text = _text(nb)
    assert "2 clusters, 3 services, 17 tasks" in text  # the filter, and the fleet's us-east-1 part
    assert "0 task(s) unknown" in text  # the embedded backend gives every timestamp and size
    assert "(estimate from task state)" in text and "(projection)" in text
    assert "no billing data" in text
    assert "shipped table" in text  # no pricing service on the embedded backend: the fallback says so
    assert "usd_per_vcpu_hour" in text and "linux_arm" in text  # the rate table (pricing.rate_table)
    # the service the right size saves most on (whatif.biggest_rightsizing), one line above its plot
    assert re.search(r"requested \d+/\d+, right size \d+/\d+ \(assumed peak\), \$\d+\.\d\d per month less", text)
