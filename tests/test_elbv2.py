"""ELBv2 in the emulator, with a data plane: real listeners on 127.0.0.1, real health checks on the emulator's clock.

Targets are tiny HTTP servers of the test's own on 127.0.0.1. Shapes and rules cited:
- TargetHealth's states and reason codes: https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_TargetHealth.html
- one passed check makes a new target healthy; thresholds; fail open when only unhealthy targets remain:
  https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html
- 502/503/504 the load balancer generates itself:
  https://docs.amazonaws.cn/en_us/elasticloadbalancing/latest/application/load-balancer-troubleshooting.md
- a target group of another VPC: InvalidConfigurationRequest "... is in a different VPC than load balancer ..."
  (as AWS answered in https://github.com/kubernetes-sigs/aws-load-balancer-controller/issues/1045)
- the health check path "must begin with a '/' character":
  https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateTargetGroup.html
"""

from __future__ import annotations

import http.client
import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore.exceptions import ClientError

from helpers import local
from tests.backends import lab_session


class Target:
    """A real HTTP server on 127.0.0.1: ``/`` echoes who answered and the headers it got; ``/health`` answers
    ``health_status`` (or hangs while ``hang`` is set)."""

    def __init__(self, name: str) -> None:
        self.name, self.health_status, self.hang, self.requests = name, 200, threading.Event(), 0
        self.released = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                if self.path == "/health":
                    if outer.hang.is_set():
                        outer.released.wait(3)  # longer than the check's timeout, until the test lets go
                    status, body = outer.health_status, b"ok"
                else:
                    outer.requests += 1
                    status = 200
                    body = json.dumps({"target": outer.name, "path": self.path,
                                       "headers": dict(self.headers.items())}).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except BrokenPipeError:
                    pass  # the load balancer gave up waiting (the 504 and timeout tests)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def targets():
    made: list[Target] = []

    def make(name: str) -> Target:
        made.append(Target(name))
        return made[-1]

    yield make
    for target in made:
        target.close()


@pytest.fixture
def elb(simulated_backend):
    local.reset(simulated_backend.port)
    session = lab_session(simulated_backend)
    yield session.client("elbv2"), session.client("ec2"), simulated_backend.port
    local.reset(simulated_backend.port)


def _network(ec2) -> tuple[str, list[str]]:
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    return vpc, [s["SubnetId"] for s in subnets[:2]]


def _stack(elbv2, ec2, *, interval=10, healthy=3, unhealthy=2, delay=30):
    """An ALB, an ip target group (health check on /health) and an HTTP listener on port 80 forwarding to it."""
    vpc, subnets = _network(ec2)
    lb = elbv2.create_load_balancer(Name="web", Subnets=subnets, Type="application")["LoadBalancers"][0]
    tg = elbv2.create_target_group(
        Name="web", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip", HealthCheckPath="/health",
        HealthCheckIntervalSeconds=interval, HealthCheckTimeoutSeconds=2, HealthyThresholdCount=healthy,
        UnhealthyThresholdCount=unhealthy)["TargetGroups"][0]
    elbv2.modify_target_group_attributes(TargetGroupArn=tg["TargetGroupArn"], Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": str(delay)}])
    listener = elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                                     DefaultActions=[{"Type": "forward",
                                                      "TargetGroupArn": tg["TargetGroupArn"]}])["Listeners"][0]
    return lb, tg["TargetGroupArn"], listener


def _health(elbv2, tg_arn) -> dict[int, tuple[str, str | None]]:
    answer = elbv2.describe_target_health(TargetGroupArn=tg_arn)["TargetHealthDescriptions"]
    return {d["Target"]["Port"]: (d["TargetHealth"]["State"], d["TargetHealth"].get("Reason")) for d in answer}


def _get(url: str, path: str = "/") -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url + path)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_a_listener_forwards_round_robin_to_healthy_targets_with_forwarded_headers(elb, targets):
    elbv2, ec2, port = elb
    local.set_clock("manual", port)
    lb, tg_arn, listener = _stack(elbv2, ec2)
    a, b = targets("a"), targets("b")
    elbv2.register_targets(TargetGroupArn=tg_arn, Targets=[{"Id": "127.0.0.1", "Port": a.port},
                                                           {"Id": "127.0.0.1", "Port": b.port}])
    url = local.listener_urls(port)[listener["ListenerArn"]]
    assert url.startswith("http://127.0.0.1:")
    assert _health(elbv2, tg_arn) == {a.port: ("healthy", None), b.port: ("healthy", None)}  # one check passed

    answers = [json.loads(_get(url, f"/n{i}")[2]) for i in range(4)]
    assert [x["target"] for x in answers] in (["a", "b", "a", "b"], ["b", "a", "b", "a"])
    headers = answers[0]["headers"]
    assert headers["X-Forwarded-For"] == "127.0.0.1" and headers["X-Forwarded-Proto"] == "http"
    assert headers["X-Forwarded-Port"] == "80" and headers["X-Amzn-Trace-Id"].startswith("Root=1-")

    # keep-alive: several requests over one client connection
    connection = http.client.HTTPConnection("127.0.0.1", int(url.rsplit(":", 1)[1]), timeout=10)
    for _ in range(3):
        connection.request("GET", "/kept")
        response = connection.getresponse()
        assert response.status == 200 and not response.will_close
        response.read()
    connection.close()


