"""Runs ECS tasks for real on the local Docker engine (the embedded backend's Docker executor).

``launch`` returns at once; one supervisor thread per task then does what the Fargate
agent does: pull the images, resolve secrets and environment files, give the task one
network namespace (a tiny "pause" container when there are several containers, so
they reach each other on localhost), start the containers in ``dependsOn`` order,
stream their output to CloudWatch Logs, watch health checks and exits, and stop the
task as ECS would (an essential container exited, out of memory, StopTask: SIGTERM,
then SIGKILL after ``stopTimeout``). The outcome is recorded in a ``TaskState``; the
containers are then removed.

Every container carries ``fargate-lab.backend-port=<port>`` and ``fargate-lab.task-id=<id>``;
``cleanup`` removes this backend's containers only (several backends may share an engine).
"""

from __future__ import annotations

import copy
import logging
import queue
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from emulator import clock, containment, hooks, pause_image, settings, task_endpoint, task_metadata
from emulator.container_spec import ContainerPlan, creation_order, parse_env_file, plan_task, volume_problem
from emulator.executor import ContainerState, LaunchRequest, TaskState
from emulator.log_pump import LogPump

log = logging.getLogger("emulator.docker")

LABEL_PORT = "fargate-lab.backend-port"
LABEL_TASK = "fargate-lab.task-id"
LABEL_ROLE = "fargate-lab.role"

#: Seconds a failed pull is remembered: a burst of tasks with an image that cannot be pulled makes one attempt.
PULL_FAILURE_MEMORY = 10.0
ESSENTIAL_EXITED = "Essential container in task exited"
OUT_OF_MEMORY = "OutOfMemoryError: Container killed due to memory usage"
_HEALTH = {"healthy": "HEALTHY", "unhealthy": "UNHEALTHY"}
_registered_ports: set[str] = set()


class _StartFailure(Exception):
    """The task cannot start; ``reason`` is the stoppedReason ECS would give."""

    def __init__(self, reason: str, container: str | None = None, stop_code: str = "TaskFailedToStart") -> None:
        super().__init__(reason)
        self.reason = reason
        self.container = container
        self.stop_code = stop_code


@dataclass
class _Run:
    """One task under supervision."""

    request: LaunchRequest
    state: TaskState
    plans: dict[str, ContainerPlan] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)  # container name -> Docker id
    pause_id: str | None = None
    events: queue.Queue = field(default_factory=queue.Queue)
    stop_request: tuple[str, str] | None = None  # (reason, stop code)
    aborted: bool = False
    waves: dict[str, int] = field(default_factory=dict)  # container name -> start wave (stop in reverse)
    pump: LogPump | None = None
    thread: threading.Thread | None = None
    reserved: list[tuple[int, str]] = field(default_factory=list)  # host ports held for this task
    endpoint_env: dict[str, dict[str, str]] = field(default_factory=dict)  # container -> metadata/credentials env
    volumes: dict[str, str] = field(default_factory=dict)  # task volume name -> Docker volume name
    network: str | None = None  # the task network the namespace owner joined, when there is one


