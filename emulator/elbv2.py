"""ELBv2 with a data plane: moto's load balancers, listeners and target groups, plus real listeners and health.

moto keeps the API's state and answers; this backend adds what AWS does with it:

- every HTTP listener really listens (``emulator.elbv2_proxy``: on 127.0.0.1, on a port of its own, listed by
  ``GET /_lab/listeners``) and forwards round robin to the healthy targets of the group its default action
  forwards to (weighted when a ``ForwardConfig`` names several groups); with no healthy target it fails open to
  every registered one, as the ALB user guide says, and with none registered it answers 503;
- targets are probed (``emulator.elbv2_health``) and DescribeTargetHealth reports ``initial``, ``healthy``,
  ``unhealthy`` with AWS's reason codes, ``draining`` for ``deregistration_delay.timeout_seconds`` after
  DeregisterTargets, ``unused`` (``Target.NotInUse``, ``Target.NotRegistered``), ``unavailable`` when checks are
  disabled;
- ``ip`` targets are keyed by address and port, as on AWS (moto keys by id alone);
- ELBv2's own errors where moto lets bad input through: a load balancer name against its rule or taken
  (``ValidationError``, ``DuplicateLoadBalancerName`` when its settings differ: the same ones answer the same
  load balancer), a second listener on a port (``DuplicateListener``), a
  health check path without a leading ``/`` (``ValidationError``), a listener forwarding to a target group of
  another VPC (``InvalidConfigurationRequest``), an ``ip`` target that is not an IPv4 address in the allowed ranges.

Targets are reached at their registered address, unless ``LOCAL_ADDRESSES`` says where else (an ECS task's
address and port: where its runtime published that port on 127.0.0.1, see ``emulator.ecs_targets``). An address
in 127.0.0.0/8 (this machine) is accepted here beside the ranges AWS allows (the group's VPC, 10.0.0.0/8,
100.64.0.0/10, 172.16.0.0/12, 192.168.0.0/16), so a process on 127.0.0.1 can be a target.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import random
import re
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from moto.elbv2.exceptions import (
    DuplicateListenerError,
    DuplicateLoadBalancerName,
    InvalidConfigurationRequest,
    InvalidTargetError,
    TargetGroupNotFoundError,
    ValidationError,
)
from moto.elbv2.models import ELBv2Backend, FakeHealthStatus, FakeTargetGroup

from emulator import clock, elbv2_health, elbv2_proxy
from emulator.elbv2_health import TargetHealth

LISTENERS_PATH = "/_lab/listeners"
ALLOWED_RANGES = [ipaddress.ip_network(n) for n in
                  ("10.0.0.0/8", "100.64.0.0/10", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8")]
DEFAULT_IDLE_TIMEOUT = 60.0
#: CreateLoadBalancer's Name rule (API reference): 32 alphanumerics or hyphens, none first or last, no "internal-".
NAME_PATTERN = re.compile(r"(?!internal-)(?!-)[A-Za-z0-9-]{1,32}(?<!-)")

#: listener ARN -> its running server.
LISTENERS: dict[str, elbv2_proxy.ListenerServer] = {}
#: target group ARN -> "id:port" -> what the load balancer knows of that target.
HEALTH: dict[str, dict[str, TargetHealth]] = {}
#: target group ARN -> whether a listener forwarded to it at the last look (a group newly in use starts over).
IN_USE: dict[str, bool] = {}
#: (target address, port) -> where it is reached on this machine: (host, port), or SIMULATED for a simulated ECS
#: task (nothing listens: its checks pass without a probe, a request to it gets a 502). Filled by
#: emulator.ecs_targets; a target not listed is reached at its own address.
LOCAL_ADDRESSES: dict[tuple[str, int], tuple[str, int] | str] = {}
SIMULATED = "simulated"
#: A port of a simulated task that its container does not map: nothing would listen there, a check fails.
UNREACHABLE = "unreachable"
_BACKENDS: weakref.WeakSet = weakref.WeakSet()
_COUNTERS: dict[str, itertools.count] = {}
_LOCK = threading.RLock()


def _key(target_id: str, port: int) -> str:
    return f"{target_id}:{port}"


class Elbv2Backend(ELBv2Backend):
    """moto's ELBv2 backend with listeners that serve, targets that are probed, and ELBv2's own checks."""

    def __init__(self, region_name: str, account_id: str) -> None:
        super().__init__(region_name, account_id)
        _BACKENDS.add(self)

    # --- validation moto leaves out -------------------------------------------------------------------------
    def create_load_balancer(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if not NAME_PATTERN.fullmatch(name or ""):
            raise ValidationError(f"The load balancer name '{name}' is not valid: it can have a maximum of 32 "
                                  "characters, must contain only alphanumeric characters or hyphens, must not "
                                  "begin or end with a hyphen, and must not begin with 'internal-'")
        kwargs["scheme"] = kwargs.get("scheme") or "internet-facing"  # AWS's default (moto stored None)
        for balancer in self.load_balancers.values():
            if balancer.name == name:  # idempotent with the same settings, as the API reference says
                same = (balancer.scheme == kwargs["scheme"]
                        and balancer.type == (kwargs.get("loadbalancer_type") or "application")
                        and sorted(s.id for s in balancer.subnets) == sorted(kwargs.get("subnet_ids") or []))
                if not same:
                    raise DuplicateLoadBalancerName()
                return balancer
        return super().create_load_balancer(name, *args, **kwargs)

    @staticmethod
    def _check_health_path(path: str | None) -> None:
        if path is not None and (not path.startswith("/") or len(path) > 1024):
            raise ValidationError("Health check path must begin with a '/' character and can be at most 1024 "
                                  f"characters in length: '{path}'")

    def create_target_group(self, name: str, **kwargs: Any) -> FakeTargetGroup:
        self._check_health_path(kwargs.get("healthcheck_path"))
        return super().create_target_group(name, **kwargs)

    def modify_target_group(self, arn: str, health_check_proto: str | None = None,
                            health_check_port: str | None = None, health_check_path: str | None = None,
                            *args: Any, **kwargs: Any) -> FakeTargetGroup:
        self._check_health_path(health_check_path)
        return super().modify_target_group(arn, health_check_proto, health_check_port, health_check_path,
                                           *args, **kwargs)

    def _check_forward_vpc(self, load_balancer_arn: str, actions: list[dict[str, Any]]) -> None:
        balancer = self.load_balancers.get(load_balancer_arn)
        if balancer is None:
            return  # moto answers LoadBalancerNotFound
        for action in actions:
            for arn in self._get_target_group_arns_from(action_data=action):
                group = self.target_groups.get(arn)
                if group is not None and group.vpc_id != balancer.vpc_id:
                    raise InvalidConfigurationRequest(
                        f"Target group '{arn}' is in a different VPC than load balancer '{load_balancer_arn}'")

    # --- listeners ---------------------------------------------------------------------------------------
    def create_listener(self, load_balancer_arn: str, protocol: str, port: str, *args: Any, **kwargs: Any) -> Any:
        balancer = self.load_balancers.get(load_balancer_arn)
        if balancer is not None and any(str(listener.port) == str(port) for listener in balancer.listeners.values()):
            raise DuplicateListenerError()
        self._check_forward_vpc(load_balancer_arn, kwargs.get("actions") or [])
        listener = super().create_listener(load_balancer_arn, protocol, port, *args, **kwargs)
        if listener.protocol == "HTTP":
            self._serve(listener)
        for action in kwargs.get("actions") or []:
            for arn in self._get_target_group_arns_from(action_data=action):
                self._refresh(arn)  # its targets' checks start now
        return listener

    def _serve(self, listener: Any, local_port: int = 0) -> None:
        with _LOCK:
            LISTENERS[listener.arn] = elbv2_proxy.ListenerServer(int(listener.port), self._router(listener.arn),
                                                                 local_port)

    def modify_listener(self, arn: str, port: str | None = None, protocol: str | None = None,
                        ssl_policy: str | None = None, certificates: list | None = None,
                        actions: list[dict[str, Any]] | None = None) -> Any:
        listener = self._listener(arn)
        if listener is not None:
            self._check_forward_vpc(listener.load_balancer_arn, actions or [])
        return super().modify_listener(arn, port, protocol, ssl_policy, certificates, actions)

    def delete_listener(self, listener_arn: str) -> Any:
        listener = super().delete_listener(listener_arn)
        _close_listener(listener_arn)
        return listener

    def delete_load_balancer(self, arn: str) -> None:
        balancer = self.load_balancers.get(arn)
        for listener_arn in list(balancer.listeners) if balancer else []:
            _close_listener(listener_arn)
        super().delete_load_balancer(arn)

    def delete_target_group(self, target_group_arn: str) -> FakeTargetGroup:
        group = super().delete_target_group(target_group_arn)
        with _LOCK:
            HEALTH.pop(target_group_arn, None)
            IN_USE.pop(target_group_arn, None)
        return group

    def _listener(self, arn: str) -> Any:
        for balancer in self.load_balancers.values():
            if arn in balancer.listeners:
                return balancer.listeners[arn]
        return None

    def _router(self, listener_arn: str) -> Callable[[], elbv2_proxy.Route]:
        """What the listener's server asks for each request: where it goes, under the balancer's idle timeout."""

        def route() -> elbv2_proxy.Route:
            listener = self._listener(listener_arn)
            if listener is None:
                return elbv2_proxy.Route(elbv2_proxy.Forward(None), DEFAULT_IDLE_TIMEOUT)
            balancer = self.load_balancers[listener.load_balancer_arn]
            idle = float(balancer.attrs.get("idle_timeout.timeout_seconds") or DEFAULT_IDLE_TIMEOUT)
            return elbv2_proxy.Route(self._action(listener.default_actions[0].data), idle)

        return route

    def _action(self, data: dict[str, Any]) -> elbv2_proxy.Forward | elbv2_proxy.Fixed:
        if data.get("Type") == "fixed-response":
            config = data.get("FixedResponseConfig") or {}
            return elbv2_proxy.Fixed(int(config.get("StatusCode", 200)), config.get("ContentType", "text/plain"),
                                     config.get("MessageBody", ""))
        groups = (data.get("ForwardConfig") or {}).get("TargetGroups") or []
        if groups:
            weights = [int(g.get("Weight", 1)) for g in groups]
            arn = random.choices([g["TargetGroupArn"] for g in groups], weights)[0] if any(weights) else None
        else:
            arn = data.get("TargetGroupArn")
        return elbv2_proxy.Forward(self._next_target(arn) if arn else None)

    def _next_target(self, group_arn: str) -> tuple[str, int] | str | None:
        """Round robin over the group's healthy targets; over every registered one when none is (fail open)."""
        self._refresh(group_arn)
        with _LOCK:
            entries = [h for h in HEALTH.get(group_arn, {}).values() if h.draining_until is None]
            healthy = [h for h in entries if h.state == "healthy"] or entries
            if not healthy:
                return None
            counter = _COUNTERS.setdefault(group_arn, itertools.count())
            chosen = healthy[next(counter) % len(healthy)]
            return reach(chosen.target_id, chosen.port)

    # --- targets and their health ------------------------------------------------------------------------
    def _group(self, arn: str) -> FakeTargetGroup:
        group = self.target_groups.get(arn)
        if group is None:
            raise TargetGroupNotFoundError()
        return group

    @staticmethod
    def _check_ip(group: FakeTargetGroup, target_id: str, vpc_cidrs: list[str]) -> None:
        try:
            address = ipaddress.IPv4Address(target_id)
        except ValueError:
            raise ValidationError(f"The IP address '{target_id}' is not a valid IPv4 address") from None
        ranges = ALLOWED_RANGES + [ipaddress.ip_network(c, strict=False) for c in vpc_cidrs]
        if not any(address in network for network in ranges):
            raise ValidationError(
                f"The IP address '{target_id}' is not within the CIDR blocks of the target group's VPC "
                f"'{group.vpc_id}' or 10.0.0.0/8, 100.64.0.0/10, 172.16.0.0/12, 192.168.0.0/16")

    def register_targets(self, target_group_arn: str, instances: list[Any]) -> None:
        group = self._group(target_group_arn)
        if group.target_type != "ip":
            return super().register_targets(target_group_arn, instances)
        vpc = self.ec2_backend.get_vpc(group.vpc_id)
        cidrs = [vpc.cidr_block] if vpc is not None else []
        for target in instances:
            self._check_ip(group, target["Id"], cidrs)
        self._refresh(target_group_arn)
        now = clock.time()
        with _LOCK:
            health = HEALTH.setdefault(target_group_arn, {})
            for target in instances:
                port = int(target.get("Port") or group.port)
                key = _key(target["Id"], port)
                group.targets[key] = {"Id": target["Id"], "Port": port}
                if key not in health or health[key].draining_until is not None:
                    health[key] = TargetHealth(target["Id"], port, now)

    def deregister_targets(self, target_group_arn: str, instances: list[dict[str, Any]]) -> None:
        group = self._group(target_group_arn)
        if group.target_type != "ip":
            return super().deregister_targets(target_group_arn, instances)
        delay = int(group.attributes.get("deregistration_delay.timeout_seconds", 300))
        self._refresh(target_group_arn)
        now = clock.time()
        with _LOCK:
            health = HEALTH.setdefault(target_group_arn, {})
            for target in instances:
                key = _key(target["Id"], int(target.get("Port") or group.port))
                if group.targets.pop(key, None) is None:
                    raise InvalidTargetError()
                if key in health:
                    health[key].draining_until = now + delay if IN_USE.get(target_group_arn) else now

    def _in_use(self, group_arn: str) -> bool:
        return self._any_listener_using(group_arn)

    def _refresh(self, group_arn: str) -> None:
        """Forget targets whose draining ended; a group that has just come into use starts its checks over."""
        used = self._in_use(group_arn)
        now = clock.time()
        with _LOCK:
            health = HEALTH.get(group_arn, {})
            for key, entry in list(health.items()):
                if entry.draining_until is not None and entry.draining_until <= now:
                    del health[key]
            if used and not IN_USE.get(group_arn):
                for key, entry in health.items():
                    if entry.draining_until is None:
                        health[key] = TargetHealth(entry.target_id, entry.port, now)
            IN_USE[group_arn] = used

    def check_health(self, group_arn: str) -> None:
        """Run every health check of the group that is due by the emulator's clock."""
        group = self.target_groups.get(group_arn)
        self._refresh(group_arn)
        if group is None or not IN_USE.get(group_arn) or not group.health_check_enabled:
            return
        for entry in list(HEALTH.get(group_arn, {}).values()):
            port = entry.port if group.health_check_port in (None, "traffic-port") else int(group.health_check_port)
            where = reach(entry.target_id, port)
            host, port = (None, 0) if isinstance(where, str) else where
            elbv2_health.run_due(
                entry, host=host, port=port, refused=where == UNREACHABLE, path=group.health_check_path or "/",
                interval=int(group.health_check_interval_seconds),
                timeout=float(group.health_check_timeout_seconds),
                matcher=(group.matcher or {}).get("HttpCode", "200"),
                healthy_threshold=int(group.healthy_threshold_count),
                unhealthy_threshold=int(group.unhealthy_threshold_count))

    def describe_target_health(self, target_group_arn: str, targets: list[dict[str, Any]]) -> list[Any]:
        group = self._group(target_group_arn)
        if group.target_type != "ip":
            return super().describe_target_health(target_group_arn, targets)
        self.check_health(target_group_arn)
        with _LOCK:
            health = HEALTH.get(target_group_arn, {})
            if targets:
                wanted = [(t["Id"], int(t.get("Port") or group.port)) for t in targets]
            else:
                wanted = [(h.target_id, h.port) for h in health.values()]
            return [self._status(group, target_id, port, health.get(_key(target_id, port)))
                    for target_id, port in wanted]

    def _status(self, group: FakeTargetGroup, target_id: str, port: int, entry: TargetHealth | None) -> Any:
        check_port = str(port) if group.health_check_port in (None, "traffic-port") else str(group.health_check_port)

        def answer(state: str, reason: str | None = None) -> FakeHealthStatus:
            description = elbv2_health.DESCRIPTIONS[reason].format(code=None) if reason else None
            return FakeHealthStatus(target_id, port, check_port, state, reason, description)

        if entry is None:
            return answer("unused", "Target.NotRegistered")
        if entry.draining_until is not None:
            return answer("draining", "Target.DeregistrationInProgress")
        if not IN_USE.get(group.arn):
            return answer("unused", "Target.NotInUse")
        if not group.health_check_enabled:
            return answer("unavailable", "Target.HealthCheckDisabled")
        return FakeHealthStatus(target_id, port, check_port, entry.state, entry.reason, entry.description)


