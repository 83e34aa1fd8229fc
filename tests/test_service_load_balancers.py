"""CreateService and UpdateService check ``loadBalancers`` as ECS does, before anything is created; a task whose
target fails the target group's health checks after ``healthCheckGracePeriodSeconds`` is stopped and replaced.

ECS's rules for a service's load balancer (the container and port in the task definition, an ``ip`` target group
for awsvpc tasks, a target group attached to a load balancer):
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/alb.html and
https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_LoadBalancer.html
ECS's answers are InvalidParameterException with these messages ("The container web does not exist in the task
definition.", "The container app did not have a container port 80 defined.", "The provided target group ... has
target type instance, which is incompatible with the awsvpc network mode specified in the task definition.",
"The target group with targetGroupArn ... does not have an associated load balancer.").

Simulated runtime on a manual clock: each DescribeServices is a scheduler pass, time moves by advance_clock.
"""

from __future__ import annotations

import botocore.exceptions
import pytest

from helpers import loadbalancer, local, prereqs
from tests.backends import lab_session

CLUSTER, SERVICE = "lab", "web"


@pytest.fixture
def session(simulated_backend):
    local.reset(simulated_backend.port)
    local.set_clock("manual", simulated_backend.port)
    yield lab_session(simulated_backend)
    local.reset(simulated_backend.port)


def _port(session) -> int:
    return int(session.endpoint_url.rsplit(":", 1)[1])


def _task_definition(session, port: int = 8080, family: str = SERVICE) -> str:
    container = {"name": "app", "image": "busybox", "essential": True, "portMappings": [{"containerPort": port}]}
    return session.client("ecs").register_task_definition(
        family=family, requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256", memory="512",
        containerDefinitions=[container])["taskDefinition"]["taskDefinitionArn"]


def _create(session, entry: dict, **extra):
    prereqs.ensure_cluster(session, CLUSTER)
    return session.client("ecs").create_service(
        cluster=CLUSTER, serviceName=SERVICE, taskDefinition=SERVICE, desiredCount=1, launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": prereqs.network(session)}, loadBalancers=[entry], **extra)


def _refused(call, message: str) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        call()
    error = refused.value.response["Error"]
    assert (error["Code"], error["Message"]) == ("InvalidParameterException", message)


def _lb(session, **kwargs):
    return loadbalancer.ensure_load_balancer(session, SERVICE, container_port=8080, **kwargs)


def test_create_service_refuses_a_load_balancer_ecs_refuses_and_creates_nothing(session):
    lb = _lb(session)
    _task_definition(session)
    elbv2 = session.client("elbv2")
    vpc = prereqs.default_vpc(session)
    instance_group = elbv2.create_target_group(Name="by-instance", Protocol="HTTP", Port=8080, VpcId=vpc,
                                               TargetType="instance")["TargetGroups"][0]["TargetGroupArn"]
    lonely = elbv2.create_target_group(Name="no-balancer", Protocol="HTTP", Port=8080, VpcId=vpc,
                                       TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    good = lb.service_entry("app")
    _refused(lambda: _create(session, {**good, "containerName": "web"}),
             "The container web does not exist in the task definition.")
    _refused(lambda: _create(session, {**good, "containerPort": 80}),
             "The container app did not have a container port 80 defined.")
    _refused(lambda: _create(session, {**good, "targetGroupArn": instance_group}),
             f"The provided target group {instance_group} has target type instance, which is incompatible with "
             "the awsvpc network mode specified in the task definition.")
    _refused(lambda: _create(session, {**good, "targetGroupArn": lonely}),
             f"The target group with targetGroupArn {lonely} does not have an associated load balancer.")
    missing = lonely.replace("/no-balancer/", "/gone/")
    _refused(lambda: _create(session, {**good, "targetGroupArn": missing}),  # ECS's wording not documented
             f"The target group with targetGroupArn {missing} does not exist.")
    _refused(lambda: _create(session, {key: value for key, value in good.items() if key != "containerName"}),
             "Container Name can not be blank.")
    ecs = session.client("ecs")
    assert ecs.list_services(cluster=CLUSTER)["serviceArns"] == []  # nothing was created
    assert ecs.list_tasks(cluster=CLUSTER)["taskArns"] == []
    assert _create(session, good)["service"]["loadBalancers"] == [good]


def test_update_service_checks_the_new_task_definition_against_the_load_balancer(session):
    lb = _lb(session)
    _task_definition(session)
    _create(session, lb.service_entry("app"))
    other_port = _task_definition(session, port=9000)
    ecs = session.client("ecs")
    _refused(lambda: ecs.update_service(cluster=CLUSTER, service=SERVICE, taskDefinition=other_port),
             "The container app did not have a container port 8080 defined.")
    described = ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]
    assert described["taskDefinition"].endswith(f"{SERVICE}:1") and len(described["deployments"]) == 1
    _refused(lambda: ecs.update_service(cluster=CLUSTER, service=SERVICE,
                                        loadBalancers=[{**lb.service_entry("app"), "containerName": "db"}]),
             "The container db does not exist in the task definition.")


# -- ELB health: the grace period, replacement, the circuit breaker, completion ------------------------------
# healthCheckGracePeriodSeconds: "the period of time ... that the Amazon ECS service scheduler ignores unhealthy
# Elastic Load Balancing target health checks"; after it a task failing them is stopped and replaced:
# https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateService.html
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/stopped-task-error-codes.html
# A simulated task answers on the ports its container maps: a health check on another port fails.
CHECK_PORT = "9000"


def _passes(session, seconds: float, step: float = 1.0) -> None:
    """Scheduler passes while ``seconds`` go by: the targets' due checks (DescribeTargetHealth), then a pass."""
    ecs, elbv2 = session.client("ecs"), session.client("elbv2")
    for _ in range(round(seconds / step)):
        local.advance_clock(step, _port(session))
        for group in elbv2.describe_target_groups()["TargetGroups"]:
            elbv2.describe_target_health(TargetGroupArn=group["TargetGroupArn"])
        ecs.describe_services(cluster=CLUSTER, services=[SERVICE])


def _tasks(session) -> list[dict]:
    ecs = session.client("ecs")
    arns = ecs.list_tasks(cluster=CLUSTER, serviceName=SERVICE, desiredStatus="RUNNING")["taskArns"]
    arns += ecs.list_tasks(cluster=CLUSTER, serviceName=SERVICE, desiredStatus="STOPPED")["taskArns"]
    return ecs.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"] if arns else []


def _described(session) -> dict:
    return session.client("ecs").describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]


