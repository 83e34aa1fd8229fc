"""Helpers for the ECS Fargate lab: ECR pushes, Fargate tasks and services, cost and state.

Start with ``session = helpers.connect()`` (the embedded backend) or
``helpers.connect(backend="aws")``; every helper takes that session first. ``helpers.readable_tables()``
makes a notebook show every table readably (``helpers.display``).
"""

from helpers.session import LabSession, connect

__all__ = ["LabSession", "connect", "readable_tables"]
__version__ = "0.1.0"


def readable_tables() -> bool:
    """Every DataFrame this notebook shows, shown as ``helpers.display.table`` does (pandas is loaded only here)."""
    from helpers.display import readable_tables as install

    return install()