class DockerExecutor:
    """The Executor (see ``emulator.executor``) whose containers really run on the local engine."""

    name = "docker"

    def __init__(self, client: Any = None, port: int | str | None = None, tick: float = 0.2,
                 register_hooks: bool = True) -> None:
        import docker

        self.client = client or docker.from_env(timeout=120, max_pool_size=64)
        # Blocking calls (wait for exit, follow logs) last as long as a container runs: no read timeout.
        self.stream = docker.from_env(timeout=None, max_pool_size=64)
        self.port = str(port if port is not None else settings.current().port)
        self.tick = tick
        self._lock = threading.RLock()
        self._runs: dict[str, _Run] = {}
        self._reserved: set[tuple[int, str]] = set()  # (host port, protocol) promised to a live task
        self._pulling: dict[str, threading.Lock] = {}
        self._pull_failures: dict[str, tuple[float, str]] = {}  # reference -> (when, why): many tasks, one attempt
        self._pause: str | None | bool = False  # False: not looked up yet
        self._no_network = False  # True once the task network proved unusable here (a remote engine, say)
        self._endpoint = task_endpoint.TaskEndpoint(self._metadata, self._role_credentials)
        if register_hooks and self.port not in _registered_ports:
            hooks.ON_RESET.append(self.cleanup)
            hooks.ON_SHUTDOWN.append(self.cleanup)
            _registered_ports.add(self.port)
            self._remove_containers({LABEL_PORT: self.port})  # left by a backend on this port that died

    # ----- the Executor protocol -------------------------------------------------------------------------------

    def launch(self, request: LaunchRequest) -> None:
        state = TaskState(last_status="PROVISIONING")
        names = [c["name"] for c in request.task_definition.get("containerDefinitions", [])]
        state.containers = {name: ContainerState(name=name) for name in names}
        run = _Run(request=request, state=state)
        with self._lock:
            self._runs[request.task_id] = run
        run.thread = threading.Thread(target=self._supervise, args=(run,), daemon=True,
                                      name=f"task-{request.task_id[:12]}")
        run.thread.start()

    def state(self, task_id: str) -> TaskState:
        with self._lock:
            return copy.deepcopy(self._runs[task_id].state)

    def stop(self, task_id: str, reason: str, stop_code: str = "UserInitiated") -> None:
        with self._lock:
            run = self._runs.get(task_id)
        if run is None or run.state.last_status == "STOPPED":
            return
        run.stop_request = (reason, stop_code)
        run.events.put(("stop", reason, stop_code))

    def forget(self, task_id: str) -> None:
        with self._lock:
            run = self._runs.pop(task_id, None)
        if run is not None and run.state.last_status != "STOPPED":
            run.aborted = True
            run.events.put(("abort",))
        # Off the caller's thread: DescribeTasks calls this and must stay fast; the supervisor removes them too.
        threading.Thread(target=self._remove_containers, args=({LABEL_PORT: self.port, LABEL_TASK: task_id},),
                         daemon=True, name=f"forget-{task_id[:12]}").start()

    def cleanup(self) -> None:
        with self._lock:
            runs, self._runs = list(self._runs.values()), {}
            self._pull_failures.clear()  # timed on the clock, which a reset puts back to real time
        for run in runs:
            run.aborted = True
            run.events.put(("abort",))
        self._remove_containers({LABEL_PORT: self.port})
        self._endpoint.close()
        for run in runs:  # a supervisor may be removing (or, mid-start, creating) containers right now
            if run.thread is not None and run.thread is not threading.current_thread():
                run.thread.join(timeout=15)
        self._remove_containers({LABEL_PORT: self.port})
        self._remove_volumes({LABEL_PORT: self.port})

    # ----- helpers of the protocol ----------------------------------------------------------------------------

    def task_ids(self) -> list[str]:
        with self._lock:
            return list(self._runs)

    def host_port(self, task_id: str, container_name: str, container_port: int, protocol: str = "tcp") -> int | None:
        """The port on 127.0.0.1 where the engine published ``container_port`` of the task's running container
        ``container_name`` (its port mapping, as Docker reports it); None when it is not running or has no such
        mapping. An awsvpc task reports no networkBindings (as on AWS), yet a load balancer here must reach it."""
        with self._lock:
            run = self._runs.get(task_id)
            state = run.state.containers.get(container_name) if run else None
            if run is None or state is None or state.last_status != "RUNNING" or container_name not in run.ids:
                return None
            if not any(m.container_port == container_port and m.protocol == protocol
                       for m in run.plans[container_name].port_mappings):
                return None
            owner = run.pause_id or run.ids[next(iter(run.plans))]  # the network namespace's owner publishes
        try:
            published = self.client.api.inspect_container(owner)["NetworkSettings"]["Ports"] or {}
        except Exception:  # noqa: BLE001 - removed meanwhile: not reachable
            return None
        for binding in published.get(f"{container_port}/{protocol}") or []:
            if binding.get("HostPort"):
                return int(binding["HostPort"])
        return None

    def wait(self, task_id: str, timeout: float = 60.0) -> TaskState:
        """Block until the task is STOPPED (for tests and benchmarks); the state it ended in."""
        deadline = time.monotonic() + timeout  # real time: a caller's wait, not a reading of the clock
        while time.monotonic() < deadline:
            state = self.state(task_id)
            if state.last_status == "STOPPED":
                return state
            time.sleep(0.02)
        raise TimeoutError(f"task {task_id} did not stop within {timeout} s")

    def _remove_containers(self, labels: dict[str, str]) -> None:
        filters = {"label": [f"{k}={v}" for k, v in labels.items()]}
        try:
            found = self.client.api.containers(all=True, filters=filters, quiet=True)
        except Exception:  # noqa: BLE001 - no engine any more: nothing we can remove
            log.warning("could not list containers to remove", exc_info=True)
            return
        for item in found:
            self._remove(item["Id"])

    def _remove_volumes(self, labels: dict[str, str]) -> None:
        """The task volumes with these labels (once their containers are gone)."""
        try:
            found = self.client.api.volumes(filters={"label": [f"{k}={v}" for k, v in labels.items()]})
        except Exception:  # noqa: BLE001 - no engine any more
            return
        for volume in (found or {}).get("Volumes") or []:
            try:
                self.client.api.remove_volume(volume["Name"], force=True)
            except Exception:  # noqa: BLE001 - still in use by a container being removed: the next sweep takes it
                log.debug("could not remove volume %s", volume["Name"], exc_info=True)

    def _remove(self, container_id: str) -> None:
        import docker.errors

        try:
            self.client.api.remove_container(container_id, force=True, v=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as error:
            if "already in progress" not in str(error):
                log.warning("could not remove container %s: %s", container_id[:12], error)

    # ----- the supervisor -------------------------------------------------------------------------------------

    def _set(self, run: _Run, **changes: Any) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(run.state, key, value)

    def _set_container(self, run: _Run, name: str, **changes: Any) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(run.state.containers[name], key, value)

    def _supervise(self, run: _Run) -> None:
        request = run.request
        try:
            labels = {LABEL_PORT: self.port, LABEL_TASK: request.task_id, "fargate-lab.cluster": request.cluster}
            plans = plan_task(request.task_definition, request.overrides, request.task_id, labels,
                              f"fargate-lab-{self.port}-{request.task_id}")
            run.plans = {plan.name: plan for plan in plans}
            problem = volume_problem(request.task_definition, plans)
            if problem:
                raise _StartFailure(f"ResourceInitializationError: {problem}")
            self._register_endpoint(run)
            run.pump = LogPump(self.stream.api, request.log_sink)
            self._set(run, last_status="PENDING", pull_started_at=clock.now())
            images = {plan.name: self._image(run, plan) for plan in plans}
            self._set(run, pull_stopped_at=clock.now())
            environments = {plan.name: self._environment(run, plan) for plan in plans}
            self._create(run, images, environments)
            self._run(run)
        except _StartFailure as failure:
            self._begin_stopping(run, failure.reason, failure.stop_code)
            if failure.container:
                self._set_container(run, failure.container, reason=failure.reason)
        except Exception as error:  # noqa: BLE001 - whatever the engine says, the task must end STOPPED
            if not run.aborted:
                log.exception("task %s failed", request.task_id)
                self._begin_stopping(run, f"CannotStartContainerError: {error}", "TaskFailedToStart")
        finally:
            self._finish(run)

    def _check_stop(self, run: _Run) -> None:
        if run.aborted:
            raise _StartFailure("Task removed by a reset of the embedded backend", stop_code="UserInitiated")
        if run.stop_request:
            reason, code = run.stop_request
            raise _StartFailure(reason, stop_code=code)

    def _image(self, run: _Run, plan: ContainerPlan) -> str:
        """The local image to run: resolved by the backend (embedded ECR), pulled when absent."""
        import docker.errors

        self._check_stop(run)
        prefix = f"CannotPullContainerError: pull image manifest has been retried 1 time(s): failed to resolve ref {plan.image}"
        try:
            reference = run.request.resolve_image(plan.image)
        except LookupError as error:
            raise _StartFailure(f"{prefix}: {error or 'not found'}", plan.name) from None
        with self._lock:
            pull_lock = self._pulling.setdefault(reference, threading.Lock())
        # The embedded ECR's images are always pulled, as Fargate does (a re-pushed tag runs its new image; an
        # up-to-date pull moves no layer). Other names run from the engine's copy when it has one (offline labs).
        always = _in_embedded_ecr(reference)
        with pull_lock:  # tasks starting together pull an image once
            if not always:
                try:
                    self.client.images.get(reference)
                    return reference
                except docker.errors.ImageNotFound:
                    pass
            failed = self._pull_failures.get(reference)
            if failed and clock.monotonic() - failed[0] < PULL_FAILURE_MEMORY:
                raise _StartFailure(f"{prefix}: {failed[1]}", plan.name)
            try:
                self.client.images.pull(reference, auth_config=self._pull_auth(run, reference))
            except docker.errors.APIError as error:
                message = str(error.explanation or error)
                self._pull_failures[reference] = (clock.monotonic(), message)
                raise _StartFailure(f"{prefix}: {message}", plan.name) from None
            self._pull_failures.pop(reference, None)
        return reference

    def _pull_auth(self, run: _Run, reference: str) -> dict | None:
        """The embedded ECR's own credentials (user AWS) for an image it serves; None for any other."""
        if _in_embedded_ecr(reference):
            from emulator.fidelity import ecr

            return {"username": "AWS", "password": ecr.password()}
        return None

    def _environment(self, run: _Run, plan: ContainerPlan) -> dict[str, str]:
        """environmentFiles, then environment, then secrets (ECS's order of precedence)."""
        self._check_stop(run)
        environment = {"AWS_EXECUTION_ENV": "AWS_ECS_FARGATE"}
        for arn in plan.environment_files:
            if run.request.resolve_file is None:
                raise _StartFailure(f"ResourceInitializationError: failed to download env files: {arn}: "
                                    "this backend cannot read environment files", plan.name)
            try:
                environment.update(parse_env_file(run.request.resolve_file(arn)))
            except Exception as error:  # noqa: BLE001 - any failure to read is the task's start failure
                raise _StartFailure(f"ResourceInitializationError: failed to download env files: {arn}: {error}",
                                    plan.name) from None
        environment.update({"AWS_REGION": run.request.region, "AWS_DEFAULT_REGION": run.request.region}
                           if run.request.region else {})
        environment.update(plan.environment)
        environment.update(run.endpoint_env.get(plan.name, {}))  # Fargate's own variables win
        for name, value_from in plan.secrets:
            try:
                environment[name] = run.request.resolve_secret(value_from)
            except Exception as error:  # noqa: BLE001 - the secret's value is never part of the message
                raise _StartFailure(
                    "ResourceInitializationError: unable to pull secrets or registry auth: execution resource "
                    f"retrieval failed: unable to retrieve secret from {value_from}: {type(error).__name__}: {error}",
                    plan.name) from None
        return environment

    def _ports(self, run: _Run, plans: list[ContainerPlan]) -> dict[str, tuple[str, int | None]]:
        """Every port of the task, on 127.0.0.1; a host port already taken gets a free one instead.

        Ports are reserved until the task stops: two tasks of one service starting together (same
        containerPort) must not both be promised it before either has bound it.
        """
        ports: dict[str, tuple[str, int | None]] = {}
        with self._lock:
            for plan in plans:
                for mapping in plan.port_mappings:
                    key = (mapping.host_port, mapping.protocol)
                    free = key not in self._reserved and _port_free(mapping.host_port, mapping.protocol)
                    if free:
                        self._reserved.add(key)
                        run.reserved.append(key)
                    ports[f"{mapping.container_port}/{mapping.protocol}"] = (
                        "127.0.0.1", mapping.host_port if free else None)
        return ports

    def _create(self, run: _Run, images: dict[str, str], environments: dict[str, str]) -> None:
        """The namespace owner first, then every container (created now, started in dependency order)."""
        self._check_stop(run)
        plans = list(run.plans.values())
        ports = self._ports(run, plans)
        labels = {LABEL_PORT: self.port, LABEL_TASK: run.request.task_id}
        owner_mode: str | None = None
        self._create_volumes(run)
        network = {"network_mode": run.network} if run.network else {}
        plans = creation_order(plans)
        if len(plans) > 1 and self._pause_image():
            containment.check_create("pause", {"ports": ports})
            pause = self.client.containers.create(
                pause_image.PAUSE_IMAGE, name=f"fargate-lab-{self.port}-{run.request.task_id}-pause",
                labels={**labels, LABEL_ROLE: "pause"}, ports=ports, mem_limit="8m", **network,
            )
            run.pause_id = pause.id
            pause.start()
            owner_mode = f"container:{pause.id}"
        for index, plan in enumerate(plans):
            kwargs = dict(plan.create_kwargs, environment=environments[plan.name])
            if owner_mode:
                kwargs["network_mode"] = owner_mode
            elif index == 0:
                kwargs["ports"] = ports  # the first container owns the namespace (one container, or no pause image)
                kwargs.update(network)
            else:
                kwargs["network_mode"] = f"container:{run.ids[plans[0].name]}"
            kwargs.update(self._volume_args(run, plan))
            try:  # never more of the host than Fargate gives
                containment.check_create(plan.name, kwargs, frozenset(run.volumes.values()),
                                         frozenset(run.ids.values()))
            except containment.NotContained as refused:
                raise _StartFailure(f"CannotStartContainerError: {refused}", plan.name) from None
            container_id = self._create_container(images[plan.name], kwargs)
            run.ids[plan.name] = container_id
            self._set_container(run, plan.name, runtime_id=container_id)
            if run.aborted:
                return

    def _create_container(self, image: str, kwargs: dict[str, Any]) -> str:
        """``containers.create`` without the inspect it makes afterwards (its answer would be thrown away)."""
        from docker.models.containers import _create_container_args

        args = _create_container_args({**kwargs, "image": image, "command": kwargs.get("command"),
                                       "version": self.client.api._version})
        return self.client.api.create_container(**args)["Id"]

    def _pause_image(self) -> str | None:
        if self._pause is False:
            try:
                self._pause = pause_image.ensure(self.client)
            except Exception:  # noqa: BLE001 - without it, the first container owns the namespace
                log.exception("could not import the pause image")
                self._pause = None
        return self._pause or None

    def _dependency(self, run: _Run, name: str, since: float) -> str:
        """'met', 'wait' or a reason the container can never start."""
        for dependency, condition in run.plans[name].depends_on:
            other = run.state.containers.get(dependency)
            if other is None:
                return f"dependency {dependency} is not a container of this task"
            started = dependency in run.waves
            stopped = other.last_status == "STOPPED"
            if condition == "START":
                ok, failed = started, stopped and not started
            elif condition == "COMPLETE":
                ok, failed = stopped and started, stopped and not started
            elif condition == "SUCCESS":
                ok, failed = stopped and other.exit_code == 0, stopped and other.exit_code != 0
            elif condition == "HEALTHY":
                if not run.plans[dependency].has_health_check:
                    return f"dependency {dependency} has no healthCheck, so it can never be HEALTHY"
                ok, failed = other.health_status == "HEALTHY", stopped or other.health_status == "UNHEALTHY"
            else:
                return f"dependency condition {condition} is not one of START, COMPLETE, SUCCESS, HEALTHY"
            if failed:
                return f"dependency {dependency} did not reach condition {condition}"
            if not ok:
                if clock.monotonic() - since > run.plans[dependency].start_timeout:
                    return f"dependency {dependency} did not reach condition {condition} within its startTimeout"
                return "wait"
        return "met"

    def _start_ready(self, run: _Run, pending: list[str], wave: int, since: float) -> list[str]:
        """Start every pending container whose dependencies are met; the names started."""
        import docker.errors

        started = []
        for name in list(pending):
            if run.state.stopping_at is not None:
                break
            verdict = self._dependency(run, name, since)
            if verdict == "wait":
                continue
            pending.remove(name)
            if verdict != "met":
                self._container_failed(run, name, f"CannotStartContainerError: {verdict}")
                continue
            try:
                self.client.api.start(run.ids[name])
            except docker.errors.APIError as error:
                self._container_failed(run, name, f"CannotStartContainerError: {error.explanation or error}")
                continue
            run.waves[name] = wave
            self._set_container(run, name, last_status="RUNNING")
            if run.state.started_at is None:
                self._set(run, last_status="RUNNING", started_at=clock.now())
            plan = run.plans[name]
            if plan.log_group and run.pump:
                run.pump.follow(run.ids[name], plan.log_group, plan.log_stream)
            threading.Thread(target=self._wait_exit, args=(run, name), daemon=True,
                             name=f"wait-{run.ids[name][:12]}").start()
            started.append(name)
        if started and any(run.plans[name].port_mappings for name in started):
            self._record_bindings(run, started)  # one inspect, only when there are ports to report
        return started

    def _container_failed(self, run: _Run, name: str, reason: str) -> None:
        self._set_container(run, name, last_status="STOPPED", reason=reason)
        if run.plans[name].essential:
            code = "TaskFailedToStart" if run.state.started_at is None else "EssentialContainerExited"
            self._begin_stopping(run, reason, code)

    def _record_bindings(self, run: _Run, names: list[str]) -> None:
        owner = run.pause_id or run.ids[next(iter(run.plans))]
        try:
            published = self.client.api.inspect_container(owner)["NetworkSettings"]["Ports"] or {}
        except Exception:  # noqa: BLE001 - bindings are informative only
            return
        for name in names:
            bindings = []
            for mapping in run.plans[name].port_mappings:
                for host in published.get(f"{mapping.container_port}/{mapping.protocol}") or []:
                    bindings.append({"bindIP": host["HostIp"], "containerPort": mapping.container_port,
                                     "hostPort": int(host["HostPort"]), "protocol": mapping.protocol})
            self._set_container(run, name, network_bindings=bindings)

    def _wait_exit(self, run: _Run, name: str) -> None:
        try:
            code = self.stream.api.wait(run.ids[name]).get("StatusCode")
        except Exception:  # noqa: BLE001 - removed under us (reset): no exit code to report
            code = None
        run.events.put(("exit", name, code))

    def _run(self, run: _Run) -> None:
        """Start containers as their dependencies allow, until every container has stopped."""
        pending = list(run.plans)
        since = clock.monotonic()  # startTimeout is measured on the emulator's clock
        wave = 0
        next_health = 0.0
        while not run.aborted:
            if run.state.stopping_at is None and pending:
                if self._start_ready(run, pending, wave, since):
                    wave += 1
            if run.state.stopping_at is not None:
                for name in pending:
                    self._set_container(run, name, last_status="STOPPED")
                pending.clear()
            containers = run.state.containers
            if not pending and all(c.last_status == "STOPPED" for c in containers.values()):
                return
            try:
                event = run.events.get(timeout=self.tick)
            except queue.Empty:
                event = None
            while event is not None:
                self._handle(run, event)
                try:
                    event = run.events.get_nowait()
                except queue.Empty:
                    event = None
            if time.monotonic() >= next_health:  # real time: how often to ask the engine
                self._poll_health(run)
                next_health = time.monotonic() + 0.5
            if run.pump:
                run.pump.flush()

    def _handle(self, run: _Run, event: tuple) -> None:
        kind = event[0]
        if kind == "stop":
            self._begin_stopping(run, event[1], event[2])
        elif kind == "exit":
            name, code = event[1], event[2]
            reason = None
            try:  # the kernel's OOM killer sends SIGKILL (exit 137): only then can OOMKilled be set
                if code == 137 and self.client.api.inspect_container(run.ids[name])["State"].get("OOMKilled"):
                    reason = OUT_OF_MEMORY
            except Exception:  # noqa: BLE001 - removed under us: the exit code is all there is
                pass
            self._set_container(run, name, last_status="STOPPED", exit_code=code, reason=reason)
            if run.plans[name].essential:
                self._begin_stopping(run, ESSENTIAL_EXITED, "EssentialContainerExited")

    def _poll_health(self, run: _Run) -> None:
        changed = False
        for name, plan in run.plans.items():
            if not plan.has_health_check or run.state.containers[name].last_status != "RUNNING":
                continue
            try:
                engine_state = self.client.api.inspect_container(run.ids[name])["State"]
            except Exception:  # noqa: BLE001
                continue
            if not engine_state.get("Running"):  # Docker says "unhealthy" of every stopped container: not a check
                continue
            health = engine_state.get("Health") or {}
            status = _HEALTH.get(health.get("Status", ""), "UNKNOWN")
            if status != run.state.containers[name].health_status:
                self._set_container(run, name, health_status=status)
                changed = True
        if changed:
            self._set(run, health_status=_task_health(run))

    def _begin_stopping(self, run: _Run, reason: str, stop_code: str) -> None:
        """Record why the task stops (the first cause wins) and stop its running containers."""
        with self._lock:
            if run.state.stopping_at is not None:
                return
            run.state.stopping_at = clock.now()
            run.state.stop_code = stop_code
            run.state.stopped_reason = reason
            run.state.last_status = "STOPPING" if run.state.started_at else "DEPROVISIONING"
        running = [name for name in run.waves if run.state.containers[name].last_status == "RUNNING"]
        if running:
            threading.Thread(target=self._stop_containers, args=(run, running), daemon=True,
                             name=f"stop-{run.request.task_id[:12]}").start()

    def _stop_containers(self, run: _Run, names: list[str]) -> None:
        """SIGTERM, then SIGKILL after each container's stopTimeout; dependents before their dependencies."""
        for wave in sorted({run.waves[n] for n in names}, reverse=True):
            threads = [threading.Thread(target=self._stop_one, args=(run, n), daemon=True)
                       for n in names if run.waves[n] == wave]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

    def _stop_one(self, run: _Run, name: str) -> None:
        try:
            self.client.api.stop(run.ids[name], timeout=run.plans[name].stop_timeout)
        except Exception:  # noqa: BLE001 - already gone
            log.debug("stop of %s failed", name, exc_info=True)

    def _finish(self, run: _Run) -> None:
        """Deliver the last logs, record STOPPED, then remove the task's containers."""
        try:
            if run.pump:
                run.pump.finish(timeout=1.0 if run.aborted else 5.0)
        except Exception:  # noqa: BLE001
            log.exception("log delivery failed")
        if run.pause_id:
            self._remove(run.pause_id)
        with self._lock:
            now = clock.now()
            state = run.state
            if state.stopping_at is None:
                state.stopping_at = now
            state.execution_stopped_at = now
            state.stopped_at = now
            state.last_status = "STOPPED"
            for container in state.containers.values():
                container.last_status = "STOPPED"
        self._endpoint.unregister(run.request.task_id)
        for container_id in run.ids.values():
            self._remove(container_id)
        if run.volumes:
            self._remove_volumes({LABEL_PORT: self.port, LABEL_TASK: run.request.task_id})
        with self._lock:
            self._reserved.difference_update(run.reserved)

    # ----- what Fargate gives a task: the metadata endpoint, its role's credentials, its volumes -------------

    def _register_endpoint(self, run: _Run) -> None:
        """Join the task network and get each container's endpoint variables (none without the network).

        The network is looked up at every launch: one shared by every backend on the engine, that ``docker network
        prune`` may remove between two tasks (it is then created again)."""
        network = None if self._no_network else task_endpoint.ensure_network(self.client)
        if network is None:
            self._no_network = True
            return
        try:
            run.endpoint_env = self._endpoint.register(run.request.task_id, list(run.plans),
                                                       run.request.credentials is not None)
        except OSError as error:  # the gateway's address is not on this host: the engine is remote
            log.warning("task endpoint unavailable: %s", error)
            self._no_network = True
            return
        run.network = network
        gate_url = self._endpoint.url() if hooks.CONFIG.get("gate") is not None else None
        if gate_url:  # the embedded backend only: its API, signed requests from the task network only
            for environment in run.endpoint_env.values():
                environment["AWS_ENDPOINT_URL"] = gate_url

    def _role_credentials(self, task_id: str) -> dict | None:
        with self._lock:
            run = self._runs.get(task_id)
        if run is None or run.request.credentials is None:
            return None
        return run.request.credentials()

    def _metadata(self, task_id: str, asker: str, whole_task: bool, kind: str) -> Any:
        """The metadata endpoint's answer for the task or the asking container (which, asking, runs)."""
        with self._lock:
            run = self._runs[task_id]
            state = copy.deepcopy(run.state)
        if state.last_status in ("PROVISIONING", "PENDING"):  # asked between the engine's start and our record
            state.last_status = "RUNNING"
        if state.containers[asker].last_status == "PENDING":
            state.containers[asker].last_status = "RUNNING"
        name = None if whole_task else asker
        names = [name] if name else list(run.plans)
        if kind == "stats":
            stats = {run.ids[n]: self._stats(run.ids[n]) for n in names if n in run.ids}
            return next(iter(stats.values()), {}) if name else stats
        address = self._address(run)
        documents = [task_metadata.container(run.request, state, n, run.ids.get(n), run.plans[n].image,
                                             self._image_id(run.ids.get(n)), address) for n in names]
        return documents[0] if name else task_metadata.task(run.request, state, documents)

    def _stats(self, container_id: str) -> dict:
        try:
            return self.client.api.stats(container_id, stream=False)
        except Exception:  # noqa: BLE001 - not running (yet, or any more): AWS answers no stats either
            return {}

    def _image_id(self, container_id: str | None) -> str:
        try:
            return self.client.api.inspect_container(container_id)["Image"] if container_id else ""
        except Exception:  # noqa: BLE001
            return ""

    def _address(self, run: _Run) -> str | None:
        owner = run.pause_id or next(iter(run.ids.values()), None)
        if owner is None or not run.network:
            return None
        try:
            networks = self.client.api.inspect_container(owner)["NetworkSettings"]["Networks"]
            return networks[run.network]["IPAddress"] or None
        except Exception:  # noqa: BLE001
            return None

    def _create_volumes(self, run: _Run) -> None:
        """One Docker volume per task volume (Fargate's task storage); removed with the task."""
        labels = {LABEL_PORT: self.port, LABEL_TASK: run.request.task_id}
        for volume in run.request.task_definition.get("volumes") or []:
            name = f"fargate-lab-{self.port}-{run.request.task_id}-{volume['name']}"
            self.client.api.create_volume(name=name, labels=labels)
            run.volumes[volume["name"]] = name

    def _volume_args(self, run: _Run, plan: ContainerPlan) -> dict[str, Any]:
        from docker.types import Mount

        args: dict[str, Any] = {}
        if plan.mount_points:
            args["mounts"] = [Mount(path, run.volumes[volume], type="volume", read_only=read_only)
                              for volume, path, read_only in plan.mount_points]
        if plan.volumes_from:
            args["volumes_from"] = [f"{run.ids[source]}:{'ro' if read_only else 'rw'}"
                                    for source, read_only in plan.volumes_from]
        return args


def _in_embedded_ecr(reference: str) -> bool:
    """Whether ``reference`` names an image of this backend's ECR registry."""
    try:
        from emulator.fidelity import ecr

        return reference.startswith(ecr.registry_host() + "/")
    except (ImportError, AttributeError):
        return False


def _task_health(run: _Run) -> str:
    checked = [run.state.containers[n].health_status for n, p in run.plans.items() if p.essential and p.has_health_check]
    if not checked:
        return "UNKNOWN"
    if "UNHEALTHY" in checked:
        return "UNHEALTHY"
    return "HEALTHY" if all(s == "HEALTHY" for s in checked) else "UNKNOWN"


def _port_free(port: int, protocol: str) -> bool:
    kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except PermissionError:
            return True  # a privileged port: the engine (root) binds it, we cannot probe it
        except OSError:
            return False
    return True


def sweep_leftovers() -> int:
    """Remove the labeled containers a previous server on this port left behind (killed, or crashed); how many.

    Only this port's containers: other backends sharing the engine keep theirs.
    """
    from emulator.engine import docker_client

    client = docker_client()
    if client is None:
        return 0
    try:
        found = client.api.containers(all=True, quiet=True, filters={"label": f"{LABEL_PORT}={settings.current().port}"})
        for item in found:
            client.api.remove_container(item["Id"], force=True, v=True)
        if found:
            log.info("removed %d container(s) a previous server on this port left", len(found))
        return len(found)
    finally:
        client.close()


def sweep_leftovers_in_background() -> None:
    """At server start: ``sweep_leftovers`` without delaying the first answer."""

    def run() -> None:
        try:
            sweep_leftovers()
        except Exception:  # noqa: BLE001 - a failed sweep must not stop the server
            log.exception("could not remove leftover containers")

    threading.Thread(target=run, daemon=True, name="leftover-containers").start()
