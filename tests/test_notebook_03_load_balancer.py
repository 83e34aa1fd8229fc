"""Notebook 03 with ``load_balancer=True`` on the embedded backend with Docker: it prints the listener's URL, which
answers; v1 then v2 roll out behind the ALB while a steady stream of requests goes through the URL, none failing
(the notebook asserts it); the record carries the URL.

ECS stops an old task only once a new one is a healthy target, and a stopping task's target drains first:
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-load-balancing.html
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.request

import pytest

from helpers import services
from tests.backends import embedded_backend

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent


def _papermill(port: int, out, image_tag: str) -> None:
    notebook = str(ROOT / "notebooks" / "03_deploy_service.ipynb")
    env = {**os.environ, "FARGATE_LAB_PORT": str(port)}
    run = subprocess.run([sys.executable, "-m", "papermill", notebook, str(out), "-p", "load_balancer", "True",
                          "-p", "image_tag", image_tag, "-p", "desired_count", "2", "--no-progress-bar"],
                         env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]


@pytest.mark.docker
def test_notebook_03_behind_a_load_balancer_deploys_v1_then_v2_without_a_failed_request(docker_client, tmp_path):
    with embedded_backend(runtime="docker") as info:
        _papermill(info.port, tmp_path / "v1.ipynb", "v1")
        first = services.read_record(tmp_path / "v1.ipynb")
        with urllib.request.urlopen(first["url"], timeout=10) as answer:
            assert answer.status == 200 and b"v1" in answer.read()
        _papermill(info.port, tmp_path / "v2.ipynb", "v2")
        second = services.read_record(tmp_path / "v2.ipynb")
        assert second["outcome"] == "COMPLETED" and second["url"] == first["url"]
        with urllib.request.urlopen(second["url"], timeout=10) as answer:
            assert b"v2" in answer.read()
        printed = (tmp_path / "v2.ipynb").read_text()
        counted = re.search(r"(\d+) requests to \S+ during the deployment: (\d+) failed", printed)
        assert counted and int(counted.group(1)) > 20 and counted.group(2) == "0", counted
