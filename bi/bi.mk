# Apache Superset over the published marts ("a BI tool in the box"). Included by the
# Makefile (`include bi/bi.mk`); uses its CURDIR, DLA and export conventions.
#
#   make bi-install   .venv-bi (Python 3.11) from bi/requirements-bi.txt; as root, also Debian's
#                     chromium + fonts-thai-tlwg for the browser check (tests/test_bi.py)
#   make bi           bi-install (the venv) if needed, the warehouse, then `bi.py setup` (bi login,
#                     Superset metadata, admin, dashboards from bi/assets) and `bi.py start`:
#                     http://127.0.0.1:$(BI_PORT)/ (default 8088); admin password: make bi-env
#   make bi-stop      stop it
#   make bi-check     browser check of every dashboard against the running server; with
#                     PROVINCE=<Thai name> also with that province selected
#   make bi-env       the URL, admin user and admin password
#
# BI_PORT and PROVINCE never reach a shell as code: their raw text goes through the
# environment, quoted; bi.py validates the port (an integer 1024-65535).
BI_VENV := .venv-bi
BI_BIN  := $(CURDIR)/$(BI_VENV)/bin
BI_PY   := $(BI_BIN)/python
unexport BI_PORT PROVINCE
export DLA_BI_PORT := $(value BI_PORT)
export DLA_BI_PROVINCE := $(value PROVINCE)

.PHONY: bi bi-install bi-browser bi-stop bi-check bi-env

bi-install: $(BI_VENV)/.installed bi-browser ## the BI venv, and (as root) chromium + Thai fonts for the browser check

$(BI_VENV)/.installed: bi/requirements-bi.txt
	test -x $(BI_PY) || python3.11 -m venv $(BI_VENV)
	$(BI_BIN)/pip install --quiet --upgrade pip
	$(BI_BIN)/pip install --quiet -r bi/requirements-bi.txt
	@touch $@

bi-browser:
	@if dpkg -s chromium fonts-thai-tlwg >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "apt-get install chromium fonts-thai-tlwg (for the browser check)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-thai-tlwg >/dev/null; \
	else \
	  echo "note: the browser check (tests/test_bi.py, make bi-check) needs Debian's chromium and fonts-thai-tlwg:"; \
	  echo "      sudo apt-get install chromium fonts-thai-tlwg"; \
	fi

bi: $(BI_VENV)/.installed ## Superset on http://127.0.0.1:$(BI_PORT)/ with the dashboards of bi/assets
	@test -x $(DLA) || (echo "no project venv: run make setup first" >&2; exit 2)
	$(DLA) warehouse start
	BI_PORT="$$DLA_BI_PORT" $(BI_PY) bi/bi.py setup
	BI_PORT="$$DLA_BI_PORT" $(BI_PY) bi/bi.py start

bi-stop: ## stop the Superset that make bi started
	@if [ -x $(BI_PY) ]; then BI_PORT="$$DLA_BI_PORT" $(BI_PY) bi/bi.py stop; else echo "not installed"; fi

bi-check: ## browser check of every dashboard (screenshots in data/screenshots/): make bi-check PROVINCE=ชลบุรี
	BI_PORT="$$DLA_BI_PORT" $(BI_PY) bi/check_dashboards.py --out data/screenshots $${DLA_BI_PROVINCE:+--filter "$$DLA_BI_PROVINCE"}

bi-env: ## the Superset URL, admin user and password
	@BI_PORT="$$DLA_BI_PORT" $(BI_PY) bi/bi.py env
