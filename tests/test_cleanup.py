"""Cleanup finds the suite's resources by tags on the backend, never by name, and deletes them in order."""

from __future__ import annotations

import pytest

from helpers import cleanup
from helpers.cost import fargate_hourly_rate
from helpers.errors import InvalidParameter
from helpers.tags import RUN_ID_TAG_KEY, SUITE_TAG_KEY, suite_tags
from tests.resources import one_of_each
from tests.resources import snapshot as everything

RUN_A = {RUN_ID_TAG_KEY: "run-a"}


@pytest.fixture
def mixed(session):
    """The suite's resources, plus look-alikes: same-looking names without the tag, or with another value."""
    ours = one_of_each(session, "fargate-lab-demo", suite_tags(RUN_A), desired_count=2)
    one_of_each(session, "fargate-lab-lookalike", None)
    one_of_each(session, "fargate-lab-other-owner", {SUITE_TAG_KEY: "someone-else"})
    return ours


def test_dry_run_lists_only_tagged_resources_with_cost_and_deletes_nothing(session, mixed):
    before = everything(session)
    table = cleanup.cleanup(session)
    assert set(table["action"]) == {"would delete"}
    assert list(dict.fromkeys(table["kind"])) == list(cleanup.KINDS)  # every kind, in deletion order
    listed = {(kind, name) for kind, name in zip(table["kind"], table["name"], strict=True) if kind != "task"}
    assert listed == {(kind, name) for kind, name in mixed.items()}
    service_day = 2 * fargate_hourly_rate(256, 512) * 24
    assert table.loc[table.kind == "service", "cost_per_day_usd"].item() == pytest.approx(service_day)
    tasks = table[table.kind == "task"]
    alone = tasks[~tasks.note.str.startswith("billed in service:")]
    assert len(alone) == 1  # the RunTask one; the service's own tasks are billed in the service's row
    assert tasks["cost_per_day_usd"].sum() == pytest.approx(fargate_hourly_rate(256, 512) * 24)
    assert cleanup.cost_per_day(table) > service_day
    assert everything(session) == before


def test_deleting_removes_only_the_suites_resources(session, mixed):
    before = everything(session)
    done = cleanup.cleanup(session, dry_run=False, progress=False)
    assert set(done["action"]) == {"deleted"}, done[done.action != "deleted"].to_dict("records")
    after = everything(session)
    for kind, name in mixed.items():
        assert name not in after[kind], f"{kind} {name} is still there"
        assert before[kind] - {name} == after[kind], f"cleanup touched an untagged {kind}"
    tasks = session.client("ecs").describe_tasks(cluster="fargate-lab-demo", tasks=list(done.loc[
        done.kind == "task", "id"]))["tasks"]
    assert all(t["desiredStatus"] == "STOPPED" for t in tasks)

    again = cleanup.cleanup(session, dry_run=False, progress=False)  # idempotent
    assert again.empty
    assert everything(session) == after


def test_one_run_can_be_cleaned_up_alone(session):
    one_of_each(session, "run-a-things", suite_tags(RUN_A))
    one_of_each(session, "run-b-things", suite_tags({RUN_ID_TAG_KEY: "run-b"}))
    done = cleanup.cleanup(session, dry_run=False, run_id="run-a", progress=False)
    assert set(done["run_id"]) == {"run-a"} and set(done["action"]) == {"deleted"}
    left = cleanup.inventory(session)
    assert set(left["run_id"]) == {"run-b"} and len(left) == len(done)


def test_what_is_gone_already_is_not_an_error(session):
    one_of_each(session, "gone", suite_tags())
    # The tasks go first: while their network interfaces use the security group, EC2 refuses to delete it.
    for r in cleanup.find(session, kinds=["service", "task"]):
        assert cleanup.delete(session, r) == "deleted"
    # (a secret is left out: AWS itself answers success to a forced delete of a secret that is gone)
    found = cleanup.find(session, kinds=["repository", "log group", "role", "security group"])
    assert [cleanup.delete(session, r) for r in found] == ["deleted"] * 4
    assert [cleanup.delete(session, r) for r in found] == ["gone already"] * 4


@pytest.mark.parametrize("kwargs,name", [
    ({"dry_run": "no"}, "dry_run"),
    ({"dry_run": 0}, "dry_run"),
    ({"kinds": ["queue"]}, "kinds"),
    ({"kinds": "repository"}, "kinds"),
    ({"run_id": 42}, "run_id"),
    ({"regions": "eu-west-1"}, "regions"),
    ({"regions": ["mars-1"]}, "regions"),
])
def test_bad_arguments_name_the_parameter_and_touch_nothing(session, kwargs, name):
    one_of_each(session, "kept", suite_tags())
    before = everything(session)
    with pytest.raises(InvalidParameter, match=f"parameter '{name}'"):
        cleanup.cleanup(session, **kwargs)
    assert everything(session) == before


def test_every_lab_region_is_searched_and_roles_once(session):
    import helpers

    west = helpers.connect(backend="local", region="eu-west-1")
    one_of_each(session, "in-the-east", suite_tags())
    one_of_each(west, "in-the-west", suite_tags())
    table = cleanup.inventory(session)
    assert set(table.loc[table.name == "in-the-west", "region"]) == {"eu-west-1", "global"}
    assert set(table.loc[table.kind == "role", "name"]) == {"in-the-east", "in-the-west"}
    assert len(table[table.kind == "role"]) == 2  # IAM is global: listed once, not once per region
    east_only = cleanup.inventory(session, regions=["us-east-1"])
    assert "in-the-west" not in set(east_only[east_only.kind != "role"].name)
    done = cleanup.cleanup(session, dry_run=False, progress=False)
    assert set(done.action) == {"deleted"} and cleanup.inventory(session).empty
    assert snapshot_names(west, "repository") == set() and snapshot_names(session, "repository") == set()


def snapshot_names(session, kind: str) -> set[str]:
    return everything(session)[kind]
