"""From a task definition and RunTask overrides to what the engine is asked to run (no engine needed)."""

from __future__ import annotations

from emulator.container_spec import health_check, parse_env_file, plan_task
from emulator.pause_image import is_static_elf

TASK = {
    "family": "web", "cpu": "1 vCPU", "memory": "2 GB",
    "containerDefinitions": [
        {"name": "app", "image": "app:1", "command": ["serve"], "cpu": 256, "memoryReservation": 256,
         "environment": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}], "stopTimeout": 500,
         "portMappings": [{"containerPort": 8080}], "dependsOn": [{"containerName": "init", "condition": "SUCCESS"}],
         "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/g", "awslogs-stream-prefix": "p"}},
         "healthCheck": {"command": ["CMD-SHELL", "true"], "interval": 5}},
        {"name": "init", "image": "init:1", "essential": False, "memory": 64},
    ],
}


def test_sizes_overrides_and_ecs_defaults():
    overrides = {"memory": "4096", "containerOverrides": [
        {"name": "app", "command": ["migrate"], "environment": [{"name": "B", "value": "override"}]}]}
    app, init = plan_task(TASK, overrides, "abc123", {"l": "v"}, "prefix")
    assert app.create_kwargs["command"] == ["migrate"]
    assert app.environment == {"A": "1", "B": "override"}
    assert app.create_kwargs["nano_cpus"] == 1_000_000_000  # "1 vCPU"
    assert app.create_kwargs["mem_limit"] == "4096m" == app.create_kwargs["memswap_limit"]  # the task's, overridden
    assert app.create_kwargs["mem_reservation"] == "256m" and app.create_kwargs["cpu_shares"] == 256
    assert app.stop_timeout == 120 and init.stop_timeout == 30  # ECS's maximum and default
    assert init.create_kwargs["mem_limit"] == "64m" and not init.essential and app.essential
    assert app.depends_on == [("init", "SUCCESS")]
    assert (app.log_group, app.log_stream) == ("/g", "p/app/abc123") and init.log_group is None
    assert app.create_kwargs["labels"] == {"l": "v", "fargate-lab.container-name": "app"}
    assert app.create_kwargs["name"] == "prefix-app"
    assert [(p.container_port, p.host_port, p.protocol) for p in app.port_mappings] == [(8080, 8080, "tcp")]


def test_health_check_uses_ecs_defaults_in_nanoseconds():
    assert health_check({"command": ["CMD-SHELL", "curl -f localhost"], "interval": 5}) == {
        "test": ["CMD-SHELL", "curl -f localhost"], "interval": 5_000_000_000, "timeout": 5_000_000_000,
        "retries": 3, "start_period": 0}


def test_env_file_lines():
    assert parse_env_file("# c\n\nA=1\nB = x=y\nnot a pair\n") == {"A": "1", "B": " x=y"}


def test_the_pause_image_is_made_only_of_a_static_executable():
    from pathlib import Path

    assert is_static_elf(Path("/bin/busybox"))  # Debian's busybox-static, installed by .ci/run
    assert not is_static_elf(Path("/bin/ls"))  # dynamically linked: it could not run FROM scratch
    assert not is_static_elf(Path(__file__))


def test_a_task_larger_than_the_host_gets_every_host_cpu():
    import os

    big = {**TASK, "cpu": "8192", "containerDefinitions": [TASK["containerDefinitions"][1]]}
    (init,) = plan_task(big, {}, "abc123", {}, "prefix")
    # Docker refuses --cpus above the host's CPUs; Fargate's 8 vCPU becomes "all of them" here.
    assert init.create_kwargs["nano_cpus"] == min(8, os.cpu_count()) * 1_000_000_000
