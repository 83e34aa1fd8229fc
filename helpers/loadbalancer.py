"""An Application Load Balancer in front of a Fargate service: ensure it, reach it, see its targets' health.

``ensure_load_balancer`` makes (or finds and aligns) the four parts AWS needs, idempotently and tagged as the
suite's: a security group for the load balancer (HTTP in on the listener's port), an ``ip`` target group (Fargate
tasks are registered by address) with its health check, the ALB itself in the VPC's subnets, and an HTTP listener
forwarding to the group; then it lets the load balancer's group reach the tasks' group on the container port. What
exists already is not re-tagged: the suite's tags mean "the suite created this", and cleanup relies on that.

ELBv2 checks the input itself (names, ports, the health check path, VPCs) and its refusal is raised as
``LoadBalancerRefused`` with ELBv2's code and message; the target group is made first, so its checks refuse bad
input before a load balancer (which is billed by the hour) exists.

``url`` is where the listener answers: on AWS ``http://DNSName[:port]``; on the embedded backend the address
the emulator lists for the listener on 127.0.0.1 (``helpers.local.listener_urls``), since AWS's name does not
resolve there.
"""

from __future__ import annotations

import re
import threading
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import botocore.exceptions
import pandas as pd

from helpers import prereqs
from helpers.errors import InvalidParameter, LoadBalancerRefused
from helpers.tags import as_aws, suite_tags

DEFAULT_NAME = "fargate-lab-web"
#: ELBv2's rule for a load balancer's name (CreateLoadBalancer's Name): at most 32 alphanumerics or hyphens, no
#: hyphen first or last, not "internal-" first. The target group (made first) is checked by ELBv2 itself.
NAME_PATTERN = re.compile(r"(?!internal-)(?!-)[A-Za-z0-9-]{1,32}(?<!-)")
HEALTH_COLUMNS = ["target", "port", "state", "reason", "description"]


@dataclass(frozen=True)
class LoadBalancer:
    """What ``ensure_load_balancer`` made or found: the ARNs and ids a service and cleanup need."""

    name: str
    arn: str
    dns_name: str
    listener_arn: str
    target_group_arn: str
    security_group_id: str
    port: int
    container_port: int

    def service_entry(self, container_name: str) -> dict[str, Any]:
        """The ``loadBalancers`` entry of an ECS service whose container ``container_name`` is the target."""
        return {"targetGroupArn": self.target_group_arn, "containerName": container_name,
                "containerPort": self.container_port}


def _refused(operation: str, error: botocore.exceptions.ClientError) -> LoadBalancerRefused:
    details = error.response.get("Error", {})
    return LoadBalancerRefused(operation, details.get("Code", "?"), details.get("Message", str(error)))


def _call(client: Any, operation: str, **kwargs: Any) -> Any:
    """One ELBv2 call; its refusal becomes LoadBalancerRefused (the AWS error stays attached as the cause)."""
    try:
        return getattr(client, operation)(**kwargs)
    except botocore.exceptions.ClientError as error:
        raise _refused(operation, error) from error


def _code(error: botocore.exceptions.ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def _allow(ec2: Any, group_id: str, port: int, *, cidr: str | None = None, source: str | None = None) -> None:
    """Let ``cidr`` or the group ``source`` reach ``group_id`` on TCP ``port``; already allowed is fine."""
    permission: dict[str, Any] = {"IpProtocol": "tcp", "FromPort": port, "ToPort": port}
    if cidr:
        permission["IpRanges"] = [{"CidrIp": cidr, "Description": "fargate-lab: HTTP to the load balancer"}]
    else:
        permission["UserIdGroupPairs"] = [{"GroupId": source, "Description": "fargate-lab: from the load balancer"}]
    try:
        ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[permission])
    except botocore.exceptions.ClientError as error:
        if _code(error) != "InvalidPermission.Duplicate":
            raise


