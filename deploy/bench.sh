#!/usr/bin/env bash
# What `make bench` runs: benchmarks that print figures, on PostgreSQL and SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/postgres/postgres.sh start gatehouse_bench
trap 'deploy/postgres/postgres.sh stop' EXIT
mkdir -p var
rm -f var/bench.db
.venv/bin/python bench/eventstore.py "$(deploy/postgres/postgres.sh url gatehouse_bench)"
.venv/bin/python bench/eventstore.py "sqlite+aiosqlite:///$PWD/var/bench.db"
