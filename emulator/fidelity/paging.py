"""Installs the wire layers of emulator.paging (AWS's page sizes, tokens, list limits) and emulator.ecs_rules
(ECS's request rules moto does not apply), in front of moto; ``emulator.extensions`` lists them."""

from __future__ import annotations

from emulator import hooks
from emulator.ecs_rules import EcsRulesLayer
from emulator.paging import PagingLayer


def layers() -> list:
    """ECS's request rules, then paging: the order a request meets them."""
    return [EcsRulesLayer(), PagingLayer(lambda: hooks.CONFIG["app"].moto_app)]
