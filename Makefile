# sipe-setup — the two commands the README promises:
#   make run    set up and start sipe-setup
#   make test   set up (Debian packages, venv, Python deps) and run every test
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: run cli demo screenshots test lint unit system-deps venv bench clean

system-deps:
	./scripts/install-system-deps.sh

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,kerberos]'
	touch $(STAMP)

venv: system-deps $(STAMP)

# The wizard; ARGS go to it (e.g. make run ARGS="--signin alice@company.com"). CLI: make cli.
run: venv
	$(VENV)/bin/sipe-setup-gui $(ARGS)

# The command line, e.g. make cli ARGS="discover alice@example.test"
cli: venv
	$(VENV)/bin/sipe-setup $(ARGS)

# The wizard against a test registrar + dnsmasq on 127.0.0.1 (password Passw0rd!)
demo: venv
	$(PY) scripts/demo.py $(ARGS)

# docs/screenshots/*.png under Xvfb, at 100 % and 200 %
screenshots: venv
	$(PY) scripts/screenshots.py $(ARGS)

lint: venv
	$(VENV)/bin/ruff check app tests
	$(VENV)/bin/mypy

test: venv
	$(VENV)/bin/ruff check app tests scripts
	$(VENV)/bin/mypy
	$(PY) -m pytest $(PYTEST_ARGS)

bench: venv
	$(PY) -m tests.bench.discovery_bench
	$(PY) -m tests.bench.check_bench
	$(PY) -m tests.bench.tls_dsk_bench
	QT_QPA_PLATFORM=offscreen $(PY) -m tests.bench.gui_bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build app/*.egg-info
