"""What still runs after a run, as the runner's closing summary says it: services, tasks, ports, how to stop."""

from __future__ import annotations

from pathlib import Path

from helpers import still_running
from helpers.runner import closing_summary
from tests.resources import one_of_each


def test_services_and_tasks_outside_services_are_listed_per_cluster(session):
    one_of_each(session, "keeps-running", None, desired_count=2)  # a service, and a task of run_task
    found = still_running.everywhere(session, ["us-east-1", "eu-west-1"])
    by_what = {(r.region, r.cluster, r.service): r for r in found}
    assert set(by_what) == {("us-east-1", "keeps-running", "keeps-running"), ("us-east-1", "keeps-running", None)}
    service, alone = by_what["us-east-1", "keeps-running", "keeps-running"], by_what["us-east-1", "keeps-running", None]
    assert service.desired == 2 and alone.tasks == 1 and alone.desired is None
    assert str(alone) == "us-east-1 cluster keeps-running: 1 task(s) running"
    assert str(service).startswith("us-east-1 service keeps-running/keeps-running: ") and "of 2 task(s)" in str(service)


def test_a_stopped_service_and_stopped_tasks_are_not_listed(session):
    one_of_each(session, "stopped", None, desired_count=1)
    ecs = session.client("ecs")
    ecs.update_service(cluster="stopped", service="stopped", desiredCount=0)
    for arn in ecs.list_tasks(cluster="stopped")["taskArns"]:
        ecs.stop_task(cluster="stopped", task=arn)
    assert still_running.everywhere(session, ["us-east-1"]) == []


def test_ports_ecs_does_not_report_come_from_the_published_ones():
    task = {"taskArn": "arn:aws:ecs:us-east-1:123456789012:task/c/abc", "containers": [{"networkBindings": []}]}
    assert still_running._ports(task, {"abc": ["127.0.0.1:8080 -> 8080/tcp"]}) == ["127.0.0.1:8080 -> 8080/tcp"]
    bridge = {"taskArn": "arn:aws:ecs:us-east-1:123456789012:task/c/def", "containers": [{"networkBindings": [
        {"bindIP": "0.0.0.0", "containerPort": 80, "hostPort": 32768, "protocol": "tcp"}]}]}
    assert still_running._ports(bridge, {}) == ["0.0.0.0:32768 -> 80/tcp"]


def test_the_closing_summary_says_where_what_runs_and_how_to_stop(tmp_path):
    running = [still_running.Running("us-east-1", "lab", "web", 2, 2, ["127.0.0.1:8080 -> 8080/tcp"])]
    text = closing_summary(tmp_path, "local", "http://127.0.0.1:4599", running)
    assert f"executed notebooks: {Path(tmp_path).resolve()}/" in text
    assert "the embedded backend keeps running at http://127.0.0.1:4599" in text
    assert "  us-east-1 service lab/web: 2 of 2 task(s) running; ports 127.0.0.1:8080 -> 8080/tcp" in text
    assert "python -m helpers.local stop" in text and "notebooks/99_cleanup.ipynb -p dry_run false -p confirm true" in text
    nothing = closing_summary(tmp_path, "aws", None, [])
    assert "still running in your AWS account (billed until deleted): no service and no task" in nothing
    assert "keeps running" not in nothing and "--backend aws -p dry_run false" in nothing
    assert "could not be read" in closing_summary(tmp_path, "local", "http://127.0.0.1:4599", None)
