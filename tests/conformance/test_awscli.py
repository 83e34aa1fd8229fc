"""The AWS CLI (awscli from PyPI, pinned in requirements.txt) against the embedded backend, as AWS documents it.

Pagination: the CLI's ``--max-items``/``--starting-token`` cut the result client-side and ``--page-size`` sets the
server's ``maxResults`` (https://docs.aws.amazon.com/cli/latest/userguide/cli-usage-pagination.html). ListTaskDefinitions
lists "lexicographically by family name and in ascending numerical order by revision", DESC the reverse
(https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ListTaskDefinitions.html); ListTasks' ``maxResults``
"can be between 1 and 100" (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ListTasks.html).
Waiters: ``aws ecs wait tasks-stopped`` polls DescribeTasks every 6 seconds until every task is STOPPED
(https://docs.aws.amazon.com/cli/latest/reference/ecs/wait/tasks-stopped.html); ``tasks-running`` fails when a task is
STOPPED (.../wait/tasks-running.html); ``services-stable`` polls DescribeServices every 15 seconds until each
service has one deployment and ``runningCount == desiredCount``, and fails on MISSING, DRAINING or INACTIVE
(.../wait/services-stable.html); ``services-inactive`` succeeds on INACTIVE (.../wait/services-inactive.html).
A service deleted with ``--force`` is DRAINING until its tasks have stopped, then INACTIVE
(https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeleteService.html).
"""

from __future__ import annotations

from helpers import local
from tests.conformance.conftest import default_subnet, network, register

CLUSTER = "conformance"


def _cluster(client) -> None:
    client.aws("ecs", "create-cluster", "--cluster-name", CLUSTER, "--capacity-providers", "FARGATE")


def _run(client, definition: str, subnet: str, count: int = 1) -> list[str]:
    answer = client.aws("ecs", "run-task", "--cluster", CLUSTER, "--task-definition", definition, "--count",
                        str(count), "--launch-type", "FARGATE", "--network-configuration", network(subnet))
    assert answer["failures"] == []
    return [t["taskArn"] for t in answer["tasks"]]


def test_list_task_definitions_max_items_and_starting_token_in_documented_order(client):
    for family, revisions in (("web", 3), ("api", 2)):
        for _ in range(revisions):
            register(client, family)
    expected = [f"{family}:{revision}" for family, revision in
                (("api", 1), ("api", 2), ("web", 1), ("web", 2), ("web", 3))]

    def names(answer: dict) -> list[str]:
        return [arn.split("/")[-1] for arn in answer["taskDefinitionArns"]]

    first = client.aws("ecs", "list-task-definitions", "--max-items", "2")
    assert names(first) == expected[:2] and first["NextToken"]
    rest = client.aws("ecs", "list-task-definitions", "--max-items", "2", "--starting-token", first["NextToken"])
    assert names(rest) == expected[2:4] and rest["NextToken"]
    last = client.aws("ecs", "list-task-definitions", "--starting-token", rest["NextToken"])
    assert names(last) == expected[4:] and "NextToken" not in last
    assert names(client.aws("ecs", "list-task-definitions", "--page-size", "1")) == expected  # 5 server pages
    newest = client.aws("ecs", "list-task-definitions", "--sort", "DESC", "--max-items", "1")
    assert names(newest) == ["web:3"]
    assert names(client.aws("ecs", "list-task-definitions", "--family-prefix", "web", "--sort", "DESC")) == [
        "web:3", "web:2", "web:1"]


