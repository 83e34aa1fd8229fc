"""The embedded backend's service events on EventBridge: a deployment's state changes and the service's actions.

Shapes and names: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs_service_deployment_events.html
(``ECS Deployment State Change``: eventType INFO/ERROR, eventName, deploymentId, updatedAt, reason; a rollback's
in-progress reason names the deployment rolled back to) and
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs_service_events.html (``ECS Service Action``:
eventType, eventName, clusterArn, createdAt; no ``version`` in the detail). A real server (the shared simulated
backend) on a manual clock: time moves by ``advance_clock``, never by sleeping.
"""

from __future__ import annotations

import json

import pytest

from helpers import history, local
from tests.resources import network

CLUSTER, SERVICE = "events", "web"
DEPLOYMENT, ACTION = "ECS Deployment State Change", "ECS Service Action"
FAILED = "/aws/events/failed-deployments"


def _definition(session, family: str, *, missing_log_group: bool = False) -> str:
    """A task definition that runs (busybox) or, with ``missing_log_group``, fails to start (as on Fargate, a
    task whose awslogs group does not exist stops with ResourceInitializationError)."""
    container = {"name": "app", "image": "busybox", "essential": True}
    if missing_log_group:
        container["logConfiguration"] = {"logDriver": "awslogs", "options": {
            "awslogs-group": "/no/such/group", "awslogs-region": session.region_name, "awslogs-stream-prefix": "x"}}
    return session.client("ecs").register_task_definition(
        family=family, requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256", memory="512",
        containerDefinitions=[container])["taskDefinition"]["taskDefinitionArn"]


def _until(session, done, passes: int = 400, step: float = 2.0) -> dict:
    """Move the clock in steps, each followed by a DescribeServices (a scheduler pass), until ``done(service)``."""
    ecs = session.client("ecs")
    for _ in range(passes):
        service = ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]
        if done(service):
            return service
        local.advance_clock(step)
    pytest.fail(f"the service never got there: {service['deployments']}")


@pytest.fixture
def deployed(session):
    """A service of 2 tasks deployed (v1), then a v2 whose tasks fail to start: the circuit breaker fails it and
    rolls back to v1. A second rule's log group gets only what that rule matches (failed deployments)."""
    history.ensure_task_history(session)
    logs, events = session.client("logs"), session.client("events")
    logs.create_log_group(logGroupName=FAILED)
    failed_arn = logs.describe_log_groups(logGroupNamePrefix=FAILED)["logGroups"][0]["arn"].removesuffix(":*")
    events.put_rule(Name="failed-deployments", EventPattern=json.dumps({
        "source": ["aws.ecs"], "detail-type": [DEPLOYMENT], "detail": {"eventName": ["SERVICE_DEPLOYMENT_FAILED"]}}))
    events.put_targets(Rule="failed-deployments", Targets=[{"Id": "failed", "Arn": failed_arn}])
    ecs = session.client("ecs")
    ecs.create_cluster(clusterName=CLUSTER)
    group = session.client("ec2").describe_security_groups()["SecurityGroups"][0]["GroupId"]
    local.set_clock("manual")
    try:
        v1 = _definition(session, "events-v1")
        ecs.create_service(cluster=CLUSTER, serviceName=SERVICE, taskDefinition=v1, desiredCount=2,
                           launchType="FARGATE", networkConfiguration=network(session, group),
                           deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}})
        first = _until(session, lambda s: s["deployments"][0]["rolloutState"] == "COMPLETED")
        v2 = _definition(session, "events-v2", missing_log_group=True)
        ecs.update_service(cluster=CLUSTER, service=SERVICE, taskDefinition=v2)
        last = _until(session, lambda s: s["taskDefinition"] == v1 and len(s["deployments"]) == 1
                      and s["deployments"][0]["rolloutState"] == "COMPLETED"
                      and s["deployments"][0]["id"] != first["deployments"][0]["id"])
    finally:
        local.set_clock("real")
    return {"first": first, "last": last}


def _kept(session, detail_type: str) -> list[dict]:
    """The kept events of ``detail_type`` as CloudWatch Logs returns them: by timestamp, then as delivered."""
    return list(history.events(session, detail_types=[detail_type]))