def _ensure_target_group(elbv2: Any, name: str, vpc_id: str, port: int, health: Mapping[str, Any],
                         deregistration_delay: int, tags: Mapping[str, str]) -> str:
    settings = {"HealthCheckPath": health["path"], "HealthCheckIntervalSeconds": health["interval"],
                "HealthCheckTimeoutSeconds": health["timeout"], "HealthyThresholdCount": health["healthy"],
                "UnhealthyThresholdCount": health["unhealthy"], "Matcher": {"HttpCode": health["codes"]}}
    try:
        group = elbv2.describe_target_groups(Names=[name])["TargetGroups"][0]
    except botocore.exceptions.ClientError as error:
        if _code(error) != "TargetGroupNotFound":
            raise _refused("describe_target_groups", error) from error
        group = _call(elbv2, "create_target_group", Name=name, Protocol="HTTP", Port=port, VpcId=vpc_id,
                      TargetType="ip", HealthCheckProtocol="HTTP", HealthCheckEnabled=True,
                      Tags=as_aws(tags), **settings)["TargetGroups"][0]
    else:
        if group["VpcId"] != vpc_id or group["Port"] != port or group.get("TargetType") != "ip":
            raise LoadBalancerRefused(
                "create_target_group", "DuplicateTargetGroupName",
                f"target group {name!r} exists with VPC {group['VpcId']}, port {group['Port']}, target type "
                f"{group.get('TargetType')}; a target group's VPC, port and type cannot change: choose another name "
                "or delete it first")
        if any(group.get(key) != value for key, value in settings.items()):
            _call(elbv2, "modify_target_group", TargetGroupArn=group["TargetGroupArn"], **settings)
    _call(elbv2, "modify_target_group_attributes", TargetGroupArn=group["TargetGroupArn"], Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": str(deregistration_delay)}])
    return group["TargetGroupArn"]


def _ensure_balancer(elbv2: Any, name: str, subnets: Sequence[str], group_id: str,
                     tags: Mapping[str, str]) -> dict:
    try:
        return elbv2.describe_load_balancers(Names=[name])["LoadBalancers"][0]
    except botocore.exceptions.ClientError as error:
        if _code(error) != "LoadBalancerNotFound":
            raise _refused("describe_load_balancers", error) from error
    created = _call(elbv2, "create_load_balancer", Name=name, Subnets=list(subnets), SecurityGroups=[group_id],
                    Scheme="internet-facing", Type="application", IpAddressType="ipv4", Tags=as_aws(tags))
    balancer = created["LoadBalancers"][0]
    elbv2.get_waiter("load_balancer_available").wait(LoadBalancerArns=[balancer["LoadBalancerArn"]],
                                                     WaiterConfig={"Delay": 5, "MaxAttempts": 60})
    return balancer


def _ensure_listener(elbv2: Any, balancer_arn: str, port: int, group_arn: str, tags: Mapping[str, str]) -> str:
    forward = [{"Type": "forward", "TargetGroupArn": group_arn}]
    for listener in elbv2.describe_listeners(LoadBalancerArn=balancer_arn)["Listeners"]:
        if listener["Port"] == port:
            actions = listener.get("DefaultActions") or []
            if [a.get("Type") for a in actions] != ["forward"] or actions[0].get("TargetGroupArn") != group_arn:
                _call(elbv2, "modify_listener", ListenerArn=listener["ListenerArn"], DefaultActions=forward)
            return listener["ListenerArn"]
    return _call(elbv2, "create_listener", LoadBalancerArn=balancer_arn, Protocol="HTTP", Port=port,
                 DefaultActions=forward, Tags=as_aws(tags))["Listeners"][0]["ListenerArn"]


def ensure_load_balancer(session: Any, name: str = DEFAULT_NAME, *, container_port: int = 8080, port: int = 80,
                         health_check_path: str = "/health", interval: int = 10, timeout: int = 5,
                         healthy_threshold: int = 2, unhealthy_threshold: int = 2, success_codes: str = "200",
                         deregistration_delay: int = 30, vpc_id: str | None = None,
                         subnets: Sequence[str] | None = None, task_security_group: str | None = None,
                         ingress_cidr: str = "0.0.0.0/0", tags: Mapping[str, str] | None = None) -> LoadBalancer:
    """An ALB ``name`` with an HTTP listener on ``port`` forwarding to an ``ip`` target group ``name`` whose
    targets serve on ``container_port``; created, or found and aligned. Tasks in ``task_security_group`` (the
    suite's, by default) accept the load balancer's traffic on ``container_port``.

    AWS's defaults for an HTTP target group are a 30 s interval and 5 healthy checks; the lab's (10 s, 2) let a
    deployment finish in a minute. ``deregistration_delay`` (AWS's default 300 s) is how long a stopping task
    keeps serving the requests it has.
    """
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise InvalidParameter("name", name, "at most 32 letters, digits or hyphens, not beginning or ending with a "
                                             "hyphen nor beginning with 'internal-' (ELBv2's rule)")
    ec2, elbv2 = session.client("ec2"), session.client("elbv2")
    tags = suite_tags(tags)
    vpc_id = vpc_id or prereqs.default_vpc(session)
    if subnets is None:
        found = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
        subnets = [s["SubnetId"] for s in sorted(found, key=lambda s: s["AvailabilityZone"])]
    health = {"path": health_check_path, "interval": interval, "timeout": timeout, "healthy": healthy_threshold,
              "unhealthy": unhealthy_threshold, "codes": success_codes}
    group_arn = _ensure_target_group(elbv2, name, vpc_id, container_port, health, deregistration_delay, tags)
    balancer_group = prereqs.ensure_security_group(session, vpc_id, f"{name}-alb", tags=tags,
                                                   description=f"fargate-lab load balancer {name}: HTTP in")
    _allow(ec2, balancer_group, port, cidr=ingress_cidr)
    tasks_group = task_security_group or prereqs.ensure_security_group(session, vpc_id, tags=tags)
    _allow(ec2, tasks_group, container_port, source=balancer_group)
    balancer = _ensure_balancer(elbv2, name, subnets, balancer_group, tags)
    listener_arn = _ensure_listener(elbv2, balancer["LoadBalancerArn"], port, group_arn, tags)
    return LoadBalancer(name, balancer["LoadBalancerArn"], balancer["DNSName"], listener_arn, group_arn,
                        balancer_group, port, container_port)


def url(session: Any, balancer: LoadBalancer) -> str:
    """Where the listener answers: AWS's DNS name, or on the embedded backend its address on 127.0.0.1."""
    if getattr(session, "backend", "aws") == "local":
        from helpers import local

        urls = local.listener_urls(urlparse(session.endpoint_url).port)
        if balancer.listener_arn not in urls:
            raise LoadBalancerRefused("url", "ListenerNotFound",
                                      f"the embedded backend serves no listener {balancer.listener_arn}")
        return urls[balancer.listener_arn]
    return f"http://{balancer.dns_name}" + ("" if balancer.port == 80 else f":{balancer.port}")


def target_health(session: Any, balancer: LoadBalancer | str) -> pd.DataFrame:
    """The target group's targets and their health now: target, port, state, reason, description."""
    group_arn = balancer.target_group_arn if isinstance(balancer, LoadBalancer) else balancer
    answer = _call(session.client("elbv2"), "describe_target_health", TargetGroupArn=group_arn)
    rows = [{"target": d["Target"]["Id"], "port": d["Target"].get("Port"), "state": d["TargetHealth"]["State"],
             "reason": d["TargetHealth"].get("Reason", ""), "description": d["TargetHealth"].get("Description", "")}
            for d in answer["TargetHealthDescriptions"]]
    frame = pd.DataFrame(rows, columns=HEALTH_COLUMNS)
    return frame.astype({"port": "Int64", "state": "string", "reason": "string", "description": "string"})


class RequestCounter:
    """Requests sent to ``url`` one after another on a thread of their own while the ``with`` block runs: how many
    were answered 2xx and how many failed (another status, a refused or timed-out connection), to show that a
    rolling deployment behind a load balancer drops none. Before the service first answers (a new service has no
    target yet: the ALB answers 503) failures are counted apart, in ``before_first``, not as dropped requests.
    ``url=None`` counts nothing (no load balancer)."""

    def __init__(self, url: str | None, *, pause: float = 0.05, timeout: float = 5.0) -> None:
        self.url, self.pause, self.timeout = url, pause, timeout
        self.ok = 0
        self.failures: list[str] = []
        self.before_first = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def failed(self) -> int:
        return len(self.failures)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                with urllib.request.urlopen(self.url, timeout=self.timeout) as answer:
                    answer.read()
                self.ok += 1
            except OSError as error:  # urllib's HTTPError and URLError are OSErrors
                if self.ok:
                    self.failures.append(str(error))
                else:
                    self.before_first += 1
            self._stop.wait(self.pause)

    def __enter__(self) -> RequestCounter:
        if self.url is not None:
            self._thread = threading.Thread(target=self._loop, name="request-counter", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.timeout + 1)

    def summary(self) -> str:
        if self.url is None:
            return "no load balancer: no requests counted"
        first = f" (first: {self.failures[0]})" if self.failures else ""
        waited = f"; {self.before_first} before the service first answered" if self.before_first else ""
        return (f"{self.ok + self.failed} requests to {self.url} during the deployment: {self.failed} failed{first}"
                f"{waited}")
