# The lab's two commands: `make lab` runs every notebook on the embedded backend, `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# pytest-xdist workers for `make test` (each with its own backend port and state directory; tests/plugin.py).
TEST_WORKERS ?= 2

.PHONY: lab test jupyter lint backend-start backend-stop clean

# Installs once; a second `make lab` finds the stamp newer than the requirements and installs nothing.
$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

lab: $(STAMP)
	$(PY) -m helpers.local start
	$(PY) -m helpers run $(if $(OUT),--out $(OUT))

# In parallel: each module whole on one worker (its module-scoped backends and runs start once).
test: $(STAMP)
	$(PY) -m pytest --nbmake -n $(TEST_WORKERS) --dist loadscope tests notebooks $(PYTEST_ARGS)

# `make jupyter` as root (a container, a CI machine) passes --allow-root, which JupyterLab otherwise demands.
jupyter: $(STAMP)
	$(PY) -m helpers.local start
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

lint: $(STAMP)
	$(VENV)/bin/ruff check helpers emulator tests benchmarks
	$(VENV)/bin/lint-imports

backend-start: $(STAMP)
	$(PY) -m helpers.local start

backend-stop: $(STAMP)
	$(PY) -m helpers.local stop

clean:
	-$(PY) -m helpers.local stop
	rm -rf runs
