"""An ECS service with loadBalancers registers its RUNNING tasks as targets (their private IPv4 address and the
entry's containerPort, as ECS does) and deregisters the ones it stops; a deleted service leaves no target.

Simulated runtime: a real server on a manual clock (time moves by advance_clock, each DescribeServices is a
scheduler pass); a simulated task passes its health checks without a probe and a request to it gets a 502.
Docker runtime: real containers, reached through the listener at the port Docker published for them.

ECS registers the task's private IPv4 address and the entry's containerPort, and deregisters a stopping task:
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-load-balancing.html
A deregistered target is ``draining`` (Target.DeregistrationInProgress) for the deregistration delay:
https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_TargetHealth.html
"""

from __future__ import annotations

import ipaddress
import time
import urllib.error
import urllib.request

import pytest

from helpers import loadbalancer, local, prereqs
from tests.backends import embedded_backend, lab_session

CLUSTER, SERVICE, DELAY = "lab", "web", 30


@pytest.fixture
def session(simulated_backend):
    local.reset(simulated_backend.port)
    local.set_clock("manual", simulated_backend.port)
    yield lab_session(simulated_backend)
    local.reset(simulated_backend.port)


def _service(session, lb, image: str, count: int, command: list[str] | None = None) -> None:
    ecs = session.client("ecs")
    prereqs.ensure_cluster(session, CLUSTER)
    container = {"name": "app", "image": image, "essential": True, "stopTimeout": 2,
                 "portMappings": [{"containerPort": lb.container_port}]}
    if command:
        container["command"] = command
    ecs.register_task_definition(family=SERVICE, requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
                                 cpu="256", memory="512", containerDefinitions=[container])
    ecs.create_service(cluster=CLUSTER, serviceName=SERVICE, taskDefinition=SERVICE, desiredCount=count,
                       launchType="FARGATE", networkConfiguration={"awsvpcConfiguration": prereqs.network(session)},
                       loadBalancers=[lb.service_entry("app")])


def _running(session) -> dict[str, str]:
    """{private IPv4 address: task ARN} of the service's RUNNING tasks."""
    ecs = session.client("ecs")
    arns = ecs.list_tasks(cluster=CLUSTER, serviceName=SERVICE)["taskArns"]
    described = ecs.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"] if arns else []
    return {d["value"]: t["taskArn"] for t in described if t["lastStatus"] == "RUNNING"
            for a in t["attachments"] for d in a["details"] if d["name"] == "privateIPv4Address"}


def _until(session, done, what: str, step: float = 1.0, passes: int = 120, real: float = 0.0):
    """Scheduler passes (DescribeServices), the clock moved by ``step`` between them, until ``done()`` answers
    something; ``real`` seconds of real waiting between passes where real containers start on their own."""
    ecs = session.client("ecs")
    for _ in range(passes):
        ecs.describe_services(cluster=CLUSTER, services=[SERVICE])
        found = done()
        if found:
            return found
        local.advance_clock(step, _port(session))
        time.sleep(real)
    pytest.fail(f"never: {what}; targets {loadbalancer.target_health(session, _lb(session)).to_dict('records')}")


def _port(session) -> int:
    return int(session.endpoint_url.rsplit(":", 1)[1])


def _lb(session):
    return loadbalancer.ensure_load_balancer(session, SERVICE, container_port=8080, deregistration_delay=DELAY)


def _states(session, lb) -> dict[str, str]:
    """{target address: state}, each target's port checked to be the container port."""
    frame = loadbalancer.target_health(session, lb)
    assert set(frame["port"]) <= {lb.container_port}
    return dict(zip(frame["target"], frame["state"], strict=True))


def _healthy(session, lb, count: int):
    def done():
        running, states = _running(session), _states(session, lb)
        if len(running) == count and states == dict.fromkeys(running, "healthy"):
            return running
        return None
    return done