def test_health_checks_follow_thresholds_on_the_emulator_clock_with_aws_reason_codes(elb, targets):
    elbv2, ec2, port = elb
    local.set_clock("manual", port)
    lb, tg_arn, listener = _stack(elbv2, ec2, interval=10, healthy=3, unhealthy=2)
    good, bad = targets("good"), targets("bad")
    bad.health_status = 500
    elbv2.register_targets(TargetGroupArn=tg_arn, Targets=[{"Id": "127.0.0.1", "Port": good.port},
                                                           {"Id": "127.0.0.1", "Port": bad.port}])
    assert _health(elbv2, tg_arn) == {good.port: ("healthy", None),
                                      bad.port: ("initial", "Elb.InitialHealthChecking")}
    local.advance_clock(5, port)  # no check due yet
    assert _health(elbv2, tg_arn)[bad.port] == ("initial", "Elb.InitialHealthChecking")
    local.advance_clock(5, port)  # the second failed check: the unhealthy threshold
    detail = {d["Target"]["Port"]: d for d in
              elbv2.describe_target_health(TargetGroupArn=tg_arn)["TargetHealthDescriptions"]}[bad.port]
    assert detail["TargetHealth"] == {"State": "unhealthy", "Reason": "Target.ResponseCodeMismatch",
                                      "Description": "Health checks failed with these codes: [500]"}
    assert detail["HealthCheckPort"] == str(bad.port)

    url = local.listener_urls(port)[listener["ListenerArn"]]
    assert {json.loads(_get(url)[2])["target"] for _ in range(4)} == {"good"}  # unhealthy gets no traffic

    bad.health_status = 200  # back to healthy only after HealthyThresholdCount (3) passed checks
    local.advance_clock(20, port)
    assert _health(elbv2, tg_arn)[bad.port][0] == "unhealthy"
    local.advance_clock(10, port)
    assert _health(elbv2, tg_arn)[bad.port] == ("healthy", None)

    good.close()  # connection refused: Target.FailedHealthChecks after two failed checks
    local.advance_clock(20, port)
    assert _health(elbv2, tg_arn)[good.port] == ("unhealthy", "Target.FailedHealthChecks")


def test_a_target_that_does_not_answer_in_time_is_unhealthy_by_timeout(elb, targets):
    elbv2, ec2, port = elb
    local.set_clock("manual", port)
    _, tg_arn, _ = _stack(elbv2, ec2, interval=10, unhealthy=2)
    slow = targets("slow")
    slow.hang.set()  # /health takes 3 s, the timeout is 2 s
    elbv2.register_targets(TargetGroupArn=tg_arn, Targets=[{"Id": "127.0.0.1", "Port": slow.port}])
    local.advance_clock(10, port)  # two intervals' checks due: both time out
    assert _health(elbv2, tg_arn)[slow.port] == ("unhealthy", "Target.Timeout")


def test_a_deregistered_target_drains_for_the_delay_then_is_gone(elb, targets):
    elbv2, ec2, port = elb
    local.set_clock("manual", port)
    _, tg_arn, listener = _stack(elbv2, ec2, delay=30)
    a, b = targets("a"), targets("b")
    elbv2.register_targets(TargetGroupArn=tg_arn, Targets=[{"Id": "127.0.0.1", "Port": a.port},
                                                           {"Id": "127.0.0.1", "Port": b.port}])
    _health(elbv2, tg_arn)
    elbv2.deregister_targets(TargetGroupArn=tg_arn, Targets=[{"Id": "127.0.0.1", "Port": a.port}])
    assert _health(elbv2, tg_arn)[a.port] == ("draining", "Target.DeregistrationInProgress")
    url = local.listener_urls(port)[listener["ListenerArn"]]
    assert {json.loads(_get(url)[2])["target"] for _ in range(4)} == {"b"}  # no new request to a draining target
    local.advance_clock(29, port)
    assert _health(elbv2, tg_arn)[a.port][0] == "draining"
    local.advance_clock(1, port)
    assert a.port not in _health(elbv2, tg_arn)
    explicit = elbv2.describe_target_health(TargetGroupArn=tg_arn, Targets=[{"Id": "127.0.0.1", "Port": a.port}])
    assert explicit["TargetHealthDescriptions"][0]["TargetHealth"]["State"] == "unused"
    assert explicit["TargetHealthDescriptions"][0]["TargetHealth"]["Reason"] == "Target.NotRegistered"


