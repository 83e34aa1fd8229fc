"""A full disk under the state directory: reads go on, changes are refused whole, and all works again once freed.

The state directory is a real 16 MiB tmpfs the test mounts and fills with a file until the kernel answers ENOSPC;
no write is mocked. A change the backend cannot keep is answered with 503 ServiceUnavailable (what AWS answers
when a service cannot take a request now, so an SDK may retry it: https://docs.aws.amazon.com/AmazonECS/latest/
APIReference/CommonErrors.html) and leaves memory as it was before the call: the revision counter, the tasks and
the clusters the call would have made are not there, and the disk's state does not have them after a restart.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from helpers import local, prereqs
from tests.backends import free_port, lab_session
from tests.conftest import engine_missing

FAMILY = "full-disk"
ONE_TRY = Config(retries={"mode": "standard", "max_attempts": 1})  # see the refusal itself, not the SDK's retries


@pytest.fixture
def disk(tmp_path, monkeypatch):
    """A 16 MiB tmpfs as the backend's state directory (needs root: mount)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        engine_missing(f"mounting a small tmpfs (root): {done.stderr.strip()}")
    monkeypatch.setenv("FARGATE_LAB_STATE_DIR", str(mount))
    port = free_port()
    yield port, mount
    local.stop(port)
    subprocess.run(["umount", "-l", str(mount)], check=True)


def _fill(mount: Path) -> Path:
    """Write a file until the disk has no room left; its path (delete it to free the room)."""
    filler = mount / "filler"
    chunk = b"\0" * 65536
    with open(filler, "wb") as handle:
        try:
            while True:
                handle.write(chunk)
                handle.flush()
        except OSError as full:
            assert full.errno == errno.ENOSPC
    for size in (4096, 512, 1):  # the last pages too
        try:
            with open(filler, "ab") as handle:
                while True:
                    handle.write(b"\0" * size)
                    handle.flush()
        except OSError:
            pass
    return filler


def _refused(call, *args, **kwargs) -> ClientError:
    with pytest.raises(ClientError) as refused:
        call(*args, **kwargs)
    return refused.value


def _register(ecs) -> str:
    return ecs.register_task_definition(
        family=FAMILY, requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256", memory="512",
        containerDefinitions=[{"name": "app", "image": "busybox:latest", "essential": True}],
    )["taskDefinition"]["taskDefinitionArn"]


def _clusters(ecs) -> list[str]:
    return sorted(a.rsplit("/", 1)[-1] for a in ecs.list_clusters()["clusterArns"])


def test_a_full_disk_refuses_changes_whole_keeps_answering_reads_and_works_again_once_freed(disk):
    port, mount = disk
    info = local.start(port, runtime="simulated")
    session = lab_session(info)
    ecs, ssm, iam = (session.client(s, config=ONE_TRY) for s in ("ecs", "ssm", "iam"))
    ecs.create_cluster(clusterName="before")
    first = _register(ecs)
    network = prereqs.network(session)
    ssm.put_parameter(Name="/kept/before", Value="1", Type="String")
    filler = _fill(mount)

    refused = _refused(ecs.create_cluster, clusterName="during")
    assert refused.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert refused.response["Error"]["Code"] == "ServiceUnavailable"
    message = refused.response["Error"]["Message"]
    assert "could not keep this change" in message and "No space left on device" in message
    assert "Nothing of it was done or kept" in message and "Free disk space" in message
    assert _refused(_register, ecs).response["Error"]["Code"] == "ServiceUnavailable"
    run = _refused(ecs.run_task, cluster="before", taskDefinition=first, launchType="FARGATE",
                   networkConfiguration={"awsvpcConfiguration": network})
    assert run.response["Error"]["Code"] == "ServiceUnavailable"
    assert _refused(ssm.put_parameter, Name="/kept/during", Value="2", Type="String").response[
        "Error"]["Code"] == "ServiceUnavailable"
    query = _refused(iam.create_role, RoleName="during", AssumeRolePolicyDocument="{}")  # the query protocol
    assert query.response["Error"]["Code"] == "ServiceUnavailable"

    # reads answer on, and memory is as before the refused calls: nothing half-done
    assert _clusters(ecs) == ["before"]
    assert ecs.list_task_definitions(familyPrefix=FAMILY)["taskDefinitionArns"] == [first]
    assert ecs.list_tasks(cluster="before")["taskArns"] == []
    assert [p["Name"] for p in ssm.describe_parameters()["Parameters"]] == ["/kept/before"]
    assert "during" not in [r["RoleName"] for r in iam.list_roles()["Roles"]]

    filler.unlink()
    ecs.create_cluster(clusterName="after")
    second = _register(ecs)
    assert second == first.replace(f"{FAMILY}:1", f"{FAMILY}:2")  # the refused registration took no revision
    os.kill(info.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while local._pid_alive(info.pid) and time.monotonic() < deadline:
        time.sleep(0.05)

    ecs = lab_session(local.start(port, runtime="simulated")).client("ecs")
    assert _clusters(ecs) == ["after", "before"]
    assert ecs.list_task_definitions(familyPrefix=FAMILY)["taskDefinitionArns"] == [first, second]
    assert ecs.list_tasks(cluster="before", desiredStatus="STOPPED")["taskArns"] == []
