# Quanzu — the two commands that matter: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)
export QUANZU_DATA_DIR ?= var
export QUANZU_DATABASE_URL ?= sqlite:///var/quanzu.sqlite3

.PHONY: demo test lint fmt install services browser fonts bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*; touch $@

# The browser libraries the pages use (htmx, ECharts), pinned in web/package-lock.json and served
# by Quanzu itself: nothing loads from the internet at run time.
web/node_modules/.installed: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $@

install: $(STAMP) web/node_modules/.installed fonts

demo: install
	$(BIN)/quanzu db upgrade
	$(BIN)/quanzu demo load
	$(BIN)/quanzu serve --host 127.0.0.1 --port 8000 --demo-feed 5

services:
	scripts/ensure-services.sh

browser:
	scripts/ensure-chromium.sh

# The daily briefing's PDF: Pango (WeasyPrint) and the Noto CJK fonts, from Debian.
fonts:
	scripts/ensure-fonts.sh

lint: install
	$(BIN)/ruff check src tests bench migrations scripts
	$(BIN)/ruff format --check src tests bench migrations scripts
	$(BIN)/python scripts/i18n.py --check
	$(BIN)/mypy

test: install services browser lint
	$(BIN)/python -m pytest -n 2 -q

bench: install services
	command -v wrk >/dev/null || apt-get install -y -q wrk
	$(BIN)/python bench/intake.py
	$(BIN)/python bench/timers.py
	$(BIN)/python bench/pages.py
	$(BIN)/python bench/screen.py
	$(BIN)/python bench/suggest.py
	$(BIN)/python bench/simulate.py
	$(BIN)/python bench/cluster.py

fmt: install
	$(BIN)/ruff check --fix src tests bench migrations
	$(BIN)/ruff format src tests bench migrations

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

# Hostile input at length (docs/security.md): schemathesis with 200 random examples per operation,
# every role, and the Hypothesis properties with the `fuzz` profile. `make test` runs them short.
.PHONY: fuzz
fuzz: install services
	QUANZU_FUZZ_EXAMPLES=200 QUANZU_FUZZ_RANDOM=1 QUANZU_HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q tests/security
