"""Test-only instrumentation of the processes a test starts (``python -m helpers run``, papermill's kernels).

A test that wants it puts this directory first on the child's ``PYTHONPATH`` (``instrumented_env``): Python imports
``sitecustomize`` at start. Nothing in ``helpers`` installs any of this by itself.
"""

import lab_instrument

lab_instrument.install_from_environment()
