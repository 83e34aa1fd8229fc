"""What notebook 02 prints of a task definition: once, in a few lines; a diff only against a live revision."""

from __future__ import annotations

import json

from helpers import show, taskdef

ROLE = "arn:aws:iam::123456789012:role/fargate-lab-task-execution"


def _definition(**changes):
    return taskdef.fargate_task_definition("show-hello", "busybox", cpu=256, memory=512, execution_role_arn=ROLE,
                                           **changes)


def test_the_definition_is_a_few_lines_not_its_json():
    text = show.definition(_definition(environment={"APP_SECONDS": "2"}, command=["echo", "hi"]))
    lines = text.splitlines()
    assert len(lines) == 4, text  # the task, then per container: image, command, environment and logs
    assert lines[0].startswith("family show-hello: cpu 256 units, memory 512 MiB, X86_64 LINUX, network awsvpc")
    assert "command ['echo', 'hi']" in text and "environment APP_SECONDS=2" in text
    assert "{" not in text and "containerDefinitions" not in text


def test_register_shows_a_diff_only_when_a_live_revision_exists(session):
    said: list[str] = []
    first = show.register(session, _definition(), echo=said.append)
    assert said == ["registered show-hello:1, the family's first ACTIVE revision (nothing to compare with)"]
    assert first.created
    said.clear()
    again = show.register(session, _definition(), echo=said.append)
    assert said == ["No change from the latest ACTIVE revision: reusing show-hello:1"] and not again.created
    said.clear()
    changed = show.register(session, _definition(environment={"APP_SECONDS": "5"}), echo=said.append)
    assert changed.revision == 2 and len(said) == 1
    header, *diff = said[0].splitlines()
    assert header == "registered show-hello:2; what changed from show-hello:1:"
    assert any("APP_SECONDS" in line and line.startswith("+") for line in diff), said[0]
    whole = json.dumps(taskdef.normalize(changed.task_definition), indent=2).splitlines()
    assert len(diff) < len(whole) / 2, "the diff is of what changed, not the whole definition again"