def test_list_tasks_pages_and_rejects_max_results_out_of_range(client):
    _cluster(client)
    local.set_clock("manual", client.info.port)  # the tasks stay PROVISIONING: listed (desiredStatus RUNNING)
    definition = register(client, "pages")
    subnet = default_subnet(client)
    arns = _run(client, definition, subnet, count=10) + _run(client, definition, subnet, count=2)
    first = client.aws("ecs", "list-tasks", "--cluster", CLUSTER, "--page-size", "5", "--max-items", "7")
    assert len(first["taskArns"]) == 7 and first["NextToken"]
    rest = client.aws("ecs", "list-tasks", "--cluster", CLUSTER, "--page-size", "5",
                      "--starting-token", first["NextToken"])
    assert "NextToken" not in rest
    assert sorted(first["taskArns"] + rest["taskArns"]) == sorted(arns)
    for bad in ("0", "101"):
        done = client.run("aws", "ecs", "list-tasks", "--cluster", CLUSTER, "--max-results", bad, check=False)
        assert done.returncode != 0 and "InvalidParameterException" in done.stderr, done.stderr


def test_wait_tasks_stopped_polls_until_the_task_stopped(client):
    _cluster(client)
    local.set_clock("manual", client.info.port)
    [arn] = _run(client, register(client, "stops"), default_subnet(client))
    code, seconds, errors = client.aws_wait_after_first_poll(
        "ecs", "wait", "tasks-stopped", "--cluster", CLUSTER, "--tasks", arn,
        then=lambda: local.advance_clock(60, client.info.port))
    assert code == 0, errors
    assert seconds >= 5  # a second poll, 6 s after the first, saw STOPPED
    [task] = client.aws("ecs", "describe-tasks", "--cluster", CLUSTER, "--tasks", arn)["tasks"]
    assert task["lastStatus"] == "STOPPED" and task["stopCode"] == "EssentialContainerExited"
    assert task["containers"][0]["exitCode"] == 0


def test_wait_tasks_running_fails_on_a_stopped_task(client):
    _cluster(client)
    local.set_clock("manual", client.info.port)
    [arn] = _run(client, register(client, "gone"), default_subnet(client))
    local.advance_clock(60, client.info.port)
    done = client.run("aws", "ecs", "wait", "tasks-running", "--cluster", CLUSTER, "--tasks", arn, check=False)
    assert done.returncode == 255 and "terminal failure state" in done.stderr, done.stderr


def test_wait_services_stable_then_delete_force_drains_then_services_inactive(client):
    _cluster(client)
    local.set_clock("manual", client.info.port)
    definition = register(client, "svc")
    client.aws("ecs", "create-service", "--cluster", CLUSTER, "--service-name", "web", "--task-definition",
               definition, "--desired-count", "1", "--launch-type", "FARGATE", "--network-configuration",
               network(default_subnet(client)))
    code, seconds, errors = client.aws_wait_after_first_poll(
        "ecs", "wait", "services-stable", "--cluster", CLUSTER, "--services", "web",
        then=lambda: local.advance_clock(30, client.info.port))
    assert code == 0, errors
    assert seconds >= 14  # not stable at the first poll (no task running yet); stable at the second
    [service] = client.aws("ecs", "describe-services", "--cluster", CLUSTER, "--services", "web")["services"]
    assert service["runningCount"] == 1 and len(service["deployments"]) == 1

    client.aws("ecs", "delete-service", "--cluster", CLUSTER, "--service", "web", "--force")
    [service] = client.aws("ecs", "describe-services", "--cluster", CLUSTER, "--services", "web")["services"]
    assert service["status"] == "DRAINING"  # its task is still running: the clock stands still
    local.advance_clock(30, client.info.port)  # (test_boto3 proves the waiter polls on while DRAINING)
    client.run("aws", "ecs", "wait", "services-inactive", "--cluster", CLUSTER, "--services", "web")
    tasks = client.aws("ecs", "list-tasks", "--cluster", CLUSTER, "--desired-status", "STOPPED")["taskArns"]
    [task] = client.aws("ecs", "describe-tasks", "--cluster", CLUSTER, "--tasks", *tasks)["tasks"]
    assert task["lastStatus"] == "STOPPED"


def test_wait_services_stable_fails_on_a_missing_service(client):
    _cluster(client)
    done = client.run("aws", "ecs", "wait", "services-stable", "--cluster", CLUSTER, "--services", "nothing",
                      check=False)
    assert done.returncode == 255 and "terminal failure state" in done.stderr, done.stderr
