"""Fixes that make moto answer like AWS for what the suite uses.

Each submodule holds one concern's subclasses of moto's backends and responses (or a WSGI layer in front of
moto); ``emulator.extensions`` installs them all, once, in the order its lists give. This package is the only
place where the embedded backend differs from plain moto.
"""