def test_a_services_tasks_are_targets_a_stopped_one_drains_and_a_deleted_service_leaves_none(session):
    lb = _lb(session)
    _service(session, lb, "busybox", 2)
    first = _until(session, _healthy(session, lb, 2), "two healthy targets at the tasks' addresses")

    stopped_ip, stopped_arn = next(iter(first.items()))
    session.client("ecs").stop_task(cluster=CLUSTER, task=stopped_arn, reason="test")
    states = _until(session, lambda: (s := _states(session, lb)).get(stopped_ip) == "draining" and s,
                    "the stopped task's target draining", step=0)
    frame = loadbalancer.target_health(session, lb)
    assert frame[frame.target == stopped_ip]["reason"].tolist() == ["Target.DeregistrationInProgress"]
    assert [state for ip, state in states.items() if ip != stopped_ip] == ["healthy"]
    replaced = _until(session, _healthy(session, lb, 2), "the replacement task a healthy target", step=DELAY)
    assert stopped_ip not in replaced and set(replaced) & set(first)

    session.client("ecs").delete_service(cluster=CLUSTER, service=SERVICE, force=True)
    _until(session, lambda: set(_states(session, lb).values()) == {"draining"}, "every target draining", step=0.5)
    local.advance_clock(DELAY, _port(session))
    assert loadbalancer.target_health(session, lb).empty


def _task(session, arn: str) -> dict:
    return session.client("ecs").describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"][0]


def test_a_stopped_task_stays_deactivating_while_its_target_drains_then_stops(session):
    # ECS: a task behind a load balancer stays DEACTIVATING (desired STOPPED) for the deregistration delay
    # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-lifecycle-explanation.html
    lb = _lb(session)
    _service(session, lb, "busybox", 1)
    ip, arn = next(iter(_until(session, _healthy(session, lb, 1), "a healthy target").items()))
    session.client("ecs").stop_task(cluster=CLUSTER, task=arn, reason="test")
    for _ in range(3):  # DELAY - 1 seconds pass: still draining (a simulated task stops within 0.3 s once told)
        local.advance_clock((DELAY - 1) / 3, _port(session))
        task = _task(session, arn)
        assert (task["lastStatus"], task["desiredStatus"], task["stopCode"]) == ("DEACTIVATING", "STOPPED",
                                                                               "UserInitiated")
        assert _states(session, lb)[ip] == "draining"
    local.advance_clock(1, _port(session))  # drained: the target is gone, the containers are stopped now
    assert ip not in _states(session, lb)
    stopped = _until(session, lambda: (t := _task(session, arn))["lastStatus"] == "STOPPED" and t, "STOPPED",
                     step=0.1)
    assert stopped["stoppedReason"] == "test"


def test_a_request_to_a_simulated_task_target_gets_502(session):
    lb = _lb(session)
    _service(session, lb, "busybox", 1)
    _until(session, _healthy(session, lb, 1), "a healthy target")
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(loadbalancer.url(session, lb), timeout=10)
    assert answer.value.code == 502  # nothing listens in a simulated task


SERVE = ("mkdir -p /w && hostname > /w/index.html && echo ok > /w/health && exec httpd -f -p 8080 -h /w")


@pytest.mark.docker
def test_requests_through_the_listener_reach_every_real_task(docker_client, base_image):
    with embedded_backend(runtime="docker") as info:
        session = lab_session(info)
        lb = _lb(session)
        _service(session, lb, base_image, 2, ["sh", "-c", SERVE])
        first = _until(session, _healthy(session, lb, 2), "two healthy targets", step=10, real=0.5)
        subnets = session.client("ec2").describe_subnets(SubnetIds=prereqs.network(session)["subnets"])["Subnets"]
        cidrs = [ipaddress.ip_network(s["CidrBlock"]) for s in subnets]
        # the tasks' own addresses from their subnet, not 127.0.0.1
        assert all(any(ipaddress.ip_address(ip) in cidr for cidr in cidrs) for ip in first), (first, cidrs)
        url = loadbalancer.url(session, lb)
        answered = set()
        for _ in range(4):
            with urllib.request.urlopen(url, timeout=10) as answer:
                answered.add(answer.read().strip())
        assert len(answered) == 2  # round robin: both tasks' containers answered (each its own hostname)

        stopped_ip, stopped_arn = next(iter(first.items()))
        session.client("ecs").stop_task(cluster=CLUSTER, task=stopped_arn, reason="test")
        _until(session, lambda: _states(session, lb).get(stopped_ip) == "draining", "the stopped task draining",
               step=0, real=0.2)
        assert _task(session, stopped_arn)["lastStatus"] == "DEACTIVATING"  # its container runs out the delay
        with urllib.request.urlopen(url, timeout=10) as answer:
            assert answer.status == 200  # the other task still serves

        session.client("ecs").delete_service(cluster=CLUSTER, service=SERVICE, force=True)
        _until(session, lambda: set(_states(session, lb).values()) <= {"draining"}, "every target draining",
               step=0, real=0.2)
        local.advance_clock(DELAY, info.port)
        assert loadbalancer.target_health(session, lb).empty