def test_a_deployment_sends_its_state_changes_as_ecs_does(session, deployed):
    kept = _kept(session, DEPLOYMENT)
    service_arn = deployed["first"]["serviceArn"]
    assert all(e["source"] == "aws.ecs" and e["resources"] == [service_arn] and e["version"] == "0"
               and e["region"] == session.region_name for e in kept)
    assert all(set(e["detail"]) == {"eventType", "eventName", "deploymentId", "updatedAt", "reason"} for e in kept)
    first_id, rollback_id = deployed["first"]["deployments"][0]["id"], deployed["last"]["deployments"][0]["id"]
    seen = [(e["detail"]["eventName"], e["detail"]["deploymentId"]) for e in kept]
    assert seen[:2] == [("SERVICE_DEPLOYMENT_IN_PROGRESS", first_id), ("SERVICE_DEPLOYMENT_COMPLETED", first_id)]
    (v2_started,) = [e for e in kept[2:] if e["detail"]["eventName"] == "SERVICE_DEPLOYMENT_IN_PROGRESS"
                     and e["detail"]["deploymentId"] not in (first_id, rollback_id)]
    v2_id = v2_started["detail"]["deploymentId"]
    assert seen[2:] == [("SERVICE_DEPLOYMENT_IN_PROGRESS", v2_id), ("SERVICE_DEPLOYMENT_FAILED", v2_id),
                        ("SERVICE_DEPLOYMENT_IN_PROGRESS", rollback_id), ("SERVICE_DEPLOYMENT_COMPLETED", rollback_id)]
    by_name = {(e["detail"]["eventName"], e["detail"]["deploymentId"]): e["detail"] for e in kept}
    assert by_name[("SERVICE_DEPLOYMENT_IN_PROGRESS", first_id)]["reason"] == f"ECS deployment {first_id} in progress."
    assert by_name[("SERVICE_DEPLOYMENT_COMPLETED", first_id)]["reason"] == f"ECS deployment {first_id} completed."
    failed = by_name[("SERVICE_DEPLOYMENT_FAILED", v2_id)]
    assert failed["eventType"] == "ERROR" and failed["reason"].startswith("ECS deployment circuit breaker:")
    rollback = by_name[("SERVICE_DEPLOYMENT_IN_PROGRESS", rollback_id)]
    assert rollback["eventType"] == "INFO"
    assert rollback["reason"] == f"ECS deployment circuit breaker: rolling back to deploymentId {rollback_id}."
    assert all(d["updatedAt"].endswith("Z") and d["deploymentId"].startswith("ecs-svc/") for d in by_name.values())


def test_the_service_actions_are_sent_with_their_event_types(session, deployed):
    kept = _kept(session, ACTION)
    cluster_arn = deployed["first"]["clusterArn"]
    assert all(e["resources"] == [deployed["first"]["serviceArn"]] and "version" not in e["detail"]
               and e["detail"]["clusterArn"] == cluster_arn and e["detail"]["createdAt"].endswith("Z") for e in kept)
    names = [e["detail"]["eventName"] for e in kept]
    types = {e["detail"]["eventName"]: e["detail"]["eventType"] for e in kept}
    assert names.count("SERVICE_STEADY_STATE") == 2  # after v1, after the rollback: said once per steady state
    assert types["SERVICE_STEADY_STATE"] == "INFO" and types["SERVICE_TASK_START_IMPAIRED"] == "WARN"
    steady = [i for i, name in enumerate(names) if name == "SERVICE_STEADY_STATE"]
    assert steady[0] < names.index("SERVICE_TASK_START_IMPAIRED") < steady[1]
    assert {"SERVICE_DEPLOYMENT_IN_PROGRESS", "SERVICE_DEPLOYMENT_COMPLETED"} <= set(names)
    # the event's time is the emulator's clock: the manual clock's steps, not the wall clock
    times = [e["detail"]["createdAt"] for e in kept]
    assert times == sorted(times) and times[0] != times[-1]


def test_scaling_in_sends_tasks_stopped(session, deployed):
    def stopped() -> list[dict]:
        return [e["detail"] for e in _kept(session, ACTION) if e["detail"]["eventName"] == "TASKS_STOPPED"]

    before = stopped()
    session.client("ecs").update_service(cluster=CLUSTER, service=SERVICE, desiredCount=1)
    after = stopped()
    assert len(after) == len(before) + 1 and after[-1]["eventType"] == "INFO"
    messages = [e["message"] for e in session.client("ecs").describe_services(
        cluster=CLUSTER, services=[SERVICE])["services"][0]["events"]]
    assert any("has stopped 1 running tasks" in m for m in messages)  # the service event beside it


def test_only_the_rules_that_match_get_an_event(session, deployed):
    bodies = list(history.events(session, log_group=FAILED, detail_types=[DEPLOYMENT, ACTION]))
    assert [(b["detail-type"], b["detail"]["eventName"]) for b in bodies] == [(DEPLOYMENT, "SERVICE_DEPLOYMENT_FAILED")]
    assert bodies[0]["resources"] == [deployed["first"]["serviceArn"]]
    session.client("events").disable_rule(Name=history.RULE_NAME)
    before = len(_kept(session, DEPLOYMENT))
    session.client("ecs").update_service(cluster=CLUSTER, service=SERVICE, forceNewDeployment=True)
    assert len(_kept(session, DEPLOYMENT)) == before  # a disabled rule gets nothing
    session.client("events").enable_rule(Name=history.RULE_NAME)
    session.client("ecs").update_service(cluster=CLUSTER, service=SERVICE, forceNewDeployment=True)
    assert len(_kept(session, DEPLOYMENT)) == before + 1  # ... and an enabled one the next deployment's start
