# The two front-door commands are `make up` and `make test`; everything else is a helper.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
# The stamp carries a hash of pyproject.toml, so a changed dependency list reinstalls.
STAMP   := $(VENV)/.installed-$(shell sha1sum pyproject.toml 2>/dev/null | cut -c1-12)

.PHONY: up test venv sysdeps lint typecheck contracts proto proto-check unit bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

venv: $(STAMP)

# PostgreSQL server binaries for the store suite (a throwaway cluster is started per run)
# and Debian's chromium with a CJK font (legible screenshots) for the browser tests (tests/e2e).
sysdeps:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing PostgreSQL server binaries (apt-get install postgresql)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	else echo "warning: PostgreSQL server binaries missing; PostgreSQL tests will be skipped"; fi
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian's chromium (apt-get install chromium fonts-wqy-microhei)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null; \
	else echo "warning: /usr/bin/chromium missing; browser (e2e) tests will be skipped"; fi

## Run a whole local federation (province, city, two counties) with demo data.
up: venv
	$(BIN)/zhitong up

## Lint, type-check, check the import contracts and run the whole test suite.
test: venv sysdeps lint typecheck contracts proto-check
	$(BIN)/pytest

lint: venv
	$(BIN)/ruff check .

typecheck: venv
	$(BIN)/mypy

## The layering contracts in pyproject.toml ([tool.importlinter]).
contracts: venv
	$(BIN)/lint-imports --no-cache

## Regenerate federation/wire/v1 from proto/ (the generated code is committed).
proto: venv
	$(BIN)/python -m federation.wire.build

proto-check: proto
	@git diff --quiet -- federation/wire || { git --no-pager diff --stat -- federation/wire; \
	  echo "federation/wire is stale: run 'make proto' and commit the result"; exit 1; }

unit: venv
	$(BIN)/pytest tests/unit

bench: venv sysdeps
	$(BIN)/python -m bench.intake

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
