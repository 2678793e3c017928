# Gatehouse: `make run` starts the system, `make test` runs every test. Both install what is missing.
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
STAMP := $(VENV)/.installed
PACKAGES := shared services/intake services/governance services/reporting
PACKAGE_FILES := $(foreach p,$(PACKAGES),$(p)/pyproject.toml) requirements-dev.txt constraints.txt

.PHONY: help install run test lint format bench clean

help:
	@echo "make run    install, start Kafka and the three services (SQLite), print where to look"
	@echo "make test   install, start Kafka and PostgreSQL, run lint and every test, stop them"
	@echo "make lint   ruff and mypy"
	@echo "make bench  benchmarks (print figures)"
	@echo "make clean  remove the virtualenv and local state (var/)"

install: $(STAMP)

$(STAMP): $(PACKAGE_FILES)
	@deploy/python-env.sh "$(PYTHON)" "$(VENV)"
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -c constraints.txt \
		$(foreach p,$(PACKAGES),-e $(p)) -r requirements-dev.txt
	@touch $(STAMP)

run: install
	@deploy/run.sh

test: install
	@deploy/test.sh

lint: install
	$(VENV)/bin/ruff check shared services tests bench
	$(VENV)/bin/ruff format --check shared services tests bench
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff check --fix shared services tests bench
	$(VENV)/bin/ruff format shared services tests bench

bench: install
	@deploy/bench.sh

clean:
	-deploy/kafka/kafka.sh stop
	rm -rf $(VENV) var
