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

# e2e_bench and blackhole_bench run in a private network namespace (root; say so otherwise).
bench: venv
	$(PY) -m tests.bench.startup_bench
	$(PY) -m tests.bench.e2e_bench
	$(PY) -m tests.bench.blackhole_bench
	$(PY) -m tests.bench.discovery_bench
	$(PY) -m tests.bench.check_bench
	$(PY) -m tests.bench.tls_dsk_bench
	QT_QPA_PLATFORM=offscreen $(PY) -m tests.bench.gui_bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build app/*.egg-info

# --- packaging (separate from `make test`; README "Install") ------------------------------------
.PHONY: manpages dist-check deb-check flatpak-check

# packaging/man/*.1 from the programs' argparse parsers (a test fails when they are stale)
manpages: venv
	$(PY) scripts/manpages.py

# sdist + wheel, twine check --strict, the wheel in a fresh venv, unit tests against it
dist-check: venv
	./scripts/dist-check.sh

# the .deb built in a clean Debian 13 chroot, lintian, installed and tested in another (root)
deb-check:
	./scripts/deb-check.sh

# the Flatpak manifest, as far as this machine allows (flatpak-builder --show-manifest)
flatpak-check:
	./scripts/flatpak-check.sh

# --- dependency floors (not in `make test`: it downloads the floors into a fresh venv) ----------
.PHONY: deps-floor-check

# Every runtime dependency at exactly its floor in pyproject.toml (fresh venv under build/), then
# the unit, GUI and Secret Service tests against it: ~75 s with a warm pip cache on 2 cores
# (1300 tests in ~60 s), plus ~150 MB of downloads on a cold one (PySide6 is most of it).
deps-floor-check: system-deps
	$(PYTHON) scripts/deps_floor_check.py $(ARGS)
