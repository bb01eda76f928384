VENV ?= .venv
PYTHON ?= python3.11
PY := $(VENV)/bin/python
PORT ?= 8000

CHROMIUM ?= /usr/bin/chromium

.PHONY: install install-dev system-packages run serve-embeddings test test-slow test-bench test-all bench lint

# pip says what it collects and installs: the first install (torch, transformers) takes minutes.
PIP_INSTALL := $(PY) -m pip install --disable-pip-version-check --progress-bar off

$(VENV)/.installed: pyproject.toml
	@echo "Installing the app and its dependencies into $(VENV) (the first time takes a few minutes)..."
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -e '.[model]'
	@echo "Installed."
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	@echo "Installing the test and benchmark tools into $(VENV)..."
	$(PIP_INSTALL) -e '.[model,rq,dev]'
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

# Web server and background worker together; Ctrl-C stops both and the embedded database.
run: install
	$(PY) manage.py serve --bind 127.0.0.1:$(PORT)

# An inference node: only the model's calls, for web servers and workers elsewhere whose
# EMBEDDINGS_BACKEND is remote; no database. Set EMBEDDINGS_INFERENCE_SECRET (docs/scaling.md).
INFERENCE_BIND ?= 127.0.0.1:8001
serve-embeddings: install
	SERVER_ROLE=inference $(PY) manage.py serve --bind $(INFERENCE_BIND)

# Debian's Chromium for the end-to-end tests (Playwright's own browser download is not used),
# wrk for the HTTP load benchmark, nginx, the proxy of docker-compose.yml, which the
# deployment tests and the slow-clients benchmark run, Redis for the tests of the RQ queue, and
# real sounds (desktop sounds, spoken channel names) for the precision benchmark.
SOUNDS := /usr/share/sounds/freedesktop/stereo /usr/share/sounds/alsa
system-packages:
	test -x $(CHROMIUM) && command -v wrk >/dev/null && command -v nginx >/dev/null && command -v redis-server >/dev/null && ls $(SOUNDS) >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium wrk nginx redis-server sound-theme-freedesktop alsa-utils; }

# The quick suite, in two test processes (pytest-xdist), each on its own test database; a
# module's tests share a process, so module-scoped fixtures (a gunicorn, a 3,000-item library)
# are made once.
TEST := $(PY) -m pytest -n 2 --dist loadscope
test: install-dev system-packages
	$(TEST) -m "not bench and not slow"

# What starts real servers, workers or a browser, or fuzzes or soaks.
test-slow: install-dev system-packages
	$(TEST) -m "slow and not bench"

# The benchmarks' smoke tests (python -m bench at a tiny size), alone.
test-bench: install-dev system-packages
	$(PY) -m pytest -m bench

# Every test: what a fresh machine and CI (.ci/run) run.
test-all: test test-slow test-bench

# Every benchmark at its default size; see docs/performance.md.
bench: install-dev system-packages
	$(PY) -m bench --parts vector,embedding,precision,api,ingestion,ingestion-model,http,slow-clients,memory --output bench/results.json

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/deptry .
	$(VENV)/bin/mypy
