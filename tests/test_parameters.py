"""Each notebook's parameter model: values typed or as papermill -p's text, every error at once, names checked."""

from __future__ import annotations

import ast
import json

import pytest

from helpers import parameters
from helpers.errors import InvalidParameters
from tests.conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def parameters_cell(path) -> dict:
    """The names and default values a notebook's parameters cell assigns."""
    cell = next(c for c in json.loads(path.read_text())["cells"] if "parameters" in c["metadata"].get("tags", []))
    tree = ast.parse("".join(cell["source"]))
    return {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_has_a_model_with_its_parameters_and_defaults(path):
    model = parameters.for_notebook(path)
    assert model is not None, f"{path.name} has no parameter model in helpers.parameters.MODELS"
    cell = parameters_cell(path)
    assert list(cell) == list(model.model_fields), f"{path.name}: the parameters cell and the model differ"
    defaults = model()
    assert {name: getattr(defaults, name) for name in cell} == cell
    code = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    first = "".join(code[1]["source"])
    assert f"{model.__name__}.check(globals())" in first, "the first cell after the parameters checks them"


@pytest.mark.parametrize("text,typed", [
    ("[us-east-1, eu-west-1]", ["us-east-1", "eu-west-1"]),
    ('["us-east-1"]', ["us-east-1"]),
])
def test_a_list_arrives_typed_or_as_text(text, typed):
    assert parameters.CostParameters.from_values({"regions": text}).regions == typed
    assert parameters.CostParameters.from_values({"regions": typed}).regions == typed


def test_a_mapping_and_a_command_as_text_are_read_as_yaml():
    model = parameters.RunTaskParameters.from_values({
        "environment": '{"APP_EXIT_CODE": "3"}', "command": "[/bin/busybox, sh, -c, 'echo hi; exit 3']"})
    assert model.environment == {"APP_EXIT_CODE": "3"}
    assert model.command == ["/bin/busybox", "sh", "-c", "echo hi; exit 3"]
    assert parameters.RunTaskParameters.from_values({"command": "echo hi; date"}).command == "echo hi; date"


def test_text_parameters_stay_text_and_yaml_11_words_are_not_booleans():
    assert parameters.DeployParameters.from_values({"image_tag": "1.10"}).image_tag == "1.10"
    assert parameters.CleanupParameters.from_values({"run_id": "None"}).run_id is None
    assert parameters.CleanupParameters.from_values({"dry_run": "true"}).dry_run is True
    with pytest.raises(InvalidParameters, match="parameter 'dry_run' is 'no'"):
        parameters.CleanupParameters.from_values({"dry_run": "no"})


def test_every_bad_value_is_listed_with_what_would_be_valid():
    with pytest.raises(InvalidParameters) as caught:
        parameters.RunTaskParameters.from_values({"count": 0, "capacity": "EC2", "arch": "x86", "timeout": -1})
    assert len(caught.value.problems) == 4
    text = str(caught.value)
    for words in ("'count' is 0", "from 1 to 10", "'capacity' is 'EC2'", "'FARGATE_SPOT'", "'arch' is 'x86'",
                  "'X86_64' or 'ARM64'", "'timeout' is -1", "above 0"):
        assert words in text, text


def test_a_size_fargate_rejects_is_a_problem_with_the_nearest_valid_one():
    with pytest.raises(InvalidParameters, match="valid memory is"):
        parameters.RunTaskParameters.from_values({"cpu": "256", "memory": "4096"})


def test_an_unknown_name_is_refused_with_the_closest_known_one():
    with pytest.raises(InvalidParameters, match="'memry' is not a parameter .*did you mean 'memory'"):
        parameters.RunTaskParameters.from_values({"memry": 1024})


def test_check_puts_the_parsed_values_back_into_the_notebook():
    namespace = {"backend": "local", "regions": "[eu-west-1]", "period_days": 14, "unrelated": object()}
    parameters.CostParameters.check(namespace)
    assert namespace["regions"] == ["eu-west-1"] and namespace["demo_fleet"] is True
