"""Bad parameter values, each run through papermill: the run fails, the message names the parameter and
what would be valid, and nothing is created (or deleted) on the backend.

One row per bad value: (notebook, parameters, the parameter the message must name, words of what is valid
[, why it is a known failure]).
Notebooks that are not in notebooks/ yet are skipped, so the table can list them before they land.
"""

from __future__ import annotations

import re

import pytest

from helpers.tags import suite_tags
from tests.conftest import ROOT
from tests.resources import one_of_each, snapshot

NOTEBOOKS = ROOT / "notebooks"

BAD_INPUT = [
    ("00_environment.ipynb", {"backend": "gcp"}, "backend", "'local', 'aws'"),
    ("00_environment.ipynb", {"region": "mars-1"}, "region", "region code"),
    ("00_environment.ipynb", {"region": 42}, "region", "region code"),
    ("01_push_to_ecr.ipynb", {"repository": "Bad_Name"}, "repository", "lowercase"),
    ("01_push_to_ecr.ipynb", {"repository": "a"}, "repository", "lowercase"),
    ("01_push_to_ecr.ipynb", {"repository": "fargate-lab//app"}, "repository", "lowercase"),
    ("01_push_to_ecr.ipynb", {"image_tag": "v 1"}, "image_tag", "1-128 characters"),
    ("01_push_to_ecr.ipynb", {"image_tag": ".hidden"}, "image_tag", "1-128 characters"),
    ("01_push_to_ecr.ipynb", {"push_method": "ftp"}, "push_method", "'api'"),
    ("02_run_fargate_task.ipynb", {"cpu": 300}, "cpu", "valid values are"),
    ("02_run_fargate_task.ipynb", {"memory": 100}, "memory", "valid memory is"),
    ("02_run_fargate_task.ipynb", {"cpu": 256, "memory": 4096}, "memory", "valid memory is"),
    ("02_run_fargate_task.ipynb", {"cpu": "big"}, "cpu", "give CPU units"),
    ("02_run_fargate_task.ipynb", {"count": 0}, "count", "an integer from 1 to"),
    ("02_run_fargate_task.ipynb", {"capacity": "EC2"}, "capacity", "one of"),
    ("02_run_fargate_task.ipynb", {"arch": "x86"}, "arch", "ARM64"),
    ("03_deploy_service.ipynb", {"desired_count": -1}, "desired_count", "a whole number of tasks"),
    ("03_deploy_service.ipynb", {"timeout": 0}, "timeout", "a number of seconds above 0"),
    ("03_deploy_service.ipynb", {"image_tag": "v/1"}, "image_tag", "1-128 characters"),
    ("03_deploy_service.ipynb", {"delete_after": True}, "confirm", "True to delete the service"),
    ("99_cleanup.ipynb", {"backend": "moto"}, "backend", "'local', 'aws'"),
    ("99_cleanup.ipynb", {"region": "europe"}, "region", "region code"),
    ("99_cleanup.ipynb", {"dry_run": "no"}, "dry_run", "True (list only"),
    ("99_cleanup.ipynb", {"dry_run": False}, "confirm", "True to delete"),
    ("99_cleanup.ipynb", {"dry_run": False, "confirm": "yes"}, "confirm", "True (allow deleting)"),
    ("99_cleanup.ipynb", {"dry_run": False, "confirm": 1}, "confirm", "True (allow deleting)"),
    ("99_cleanup.ipynb", {"kinds": ["queue"]}, "kinds", "a list drawn from"),
    ("99_cleanup.ipynb", {"kinds": "repository"}, "kinds", "a list drawn from"),
    ("99_cleanup.ipynb", {"kinds": ["service", 3]}, "kinds", "a list drawn from"),
    ("99_cleanup.ipynb", {"run_id": 42}, "run_id", "a run id"),
    ("99_cleanup.ipynb", {"regions": "eu-west-1"}, "regions", "a list of region codes"),
]


def rows() -> list:
    """The table as pytest params: known failures marked as strict expected failures, with the reason."""
    params = []
    for row in BAD_INPUT:
        notebook, parameters, name, valid = row[:4]
        marks = [pytest.mark.xfail(reason=row[4], strict=True)] if len(row) > 4 else []
        ident = f"{notebook[:2]}-{name}-{'-'.join(f'{k}={v!r}' for k, v in parameters.items())}"
        params.append(pytest.param(notebook, parameters, name, valid, marks=marks, id=ident))
    return params


class Bait:
    """Suite resources that a bad run of the cleanup notebook must not delete, in a known state for every row."""

    def __init__(self) -> None:
        import helpers

        self.session = helpers.connect(backend="local")
        self.baseline: dict = {}

    def fresh(self):
        """The session, on a backend holding exactly the bait (reset only when a row changed it)."""
        from helpers import local

        if not self.baseline or snapshot(self.session) != self.baseline:
            local.reset()
            one_of_each(self.session, "bait", suite_tags())
            self.baseline = snapshot(self.session)
        return self.session


@pytest.fixture(scope="module")
def bait(backend) -> Bait:
    return Bait()


def test_the_table_is_big_enough():
    assert len(BAD_INPUT) >= 20, "the issue asks for at least 20 bad values"


@pytest.mark.parametrize("notebook,parameters,name,valid", rows())
def test_bad_value_fails_naming_the_parameter_and_creates_nothing(bait, tmp_path, notebook, parameters, name, valid):
    import papermill
    from papermill.exceptions import PapermillExecutionError

    path = NOTEBOOKS / notebook
    assert path.exists(), f"{notebook} has bad-input rows but is not in notebooks/: remove its rows or restore it"
    session = bait.fresh()
    before = snapshot(session)
    with pytest.raises(PapermillExecutionError) as caught:
        papermill.execute_notebook(str(path), str(tmp_path / notebook), parameters=parameters,
                                   cwd=str(NOTEBOOKS), progress_bar=False, kernel_name="python3")
    error = caught.value
    assert error.ename in ("InvalidParameter", "InvalidParameters", "InvalidTaskDefinition"), f"{error.ename}: {error.evalue}"
    assert re.search(rf"(?<![\w.]){name}(?!\w)", error.evalue), f"the message does not name {name!r}: {error.evalue}"
    assert valid in error.evalue, error.evalue
    assert snapshot(session) == before, "a run with a bad parameter changed the backend"
