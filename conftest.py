"""pytest's hooks for every path of the repository, notebooks/ included: tests/plugin.py (own port, own state
directory, xdist groups, no skip in CI)."""

pytest_plugins = ["tests.plugin", "tests.shape_check"]
