"""Many clients at once against one embedded backend: the answers AWS would give, no crossed client token.

RunTask's clientToken: "An identifier that you provide to ensure the idempotency of the request. It must be
unique and is case sensitive." (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RunTask.html)
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from helpers import local, prereqs, taskdef, tasks
from helpers.session import LabSession

CLUSTER = "lab"
CALLS = 20


@pytest.fixture
def sim(simulated_backend) -> LabSession:
    local.reset(simulated_backend.port)
    session = LabSession(backend="local", endpoint_url=simulated_backend.url, region_name="us-east-1",
                         **local.CREDENTIALS)
    prereqs.ensure_cluster(session, CLUSTER)
    prereqs.ensure_log_group(session, taskdef.default_log_group("job"))
    return session


def _definition(session: LabSession) -> str:
    role = prereqs.ensure_execution_role(session, allow_create=True)
    td = taskdef.fargate_task_definition("job", "busybox:latest", cpu=256, memory=512, execution_role_arn=role,
                                         command="sleep 600")
    return taskdef.register(session, td).arn


def _run_at_once(session: LabSession, definition: str, tokens: list[str]) -> list[list[str]]:
    network = prereqs.network(session)
    barrier = threading.Barrier(len(tokens))

    def run(token: str) -> list[str]:
        barrier.wait()
        return tasks.run_task(session, CLUSTER, definition, network=network, client_token=token)

    with ThreadPoolExecutor(len(tokens)) as pool:
        return list(pool.map(run, tokens))


def test_twenty_concurrent_run_tasks_with_distinct_tokens_start_twenty_tasks(sim):
    started = _run_at_once(sim, _definition(sim), [f"token-{n}" for n in range(CALLS)])
    arns = [arn for answer in started for arn in answer]
    assert len(arns) == len(set(arns)) == CALLS
    listed = sim.client("ecs").get_paginator("list_tasks")
    assert sorted(a for page in listed.paginate(cluster=CLUSTER) for a in page["taskArns"]) == sorted(arns)


def test_twenty_concurrent_run_tasks_with_one_token_start_one_task(sim):
    started = _run_at_once(sim, _definition(sim), ["the-same-token"] * CALLS)
    assert {tuple(answer) for answer in started} == {tuple(started[0])} and len(started[0]) == 1
    listed = sim.client("ecs").get_paginator("list_tasks")
    assert [a for page in listed.paginate(cluster=CLUSTER) for a in page["taskArns"]] == started[0]