def reach(target_id: str, port: int) -> tuple[str, int] | str:
    """Where the target ``target_id:port`` is reached on this machine (SIMULATED: nowhere, a simulated task)."""
    return LOCAL_ADDRESSES.get((target_id, port)) or (target_id, port)


def _close_listener(arn: str) -> None:
    with _LOCK:
        server = LISTENERS.pop(arn, None)
    if server is not None:
        server.close()


def listeners() -> list[dict[str, Any]]:
    """Every serving listener: its ARN, its load balancer's, the port it declares, where it listens here."""
    found = []
    for backend in list(_BACKENDS):
        for balancer in list(backend.load_balancers.values()):
            for arn, listener in list(balancer.listeners.items()):
                server = LISTENERS.get(arn)
                if server is not None:
                    found.append({"ListenerArn": arn, "LoadBalancerArn": balancer.arn, "Port": int(listener.port),
                                  "LocalPort": server.local_port,
                                  "Url": f"http://127.0.0.1:{server.local_port}"})
    return found


def listeners_middleware(environ: dict, start_response: Callable) -> Iterable[bytes] | None:
    """``GET /_lab/listeners``: where each listener is reached on this machine."""
    if environ.get("PATH_INFO") != LISTENERS_PATH:
        return None
    body = json.dumps({"listeners": listeners()}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def dump_records() -> dict[str, Any]:
    """What emulator.persistence keeps beside moto's ELBv2 objects: target health, and each listener's port here."""
    with _LOCK:
        return {"health": HEALTH, "in_use": IN_USE, "addresses": LOCAL_ADDRESSES,
                "ports": {arn: server.local_port for arn, server in LISTENERS.items()}}


def load_records(saved: dict[str, Any]) -> None:
    """After a restart: health as it was, and every HTTP listener listening again (on its old port if free)."""
    from moto.elbv2.models import elbv2_backends

    with _LOCK:
        HEALTH.clear()
        HEALTH.update(saved.get("health") or {})
        IN_USE.clear()
        IN_USE.update(saved.get("in_use") or {})
        LOCAL_ADDRESSES.clear()
        LOCAL_ADDRESSES.update(saved.get("addresses") or {})
    ports = saved.get("ports") or {}
    for regions in dict.values(elbv2_backends):
        for backend in dict.values(regions):
            _BACKENDS.add(backend)
            for balancer in backend.load_balancers.values():
                for arn, listener in balancer.listeners.items():
                    if listener.protocol == "HTTP" and arn not in LISTENERS:
                        backend._serve(listener, ports.get(arn, 0))


def _sweep() -> None:
    for backend in list(_BACKENDS):
        for arn in list(backend.target_groups):
            if arn in HEALTH:
                backend.check_health(arn)


CHECKER = elbv2_health.Checker(_sweep)


def start() -> None:
    CHECKER.start()


def stop_all() -> None:
    """At reset and shutdown: every listener stops listening, every target is forgotten."""
    for arn in list(LISTENERS):
        _close_listener(arn)
    with _LOCK:
        HEALTH.clear()
        IN_USE.clear()
        _COUNTERS.clear()
        LOCAL_ADDRESSES.clear()
