#!/usr/bin/env bash
# What `make test` runs: start a fresh Kafka broker and PostgreSQL, lint, run every test, stop them.
set -uo pipefail
cd "$(dirname "$0")/.."

export KAFKA_PORT="${GATEHOUSE_TEST_KAFKA_PORT:-29092}"
export KAFKA_STATE_DIR="$PWD/var/kafka-test"
export KAFKA_FRESH=1
TEST_DB=gatehouse_test

cleanup() {
    deploy/kafka/kafka.sh stop || true
    deploy/postgres/postgres.sh stop || true
}
trap cleanup EXIT

deploy/kafka/kafka.sh start || exit 1
deploy/postgres/postgres.sh start "$TEST_DB" || exit 1

GATEHOUSE_TEST_CHROMIUM="$(deploy/chromium.sh)" || exit 1
export GATEHOUSE_TEST_CHROMIUM
export GATEHOUSE_TEST_KAFKA="127.0.0.1:$KAFKA_PORT"
GATEHOUSE_TEST_DATABASE_URL="$(deploy/postgres/postgres.sh url "$TEST_DB")"
export GATEHOUSE_TEST_DATABASE_URL

echo "== lint (ruff check, ruff format, mypy)"
.venv/bin/ruff check shared services tests bench || exit 1
.venv/bin/ruff format --check shared services tests bench || exit 1
.venv/bin/mypy || exit 1

echo "== tests"
.venv/bin/pytest --require-documented-statuses --durations=30 "$@"
status=$?
if [[ $status -eq 5 ]]; then
    echo "error: pytest collected no tests" >&2
    exit 1
fi
exit $status
