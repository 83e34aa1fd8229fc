"""helpers.loadbalancer on the embedded backend: an ALB, target group, listener and the security group rules
between them, idempotent and tagged; a frame of target health; ELBv2's own errors for bad input.

Shapes and rules cited: CreateLoadBalancer's name rule and idempotency,
https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateLoadBalancer.html; TargetHealth,
https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_TargetHealth.html.
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from helpers import cleanup, loadbalancer, local
from helpers.errors import InvalidParameter, LoadBalancerRefused
from helpers.tags import SUITE_TAG_KEY, SUITE_TAG_VALUE
from tests.backends import lab_session
from tests.resources import snapshot
from tests.test_elbv2 import Target


@pytest.fixture
def session(simulated_backend):
    local.reset(simulated_backend.port)
    yield lab_session(simulated_backend)
    local.reset(simulated_backend.port)


def _tags(elbv2, arn: str) -> dict[str, str]:
    described = elbv2.describe_tags(ResourceArns=[arn])["TagDescriptions"][0]["Tags"]
    return {t["Key"]: t["Value"] for t in described}


def test_ensure_makes_every_part_once_tagged_and_wires_the_security_groups(session):
    first = loadbalancer.ensure_load_balancer(session, "web", container_port=8080)
    before = snapshot(session)
    again = loadbalancer.ensure_load_balancer(session, "web", container_port=8080)
    assert again == first and snapshot(session) == before  # idempotent: nothing new
    elbv2, ec2 = session.client("elbv2"), session.client("ec2")
    for arn in (first.arn, first.target_group_arn, first.listener_arn):
        assert _tags(elbv2, arn)[SUITE_TAG_KEY] == SUITE_TAG_VALUE
    group = elbv2.describe_target_groups(TargetGroupArns=[first.target_group_arn])["TargetGroups"][0]
    assert (group["TargetType"], group["Port"], group["HealthCheckPath"]) == ("ip", 8080, "/health")
    listener = elbv2.describe_listeners(ListenerArns=[first.listener_arn])["Listeners"][0]
    assert listener["Port"] == 80 and listener["DefaultActions"][0]["TargetGroupArn"] == first.target_group_arn

    groups = {g["GroupId"]: g for g in ec2.describe_security_groups()["SecurityGroups"]}
    alb_in = groups[first.security_group_id]["IpPermissions"]
    assert [(p["FromPort"], p["IpRanges"][0]["CidrIp"]) for p in alb_in] == [(80, "0.0.0.0/0")]
    tasks = next(g for g in groups.values() if g["GroupName"] == "fargate-lab-tasks")
    assert [(p["FromPort"], p["UserIdGroupPairs"][0]["GroupId"]) for p in tasks["IpPermissions"]] == [
        (8080, first.security_group_id)]
    assert first.service_entry("app") == {"targetGroupArn": first.target_group_arn, "containerName": "app",
                                          "containerPort": 8080}


def test_ensure_aligns_a_changed_health_check(session):
    loadbalancer.ensure_load_balancer(session, "web", health_check_path="/health")
    made = loadbalancer.ensure_load_balancer(session, "web", health_check_path="/ready", interval=15)
    group = session.client("elbv2").describe_target_groups(TargetGroupArns=[made.target_group_arn])["TargetGroups"][0]
    assert (group["HealthCheckPath"], group["HealthCheckIntervalSeconds"]) == ("/ready", 15)


def test_the_url_answers_through_the_listener_and_the_frame_shows_target_health(session, simulated_backend):
    made = loadbalancer.ensure_load_balancer(session, "web", container_port=8080)
    target = Target("t1")
    try:
        session.client("elbv2").register_targets(TargetGroupArn=made.target_group_arn,
                                                 Targets=[{"Id": "127.0.0.1", "Port": target.port}])
        frame = loadbalancer.target_health(session, made)
        assert list(frame.columns) == loadbalancer.HEALTH_COLUMNS
        assert frame.to_dict("records") == [{"target": "127.0.0.1", "port": target.port, "state": "healthy",
                                             "reason": "", "description": ""}]
        url = loadbalancer.url(session, made)
        assert url == local.listener_urls(simulated_backend.port)[made.listener_arn]
        with urllib.request.urlopen(url + "/hello", timeout=10) as answer:
            assert json.loads(answer.read())["target"] == "t1"
    finally:
        target.close()


def test_bad_input_gets_elbv2s_own_errors_before_a_load_balancer_exists(session):
    with pytest.raises(LoadBalancerRefused, match="ValidationError") as caught:
        loadbalancer.ensure_load_balancer(session, "web", health_check_path="health")
    assert caught.value.operation == "create_target_group"
    with pytest.raises(LoadBalancerRefused, match="ValidationError"):
        loadbalancer.ensure_load_balancer(session, "web", interval=5, timeout=5)
    with pytest.raises(InvalidParameter, match="internal-"):
        loadbalancer.ensure_load_balancer(session, "internal-web")
    assert session.client("elbv2").describe_load_balancers()["LoadBalancers"] == []


def test_cleanup_deletes_the_listener_load_balancer_and_target_group_it_tagged(session):
    made = loadbalancer.ensure_load_balancer(session, "web")
    found = cleanup.inventory(session, kinds=["listener", "load balancer", "target group", "security group"])
    rows = dict(zip(found["kind"], found["name"], strict=False))
    assert rows["listener"] == "web:80" and rows["load balancer"] == "web" and rows["target group"] == "web"
    alb_day = found.loc[found.kind == "load balancer", "cost_per_day_usd"].item()
    assert alb_day == pytest.approx(cleanup.ALB_HOUR * 24)
    assert "LCUs not estimated" in found.loc[found.kind == "load balancer", "note"].item()
    done = cleanup.cleanup(session, dry_run=False, progress=False,
                           kinds=["listener", "load balancer", "target group", "security group"])
    assert set(done["action"]) == {"deleted"}, done.to_dict("records")
    left = snapshot(session)
    assert not left["load balancer"] and not left["target group"] and not left["listener"]
    assert made.listener_arn not in local.listener_urls(int(session.endpoint_url.rsplit(":", 1)[1]))