def _failing_health_checks(session, lb) -> None:
    session.client("elbv2").modify_target_group(TargetGroupArn=lb.target_group_arn, HealthCheckPort=CHECK_PORT)


def test_an_unhealthy_target_is_ignored_within_the_grace_period_then_its_task_is_stopped_and_replaced(session):
    lb = _lb(session, interval=5, timeout=2, unhealthy_threshold=2, deregistration_delay=0)
    _failing_health_checks(session, lb)
    _task_definition(session)
    grace = 30
    assert _create(session, lb.service_entry("app"),
                   healthCheckGracePeriodSeconds=grace)["service"]["healthCheckGracePeriodSeconds"] == grace
    _passes(session, grace - 5)
    first = _tasks(session)
    assert [(t["lastStatus"], t["desiredStatus"]) for t in first] == [("RUNNING", "RUNNING")]
    states = loadbalancer.target_health(session, lb)
    assert states["state"].tolist() == ["unhealthy"]  # unhealthy, yet within the grace period: kept
    assert _described(session)["deployments"][0]["rolloutState"] == "IN_PROGRESS"  # not COMPLETED: not healthy
    _passes(session, 10)
    tasks = {t["taskArn"]: t for t in _tasks(session)}
    stopped = tasks[first[0]["taskArn"]]
    assert stopped["desiredStatus"] == "STOPPED" and stopped["stopCode"] == "ServiceSchedulerInitiated"
    assert stopped["stoppedReason"] == f"Task failed ELB health checks in (target-group {lb.target_group_arn})"
    assert [t["desiredStatus"] for arn, t in tasks.items() if arn != first[0]["taskArn"]] == ["RUNNING"]
    messages = [e["message"] for e in _described(session)["events"]]
    assert any(f"(port 8080) is unhealthy in (target-group {lb.target_group_arn}) due to (reason Health checks "
               "failed)." in m for m in messages), messages
    assert any(f"registered 1 targets in (target-group {lb.target_group_arn})" in m for m in messages), messages


