# Two entry points (see README "Quick start"): `make demo` and `make test`.
# Both create .venv, install everything the project needs, and are safe to re-run.

PYTHON ?= python3
AIRFLOW_VERSION ?= 3.3.2
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(AIRFLOW_VERSION)

.PHONY: install demo test lint unit benchmark clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "apache-airflow==$(AIRFLOW_VERSION)" -e ".[test]"
	@# The MySQL provider needs mysqlclient, which compiles against the MariaDB/MySQL client headers.
	@if ! pkg-config --exists libmariadb 2>/dev/null && ! pkg-config --exists mysqlclient 2>/dev/null \
	    && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing the MariaDB client headers for mysqlclient (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libmariadb-dev pkg-config >/dev/null; \
	fi
	@# The Douyin page's browser test drives the OS's Chromium with Playwright (its own browser
	@# download is not used).
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Chromium for the browser test (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi
	$(BIN)/python -m pip install -q "apache-airflow==$(AIRFLOW_VERSION)" -e ".[mysql]" \
	  || echo "WARNING: MySQL provider not installed (no client headers); MySQL tests will skip outside CI"
	touch $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check airflow_provider_douyin tests dags benchmarks scripts

unit: install
	$(BIN)/python -m pytest -q -p no:cacheprovider -ra

test: lint unit

demo: install
	$(BIN)/python scripts/demo.py

benchmark: install
	$(BIN)/python benchmarks/throughput.py
	$(BIN)/python benchmarks/memory.py

clean:
	rm -rf $(VENV) .demo .airflow-test