def test_no_target_gives_503_a_refusing_one_502_a_silent_one_504(elb, targets):
    elbv2, ec2, port = elb
    lb, tg_arn, listener = _stack(elbv2, ec2)
    url = local.listener_urls(port)[listener["ListenerArn"]]
    status, headers, body = _get(url)
    assert status == 503 and headers["Server"] == "awselb/2.0" and b"503 Service Temporarily Unavailable" in body

    gone = targets("gone")
    gone.close()  # registered, never healthy: the ALB fails open to it, and the refused connection is a 502
    elbv2.register_targets(TargetGroupArn=tg_arn, Targets=[{"Id": "127.0.0.1", "Port": gone.port}])
    assert _get(url)[0] == 502

    elbv2.deregister_targets(TargetGroupArn=tg_arn, Targets=[{"Id": "127.0.0.1", "Port": gone.port}])
    slow = targets("slow")
    slow.hang.set()
    elbv2.modify_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"], Attributes=[
        {"Key": "idle_timeout.timeout_seconds", "Value": "1"}])
    elbv2.register_targets(TargetGroupArn=tg_arn, Targets=[{"Id": "127.0.0.1", "Port": slow.port}])
    assert _get(url, "/health")[0] == 504


def test_a_target_group_no_listener_uses_has_unused_targets(elb, targets):
    elbv2, ec2, port = elb
    vpc, _ = _network(ec2)
    tg = elbv2.create_target_group(Name="idle", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip")
    tg_arn = tg["TargetGroups"][0]["TargetGroupArn"]
    elbv2.register_targets(TargetGroupArn=tg_arn, Targets=[{"Id": "10.0.0.5"}])
    assert _health(elbv2, tg_arn) == {8080: ("unused", "Target.NotInUse")}


def test_deleting_a_listener_or_load_balancer_stops_it_listening(elb):
    elbv2, ec2, port = elb
    lb, tg_arn, listener = _stack(elbv2, ec2)
    url = local.listener_urls(port)[listener["ListenerArn"]]
    elbv2.delete_listener(ListenerArn=listener["ListenerArn"])
    assert listener["ListenerArn"] not in local.listener_urls(port)
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=5)
    second = elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80, DefaultActions=[
        {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200", "MessageBody": "hi"}}])
    url = local.listener_urls(port)[second["Listeners"][0]["ListenerArn"]]
    assert _get(url)[:1] == (200,) and _get(url)[2] == b"hi"
    elbv2.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    assert local.listener_urls(port) == {}


def test_bad_input_gets_elbv2s_own_errors(elb):
    elbv2, ec2, port = elb
    lb, tg_arn, listener = _stack(elbv2, ec2)
    vpc, _ = _network(ec2)

    def code(call, **kwargs) -> tuple[str, str]:
        with pytest.raises(ClientError) as caught:
            call(**kwargs)
        return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]

    forward = [{"Type": "forward", "TargetGroupArn": tg_arn}]
    assert code(elbv2.create_listener, LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                DefaultActions=forward)[0] == "DuplicateListener"
    assert code(elbv2.create_target_group, Name="nopath", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip",
                HealthCheckPath="health")[0] == "ValidationError"
    other = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    far = elbv2.create_target_group(Name="far", Protocol="HTTP", Port=80, VpcId=other, TargetType="ip")
    far_arn = far["TargetGroups"][0]["TargetGroupArn"]
    error, message = code(elbv2.create_listener, LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=81,
                          DefaultActions=[{"Type": "forward", "TargetGroupArn": far_arn}])
    assert error == "InvalidConfigurationRequest" and "different VPC" in message
    assert code(elbv2.register_targets, TargetGroupArn=tg_arn, Targets=[{"Id": "8.8.8.8"}])[0] == "ValidationError"
    assert code(elbv2.register_targets, TargetGroupArn=tg_arn, Targets=[{"Id": "i-123"}])[0] == "ValidationError"
    _, subnets = _network(ec2)
    assert code(elbv2.create_load_balancer, Name="internal-web", Subnets=subnets)[0] == "ValidationError"
    assert code(elbv2.create_load_balancer, Name="web", Subnets=subnets,
                Scheme="internal")[0] == "DuplicateLoadBalancerName"
    same = elbv2.create_load_balancer(Name="web", Subnets=subnets, Type="application")  # idempotent
    assert same["LoadBalancers"][0]["LoadBalancerArn"] == lb["LoadBalancerArn"]


def test_listeners_serve_again_after_a_restart_with_their_targets_health(targets):
    from tests.backends import free_port

    port = free_port()
    info = local.start(port, runtime="simulated")
    try:
        session = lab_session(info)
        elbv2, ec2 = session.client("elbv2"), session.client("ec2")
        _, tg_arn, listener = _stack(elbv2, ec2)
        a = targets("a")
        elbv2.register_targets(TargetGroupArn=tg_arn, Targets=[{"Id": "127.0.0.1", "Port": a.port}])
        assert _health(elbv2, tg_arn) == {a.port: ("healthy", None)}
        url = local.listener_urls(port)[listener["ListenerArn"]]
        local.stop(port)
        info = local.start(port, runtime="simulated")
        assert local.listener_urls(port) == {listener["ListenerArn"]: url}  # the same address when it is free
        assert _health(elbv2, tg_arn) == {a.port: ("healthy", None)}
        assert json.loads(_get(url)[2])["target"] == "a"
    finally:
        local.stop(port)
