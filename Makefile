# Keeping LLM training stable: set-up, serving and tests.
#
#   make serve    set everything up (once) and serve the course at http://127.0.0.1:8000
#   make test     set everything up, including Chromium and redis-server, then check the content
#                 and run pytest
#   make test-fast  the developers' loop: the content check without predict runs, then every
#                 test but the browser, serving-stack and slow ones (a few minutes)
#
# Every set-up step leaves a stamp, so a second run only checks the stamps (about a second).
#
# torch is installed first, on its own, from TORCH_SPEC (pip arguments). The default pin
# gets a CPU build. GPU users pick their own build on a fresh clone (or after `make clean`):
#   make serve TORCH_SPEC=torch
#   make serve TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu128"
# Changing TORCH_SPEC later reruns the torch step; pip keeps an installed torch that already
# satisfies the new spec, so run `make clean` first to switch builds.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON     ?= python3
TORCH_SPEC ?= torch==2.13.0
CHROMIUM   ?= /usr/bin/chromium
REDIS      ?= /usr/bin/redis-server
BWRAP      ?= /usr/bin/bwrap
HOST       ?= 127.0.0.1
PORT       ?= 8000
WEB_PROCESSES ?= 1
PYTEST_WORKERS ?= 2

VENV     := .venv
PY       := $(VENV)/bin/python
PIP      := $(PY) -m pip
STAMPS   := $(VENV)/.stamps
NODE_DIR := static/node_modules
NPM_STAMP := $(NODE_DIR)/.installed
EDITOR_BUNDLE := $(NODE_DIR)/.course-bundle/editor.js

SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: help setup serve test test-fast check pytest browser redis sandbox clean FORCE

help:
	@echo "make serve   set up (once) and serve the course at http://$(HOST):$(PORT)"
	@echo "make test    set up (Chromium and redis-server included), check the content, run the tests"
	@echo "make test-fast  the quick loop: no browser, no serving stack, nothing slow"
	@echo "make setup   only the set-up: $(VENV) (torch first: $(TORCH_SPEC)), npm packages"
	@echo "make clean   remove $(VENV), $(NODE_DIR) and the stamps"

setup: $(STAMPS)/project $(NPM_STAMP) $(EDITOR_BUNDLE) sandbox

# --no-proxy-headers: uvicorn would otherwise believe X-Forwarded-Proto from any local client;
# the app honours it only with COURSE_TRUST_PROXY=1 (app/web/security.py).
# WEB_PROCESSES=2 serves a class: two event loops, each with its own share of the cores'
# training workers (README, "Serving a class"); one learner is better served by one.
serve: setup
	COURSE_WEB_PROCESSES=$(WEB_PROCESSES) exec $(PY) -m uvicorn --factory app.main:create_app \
	  --host $(HOST) --port $(PORT) --no-proxy-headers --workers $(WEB_PROCESSES)

# The content check (one process, about 2 minutes, most of it training predict runs) runs beside
# the suite instead of before it: alone it left one of two cores idle. Its runs are recorded
# under a file lock (var/check-runs), so a run the check and a test both need trains once.
CHECK_LOG := var/content-check.log

test: setup browser redis
	@mkdir -p var; $(PY) -m app check > $(CHECK_LOG) 2>&1 & check=$$!; \
	tests=0; $(MAKE) --no-print-directory pytest || tests=$$?; \
	content=0; wait $$check || content=$$?; \
	echo "--- the content check, run beside the tests ($(CHECK_LOG)) ---"; cat $(CHECK_LOG); \
	if [ $$content -ne 0 ]; then echo "the content check failed (exit $$content)" >&2; fi; \
	exit $$(( tests ? tests : content ))

FAST_MARKERS := not slow and not browser and not serving and not trains

test-fast: setup
	$(PY) -m app check --fast
	@$(MAKE) --no-print-directory pytest PYTEST_ARGS='-m "$(FAST_MARKERS)" $(PYTEST_ARGS)'

check:
	$(PY) -m app check

# two pytest-xdist workers (the module is the unit of work, and every test on the live server
# goes to one worker: tests/xdist_scopes.py). PYTEST_WORKERS=0 runs the suite in one process.
pytest:
	@status=0; $(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadscope $(PYTEST_ARGS) || status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: that counts as a failure" >&2; fi; \
	exit $$status

browser:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  echo "$(CHROMIUM) is missing: installing Debian's chromium"; \
	  $(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y chromium; \
	fi
	@test -x "$(CHROMIUM)" || { echo "$(CHROMIUM) is still missing after apt-get install chromium" >&2; exit 1; }

# The tests start their own redis-server (a shared cache for two web processes) on a free port.
redis:
	@if [ ! -x "$(REDIS)" ]; then \
	  echo "$(REDIS) is missing: installing Debian's redis-server"; \
	  $(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y redis-server; \
	fi
	@test -x "$(REDIS)" || { echo "$(REDIS) is still missing after apt-get install redis-server" >&2; exit 1; }

# Learners' code is graded inside bubblewrap (app/exercises/sandbox.py). Without it, grading works only
# for a server on loopback (or with COURSE_SANDBOX_UNSAFE_OK=1), so a failed install warns.
sandbox:
	@if [ ! -x "$(BWRAP)" ]; then \
	  echo "$(BWRAP) is missing: installing Debian's bubblewrap (the exercises' sandbox)"; \
	  $(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y bubblewrap || true; \
	fi
	@test -x "$(BWRAP)" || echo "warning: $(BWRAP) is still missing: exercises are graded only on loopback (see README)" >&2

# --- the virtual environment -------------------------------------------------------------

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "$(PYTHON) is older than 3.11; run make with PYTHON=python3.11" >&2; exit 1; }
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV) || { \
	  echo "python3 -m venv failed; installing Debian's python3-venv and trying again"; \
	  rm -rf $(VENV); $(SUDO) apt-get update; \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y python3-venv; \
	  $(PYTHON) -m venv $(VENV); }
	$(PIP) install --quiet --upgrade pip

$(STAMPS):
	mkdir -p $@

# Holds the torch spec; rewritten (and so newer) only when TORCH_SPEC changes.
$(STAMPS)/torch-spec: FORCE | $(PY) $(STAMPS)
	@echo '$(TORCH_SPEC)' | cmp -s - $@ || echo '$(TORCH_SPEC)' > $@

$(STAMPS)/torch: $(STAMPS)/torch-spec | $(PY)
	$(PIP) install $(TORCH_SPEC)
	touch $@

$(STAMPS)/project: pyproject.toml $(STAMPS)/torch
	$(PIP) install -e '.[test]'
	touch $@

# --- front-end packages ------------------------------------------------------------------

$(NPM_STAMP): static/package.json $(wildcard static/package-lock.json)
	cd static && if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; \
	  else npm install --no-audit --no-fund; fi
	touch $@

# The exercises' editor: CodeMirror 6 (from npm) bundled into one file, served as /vendor/editor.js
$(EDITOR_BUNDLE): static/editor/editor-entry.js $(NPM_STAMP)
	cd static && node_modules/.bin/esbuild editor/editor-entry.js --bundle --minify --format=iife \
	  --log-level=warning --outfile=node_modules/.course-bundle/editor.js

clean:
	rm -rf $(VENV) $(NODE_DIR) *.egg-info

FORCE:
