# sipe-setup — the two commands the README promises:
#   make run    set up and start sipe-setup
#   make test   set up (Debian packages, venv, Python deps) and run every test
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test lint unit system-deps venv bench clean

system-deps:
	./scripts/install-system-deps.sh

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,kerberos]'
	touch $(STAMP)

venv: system-deps $(STAMP)

# Without ARGS this prints the command overview; e.g. make run ARGS="discover alice@example.test"
run: venv
	$(VENV)/bin/sipe-setup $(ARGS)

lint: venv
	$(VENV)/bin/ruff check app tests
	$(VENV)/bin/mypy

test: venv
	$(VENV)/bin/ruff check app tests
	$(VENV)/bin/mypy
	$(PY) -m pytest $(PYTEST_ARGS)

bench: venv
	$(PY) -m tests.bench.discovery_bench
	$(PY) -m tests.bench.check_bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build app/*.egg-info
