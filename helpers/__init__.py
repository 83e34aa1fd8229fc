"""Helpers for the ECS Fargate lab: ECR pushes, Fargate tasks and services, cost and state.

Start with ``session = helpers.connect()`` (the embedded backend) or
``helpers.connect(backend="aws")``; every helper takes that session first.
"""

from helpers.session import LabSession, connect

__all__ = ["LabSession", "connect"]
__version__ = "0.1.0"
