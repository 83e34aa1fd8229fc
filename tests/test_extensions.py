"""The emulator extends moto through explicit seams: subclasses installed from one ordered list, nothing else."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

EMULATOR = Path(__file__).resolve().parents[1] / "emulator"


def _sources() -> dict[Path, str]:
    return {path: path.read_text() for path in EMULATOR.rglob("*.py")}


def test_no_import_order_tricks_thread_locals_or_lab_attributes():
    for path, text in _sources().items():
        assert not path.name.startswith("zz"), path
        assert "threading.local" not in text, f"{path}: a thread-local carries request parameters"
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Attribute) and (node.attr.startswith("_lab_") or node.attr == "_lab"):
                raise AssertionError(f"{path}:{node.lineno}: {node.attr} hung on another object")
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("_lab_"):
                raise AssertionError(f"{path}:{node.lineno}: {node.value!r} names an attribute for another object")
            targets = node.targets if isinstance(node, ast.Assign) else []
            for target in targets:  # cls.__setattr__ = ... would let moto's objects carry our state
                if isinstance(target, ast.Attribute) and target.attr in ("__setattr__", "__dict__"):
                    raise AssertionError(f"{path}:{node.lineno}: {target.attr} of another class replaced")
                owner = target.value if isinstance(target, ast.Attribute) else None
                name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
                if name[:1].isupper():  # models.Image.x = ...: a method swapped on a class, not a seam
                    raise AssertionError(f"{path}:{node.lineno}: {name}.{target.attr} replaced on a class")


def test_every_backend_and_response_subclass_extends_the_moto_class_it_replaces():
    from emulator import extensions

    for module_name, dict_name, ours in extensions._backends():
        original = getattr(importlib.import_module(module_name), dict_name).backend
        assert issubclass(ours, original) or original is ours, (ours, original)
    for module_name, class_name, ours in extensions._models():
        original = getattr(importlib.import_module(module_name), class_name)
        assert issubclass(ours, original) or original is ours, (ours, original)
    for module_name, ours in extensions._responses():
        urls = importlib.import_module(module_name)
        owners = [getattr(h, "__self__", None) for h in urls.url_paths.values()]
        assert any(isinstance(o, type) and (issubclass(ours, o) or o is ours) for o in owners), (ours, owners)


def test_the_running_server_answers_through_our_subclasses(simulated_backend):
    """A retried RunTask by clientToken (our ECS subclass) and a token for the embedded registry (our ECR one)."""
    from helpers import local
    from helpers.session import LabSession

    local.reset(simulated_backend.port)
    session = LabSession(backend="local", endpoint_url=simulated_backend.url, region_name="us-east-1",
                         **local.CREDENTIALS)
    token = session.client("ecr").get_authorization_token()["authorizationData"][0]
    assert token["proxyEndpoint"] == f"http://127.0.0.1:{simulated_backend.port}"
    ecs = session.client("ecs")
    ecs.create_cluster(clusterName="seams")
    assert ecs.list_tasks(cluster="seams")["taskArns"] == []
    policy = session.client("iam").get_policy(
        PolicyArn="arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy")["Policy"]
    assert policy["PolicyName"] == "AmazonECSTaskExecutionRolePolicy"