def test_a_grace_period_without_a_load_balancer_is_refused(session):
    _task_definition(session)
    prereqs.ensure_cluster(session, CLUSTER)
    _refused(lambda: session.client("ecs").create_service(
        cluster=CLUSTER, serviceName=SERVICE, taskDefinition=SERVICE, desiredCount=1, launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": prereqs.network(session)}, healthCheckGracePeriodSeconds=10),
        "Health check grace period is only valid for services configured to use load balancers")
    assert session.client("ecs").list_services(cluster=CLUSTER)["serviceArns"] == []


def _two_ports(session) -> None:
    """Revision 1 maps the health check's port too (healthy); revision 2 maps only the traffic port (unhealthy)."""
    container = {"name": "app", "image": "busybox", "essential": True,
                 "portMappings": [{"containerPort": 8080}, {"containerPort": int(CHECK_PORT)}]}
    session.client("ecs").register_task_definition(
        family=SERVICE, requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256", memory="512",
        containerDefinitions=[container])


def test_the_circuit_breaker_counts_elb_health_failures_and_rolls_back(session):
    # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-circuit-breaker.html: tasks that
    # fail Elastic Load Balancing health checks count as failed; threshold 3 for one desired task
    lb = _lb(session, interval=5, timeout=2, unhealthy_threshold=2, deregistration_delay=0)
    _failing_health_checks(session, lb)
    _two_ports(session)
    _create(session, lb.service_entry("app"),
            deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}})
    _passes(session, 5)
    assert _described(session)["deployments"][0]["rolloutState"] == "COMPLETED"
    v2 = _task_definition(session)
    session.client("ecs").update_service(cluster=CLUSTER, service=SERVICE, taskDefinition=v2)
    _passes(session, 12)
    # the old task is not stopped while the new one is not a healthy target (minimumHealthyPercent 100)
    old = [t for t in _tasks(session) if t["taskDefinitionArn"].endswith(":1")]
    assert [(t["lastStatus"], t["desiredStatus"]) for t in old] == [("RUNNING", "RUNNING")]
    assert any(t["desiredStatus"] == "STOPPED" for t in _tasks(session) if t["taskDefinitionArn"] == v2)
    _passes(session, 60)
    deployments = _described(session)["deployments"]
    failed = [d for d in deployments if d["taskDefinition"] == v2]
    assert failed == [] or failed[0]["rolloutState"] == "FAILED", deployments
    assert deployments[0]["taskDefinition"].endswith(":1") and deployments[0]["rolloutState"] in ("IN_PROGRESS",
                                                                                                "COMPLETED")
    reasons = {t["stoppedReason"] for t in _tasks(session) if t["taskDefinitionArn"] == v2}
    assert reasons == {f"Task failed ELB health checks in (target-group {lb.target_group_arn})"}
    assert len([t for t in _tasks(session) if t["taskDefinitionArn"] == v2]) >= 3
    messages = [e["message"] for e in _described(session)["events"]]
    assert any("deployment failed: tasks failed to start." in m for m in messages), messages


def test_a_rolling_deployment_completes_only_once_new_targets_are_healthy_and_old_ones_drained(session):
    delay = 10
    lb = _lb(session, interval=5, timeout=2, deregistration_delay=delay)
    _task_definition(session)
    _create(session, lb.service_entry("app"))
    _passes(session, 5)
    assert _described(session)["deployments"][0]["rolloutState"] == "COMPLETED"
    v2 = _task_definition(session)
    session.client("ecs").update_service(cluster=CLUSTER, service=SERVICE, taskDefinition=v2)
    seen_draining = False
    for _ in range(60):
        _passes(session, 1)
        described = _described(session)
        health = loadbalancer.target_health(session, lb)
        seen_draining = seen_draining or "draining" in set(health["state"])
        if described["deployments"][0]["rolloutState"] == "COMPLETED":
            break
    else:
        pytest.fail(f"never completed: {described['deployments']}")
    assert seen_draining and health["state"].tolist() == ["healthy"]  # the old target drained, the new healthy
    tasks = _tasks(session)
    assert {t["taskDefinitionArn"]: t["lastStatus"] for t in tasks} == {
        t["taskDefinitionArn"]: ("RUNNING" if t["taskDefinitionArn"] == v2 else "STOPPED") for t in tasks}
    messages = [e["message"] for e in described["events"]]
    assert any(f"deregistered 1 targets in (target-group {lb.target_group_arn})" in m for m in messages), messages
    assert any("has begun draining connections on 1 tasks." in m for m in messages), messages
    assert messages[0].endswith("has reached a steady state.")


def test_ensure_service_puts_the_service_behind_the_load_balancer_once(session):
    from helpers import services

    lb = _lb(session)
    definition = {"family": SERVICE, "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc", "cpu": "256",
                  "memory": "512", "containerDefinitions": [{"name": "app", "image": "busybox", "essential": True,
                                                             "portMappings": [{"containerPort": 8080}]}]}
    prereqs.ensure_cluster(session, CLUSTER)
    created = services.ensure_service(session, CLUSTER, SERVICE, definition, desired_count=1, load_balancer=lb)
    assert created["loadBalancers"] == [lb.service_entry("app")] and created["healthCheckGracePeriodSeconds"] == 30
    again = services.ensure_service(session, CLUSTER, SERVICE, definition, desired_count=1, load_balancer=lb)
    assert len(again["deployments"]) == 1  # nothing differed: no update, no new deployment
