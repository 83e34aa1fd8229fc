"""Cleanup finds the suite-tagged runbook buckets (helpers.runbooks' fargate-lab-runbooks-*) and deletes them, objects
first (every version and delete marker in a versioned one), and never a same-named bucket without the suite's tags.

S3 deletes only an empty bucket: https://docs.aws.amazon.com/AmazonS3/latest/userguide/delete-bucket.html
"""

from __future__ import annotations

import pytest

from helpers import calls, cleanup, runbooks

TAGGED, VERSIONED, UNTAGGED = (f"fargate-lab-runbooks-{n}" for n in ("plain", "versioned", "someone-elses"))


def _fill(s3, bucket: str, keys: int) -> None:
    for n in range(keys):
        s3.put_object(Bucket=bucket, Key=f"runs/r1/out/{n}.ipynb", Body=b"{}")


@pytest.fixture
def buckets(session):
    s3 = session.client("s3")
    for bucket in (TAGGED, VERSIONED):
        runbooks.make_bucket(session, bucket)
    s3.create_bucket(Bucket=UNTAGGED)  # the same prefix, no tags: not the suite's
    s3.put_bucket_versioning(Bucket=VERSIONED, VersioningConfiguration={"Status": "Enabled"})
    _fill(s3, TAGGED, 3)
    _fill(s3, VERSIONED, 2)
    _fill(s3, VERSIONED, 2)  # a second version of each
    s3.delete_object(Bucket=VERSIONED, Key="runs/r1/out/0.ipynb")  # a delete marker
    _fill(s3, UNTAGGED, 1)
    return session


def test_only_the_tagged_runbook_buckets_are_found_with_their_cost_note(buckets):
    found = cleanup.inventory(buckets, kinds=["bucket"])
    assert sorted(found["name"]) == [TAGGED, VERSIONED]
    assert set(found["region"]) == {"us-east-1"} and (found["cost_per_day_usd"] == 0.0).all()
    assert found["note"].str.contains("pennies").all()


def test_cleanup_empties_and_deletes_them_and_leaves_the_untagged_one(buckets, tmp_path):
    calls.record_calls(buckets, tmp_path / "calls.txt")
    done = cleanup.cleanup(buckets, dry_run=False, kinds=["bucket"], progress=False)
    assert sorted(zip(done["name"], done["action"], strict=True)) == [(TAGGED, "deleted"), (VERSIONED, "deleted")]
    s3 = buckets.client("s3")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [UNTAGGED]
    assert s3.list_objects_v2(Bucket=UNTAGGED)["KeyCount"] == 1
    made = calls.recorded_actions(tmp_path / "calls.txt")
    assert made - calls.policy_actions() == set(), "cleanup calls what iam/fargate-lab-policy.json does not grant"
    assert calls.runbook_cleanup_actions() - calls.implied_actions() - {"s3:DeleteObjectVersion"} <= made, (
        "the RunbookCleanup statements grant what cleanup never calls")
    again = cleanup.cleanup(buckets, dry_run=False, kinds=["bucket"], progress=False)
    assert len(again) == 0  # idempotent: nothing of the suite's is left


def test_a_bucket_gone_between_find_and_delete_is_gone_already(buckets):
    found = cleanup.find(buckets, kinds=["bucket"])
    cleanup.cleanup(buckets, dry_run=False, resources=found, progress=False)
    assert set(cleanup.cleanup(buckets, dry_run=False, resources=found, progress=False)["action"]) == {"gone already"}
