# Bellwether: `make run` starts the whole product, `make test` runs every test.
# Both set everything up on a machine with only Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.lock | cksum | cut -d' ' -f1)

.PHONY: run test stop services status lint setup bench-ingest bench-compute bench-alerts bench-fanout bench-load bench-pages \
	bench-predict bench-tenants bench-platform bench-pgbouncer

$(STAMP): requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	@rm -f $(VENV)/.installed-* && touch $@

setup: $(STAMP)

services: $(STAMP)
	@$(PY) scripts/services.py start

run: services
	@$(PY) scripts/run.py

test: services
	@$(PY) scripts/browser.py
	@$(PY) -m pytest $(PYTEST_ARGS)

bench-ingest: services
	@$(PY) manage.py platform_migrate
	@$(PY) scripts/bench_ingest.py $(BENCH_ARGS)

bench-compute: services
	@$(PY) manage.py platform_migrate
	@$(PY) scripts/bench_compute.py $(BENCH_ARGS)

bench-alerts: services
	@$(PY) manage.py platform_migrate
	@$(PY) scripts/bench_breach_to_task.py $(BENCH_ARGS)

bench-fanout: services
	@$(PY) manage.py platform_migrate
	@$(PY) scripts/bench_fanout.py $(BENCH_ARGS)

# A thousand tenants in a database of their own (bench_tenants): creation, then a migration of them all.
bench-tenants: services
	@$(PY) scripts/bench_tenants.py $(BENCH_ARGS)

# N web servers, N workers per queue and one beat over bench-tenants' tenants: requests, the nightly fan-out,
# beat's sweeps, connections.
bench-platform: services
	@$(PY) scripts/bench_platform.py $(BENCH_ARGS)

# PgBouncer's pool modes against a schema per tenant (PgBouncer is not a pip package: set PGBOUNCER to its binary).
bench-pgbouncer: services
	@$(PY) scripts/bench_pgbouncer.py $(BENCH_ARGS)

# The dependency audit fails on a known vulnerability; where the vulnerability database is unreachable it
# says the audit was not performed and does not fail (scripts/audit_dependencies.py).
bench-load: services
	@$(PY) manage.py platform_migrate
	@$(PY) scripts/load_test.py $(BENCH_ARGS)

bench-pages: services
	@$(PY) manage.py platform_migrate
	@$(PY) scripts/bench_pages.py $(BENCH_ARGS)

bench-predict: services
	@$(PY) manage.py platform_migrate
	@$(PY) scripts/bench_predict.py $(BENCH_ARGS)

# ruff, then the layers between apps and the absence of cycles inside them (import-linter, pyproject.toml).
lint: $(STAMP)
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/lint-imports --no-cache
	@$(PY) scripts/audit_dependencies.py requirements.lock

status: $(STAMP)
	@$(PY) scripts/services.py status

stop:
	@if [ -x $(PY) ]; then $(PY) scripts/services.py stop; fi
