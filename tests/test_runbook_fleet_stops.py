"""A runbook fleet that ends early stops the tasks it had started (StopTask naming the run) before it raises.

Real embedded backends with simulated tasks: one refuses the second RunTask (an injected HTTP 5xx), one run is
interrupted (KeyboardInterrupt, as Ctrl-C raises it) while its first task runs.
StopTask's reason: https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_StopTask.html (up to 255 chars)
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.config import Config

from helpers import runbooks
from helpers.errors import FleetStopped
from helpers.session import LabSession
from tests.backends import embedded_backend, lab_session
from tests.faulty import fault_counts, faulty_backend
from tests.test_runbooks import BUCKET, NOTEBOOK

IMAGE = "fargate-lab-test/runner:simulated"  # simulated tasks "pull" any reference
#: seed 10's first draw (0.57) lets the first RunTask through, its second (0.43) refuses the next one.
REFUSE_SECOND_RUNTASK = "error=0.5,ops=RunTask,seed=10,max_attempt=1"


class OneAttempt(LabSession):
    """The lab's session with botocore retrying nothing, so one injected 5xx is RunTask's answer."""

    def client(self, service_name: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs["config"] = Config(retries={"mode": "standard", "total_max_attempts": 1})
        return super().client(service_name, *args, **kwargs)


def _stopped(session) -> list[dict]:
    ecs = session.client("ecs")
    arns = ecs.list_tasks(cluster="fargate-lab", desiredStatus="STOPPED")["taskArns"]
    return ecs.describe_tasks(cluster="fargate-lab", tasks=arns)["tasks"] if arns else []


def _running(session) -> list[str]:
    return session.client("ecs").list_tasks(cluster="fargate-lab", desiredStatus="RUNNING")["taskArns"]


def test_a_refused_runtask_stops_the_task_already_started_and_says_so():
    with faulty_backend(REFUSE_SECOND_RUNTASK) as lab:
        runbooks.ensure_task_role(lab, allow_create=True)
        once = OneAttempt(backend="local", endpoint_url=lab.endpoint_url, region_name=lab.region_name,
                          **_keys(lab))
        with pytest.raises(FleetStopped) as raised:
            runbooks.run_on_fargate(once, [NOTEBOOK], [{"value": 1}, {"value": 2}], parallel=2, bucket=BUCKET,
                                    image=IMAGE, create_bucket=True, timeout=120)
        assert fault_counts(lab)["error"] == 1
        [task] = _stopped(lab)
        assert raised.value.stopped == [task["taskArn"]] and _running(lab) == []
        assert task["stoppedReason"].startswith("fargate-lab: runbook run ") and "ended early (ClientError" in (
            task["stoppedReason"])
        message = str(raised.value)
        assert "stopped the 1 task(s)" in message and "check.ipynb value=1" in message, message
        assert "RunTask" in message and raised.value.rows == []


def test_an_interrupted_run_stops_its_running_tasks_before_it_raises():
    def interrupt(line: str) -> None:
        raise KeyboardInterrupt

    with embedded_backend(runtime="simulated") as info:
        lab = lab_session(info)
        runbooks.ensure_task_role(lab, allow_create=True)
        with pytest.raises(FleetStopped) as raised:
            runbooks.run_on_fargate(lab, [NOTEBOOK], [{"value": 1}, {"value": 2}, {"value": 3}], parallel=2,
                                    bucket=BUCKET, image=IMAGE, create_bucket=True, progress=interrupt)
        assert isinstance(raised.value.__cause__, KeyboardInterrupt)
        stopped = _stopped(lab)
        assert sorted(t["taskArn"] for t in stopped) == sorted(raised.value.stopped) and len(stopped) == 2
        assert all("ended early (interrupted)" in t["stoppedReason"] for t in stopped) and _running(lab) == []
        assert "stopped the 2 task(s)" in str(raised.value) and "value=3" not in str(raised.value)


def _keys(session: LabSession) -> dict[str, str]:
    frozen = session.get_credentials().get_frozen_credentials()
    return {"aws_access_key_id": frozen.access_key, "aws_secret_access_key": frozen.secret_key}
