# One-command setup and run. See README.md.
#
# Variables given on the command line (DATE, FROM, TO, ARGS, ...) never reach a shell
# or make itself as code: their raw text ($(value ...), not expanded by make) is exported
# to the recipes' environment and passed quoted as "$$DLA_DATE" etc., and `dla`
# validates it (an extract date is YYYY-MM-DD, CE).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
DLA    := $(BIN)/dla
DOCS_PORT ?= 8081
QUALITY_DOCS_PORT ?= 8082
export DLA_HOME := $(CURDIR)
export PATH := $(BIN):$(PATH)
# make would export command-line variables itself, expanding them: it must not
unexport DATE FROM TO ARGS DOCS_PORT QUALITY_DOCS_PORT
export DLA_DATE := $(value DATE)
export DLA_FROM := $(value FROM)
export DLA_TO := $(value TO)
export DLA_ARGS := $(value ARGS)
export DLA_DOCS_PORT := $(value DOCS_PORT)
export DLA_QUALITY_DOCS_PORT := $(value QUALITY_DOCS_PORT)

.PHONY: compose-env setup venv run night backfill demo-blocked quality-docs test lint warehouse-start warehouse-stop airflow airflow-stop psql lock dbt docs freshness migrate

setup: venv ## install, start the warehouse, create roles/schemas, migrate the warehouse and Airflow's DB
	umask 077; $(DLA) setup
	$(DLA) airflow db migrate > .airflow-migrate.log 2>&1 || (cat .airflow-migrate.log; exit 1)
	@rm -f .airflow-migrate.log
	@echo "setup done: try 'make run'"

venv: $(VENV)/.installed
$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	@touch $@

run: ## the main job: one night end to end (sample extracts if the landing zone is empty)
	@$(DLA) warehouse start >/dev/null
	$(DLA) run $${DLA_DATE:+--date "$$DLA_DATE"}

night: ## the whole chain for one extract date: make night DATE=YYYY-MM-DD (default: yesterday)
	@$(DLA) warehouse start >/dev/null
	$(DLA) night $${DLA_DATE:+--date "$$DLA_DATE"}

backfill: ## a range of nights: make backfill FROM=YYYY-MM-DD TO=YYYY-MM-DD
	@if [ -z "$$DLA_FROM" ] || [ -z "$$DLA_TO" ]; then echo "usage: make backfill FROM=YYYY-MM-DD TO=YYYY-MM-DD" >&2; exit 2; fi
	$(DLA) backfill --from "$$DLA_FROM" --to "$$DLA_TO"

compose-env: ## the secrets docker-compose.yml needs, in .secrets/compose.env (0600)
	$(DLA) compose-env

migrate: ## upgrade the warehouse schema (raw, ops) in place
	$(DLA) migrate

demo-blocked: ## a night with an injected blocking failure: analysts' view unchanged, report names the check
	$(BIN)/python scripts/demo_blocked_night.py $${DLA_DATE:+--date "$$DLA_DATE"}

quality-docs: ## Great Expectations data docs of the latest runs on http://localhost:$(QUALITY_DOCS_PORT)
	@test -f expectations/gx/uncommitted/data_docs/local_site/index.html || (echo "no data docs yet: run make run first"; exit 1)
	$(BIN)/python -m http.server "$$DLA_QUALITY_DOCS_PORT" --bind 127.0.0.1 --directory expectations/gx/uncommitted/data_docs/local_site

test: bi-install ## the test suite, against the real warehouse (and Superset in a real browser)
	$(DLA) warehouse start
	$(BIN)/pytest -q

lint: ## ruff (Python) and sqlfluff (the dbt models, dbt_project/.sqlfluff)
	$(BIN)/ruff check src dags scripts tests
	$(BIN)/ruff format --check src dags scripts tests
	cd dbt_project && $(BIN)/sqlfluff lint models --disable-progress-bar

warehouse-start:
	$(DLA) warehouse start
warehouse-stop:
	$(DLA) warehouse stop

dbt: ## any dbt command with the warehouse settings: make dbt ARGS="build --select marts"
	$(DLA) dbt --args "$$DLA_ARGS"

docs: ## dbt docs of the published marts (lineage, types, overview) on http://127.0.0.1:$(DOCS_PORT)/static_index.html
	$(DLA) docs
	$(BIN)/python -m http.server "$$DLA_DOCS_PORT" --bind 127.0.0.1 --directory dbt_project/target/docs

freshness: ## dbt source freshness on the raw tables
	$(DLA) dbt source freshness

airflow: ## the real scheduler locally: scheduler, api-server, dag-processor, triggerer (AIRFLOW_PORT, default 8080)
	$(DLA) airflow-up

airflow-stop: ## stop every process `make airflow` started
	$(DLA) airflow-stop

psql: ## psql as your own analyst login (libpq service from .secrets: no password on the command line)
	PGSERVICEFILE=$(CURDIR)/.secrets/pg_service.conf PGPASSFILE=$(CURDIR)/.secrets/pgpass psql service=dla_analyst

lock: ## refresh requirements.lock from the current venv
	$(BIN)/pip freeze --exclude-editable | sed '1i # Exact versions tested together. Regenerate with `make lock`.' > requirements.lock

# Apache Superset (make bi, bi-stop, bi-install, bi-check) and the benchmark (make bench)
include bi/bi.mk
include bench.mk
