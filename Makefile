# Two commands on a fresh machine with Python 3.11+ and make:
#   make run    install, migrate, start web + scheduler on SQLite with a demo workspace
#   make test   install everything the tests need (Debian packages included) and run them

SHELL := /bin/bash
VENV  := .venv
BIN   := $(VENV)/bin
PYTHON ?= $(shell for p in python3 python3.13 python3.12 python3.11; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && { echo $$p; break; }; done)
# Reinstall when the dependencies change.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
PYTEST_WORKERS ?= 2

.PHONY: install run demo serve scheduler migrate test test-fast lint system-deps test-tools clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "make: Python 3.11 or newer is required" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

run: install
	$(BIN)/almanac run --demo

serve: install
	$(BIN)/almanac serve

scheduler: install
	$(BIN)/almanac scheduler

migrate: install
	$(BIN)/almanac migrate

demo: install
	$(BIN)/almanac demo

# Debian packages: Chromium for the browser tests (never a downloaded browser build),
# ffmpeg for ffprobe (video duration and codec of uploaded media).
SYSTEM_PACKAGES := chromium ffmpeg
system-deps:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/ffprobe ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
		else \
			sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
		fi; \
	fi
	@/usr/bin/chromium --version
	@/usr/bin/ffprobe -version | head -n 1

# Tools the tests start (real Bluesky PDS, Synapse, axe-core): each
# tests/tools/install-*.sh installs one, idempotently, into a cache outside the repo
# ($$ALMANAC_TEST_CACHE, default ~/.cache/almanac-test), and prints where it is.
test-tools:
	@for script in tests/tools/install-*.sh; do \
		[ -e "$$script" ] || continue; bash "$$script" || exit 1; \
	done

test: install system-deps test-tools
	$(BIN)/ruff check .
	$(BIN)/pytest -n $(PYTEST_WORKERS) -p no:cacheprovider -rs --ignore=tests/browser
	@# The browser tests are flows over shared installs (a later test opens the post an
	@# earlier one made, counts the notifications earlier ones left): one process, in order.
	$(BIN)/pytest -p no:cacheprovider -rs tests/browser

# Quicker loop while working: no browser, no subprocess tests.
test-fast: install
	$(BIN)/pytest -n $(PYTEST_WORKERS) -p no:cacheprovider -m "not slow" --ignore=tests/browser

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) build *.egg-info
