#!/usr/bin/env bash
# What `make bench` runs: the benchmarks (python -m bench) on PostgreSQL and a fresh Kafka broker
# of their own, which is stopped at the end. Prints one table, also written to var/bench.txt.
#
# Environment: BENCH_ARGS extra arguments for python -m bench (e.g. "--events 20000"),
#              BENCH_KAFKA_PORT the broker's client port (default 19092; controller port + 1).
set -euo pipefail
cd "$(dirname "$0")/.."
KAFKA_ENV=(KAFKA_PORT="${BENCH_KAFKA_PORT:-19092}"
           KAFKA_CONTROLLER_PORT="$((${BENCH_KAFKA_PORT:-19092} + 1))"
           KAFKA_STATE_DIR="$PWD/var/kafka-bench")

cleanup() {
    env "${KAFKA_ENV[@]}" deploy/kafka/kafka.sh stop || true
    deploy/postgres/postgres.sh stop  # only if this checkout started it
}
trap cleanup EXIT

deploy/postgres/postgres.sh start gatehouse_bench
deploy/postgres/postgres.sh reset-db gatehouse_bench  # a run leaves large tables behind
env "${KAFKA_ENV[@]}" KAFKA_FRESH=1 deploy/kafka/kafka.sh start
mkdir -p var
# shellcheck disable=SC2086  # BENCH_ARGS is a list of arguments
.venv/bin/python -m bench --database-url "$(deploy/postgres/postgres.sh url gatehouse_bench)" \
    --kafka "127.0.0.1:${BENCH_KAFKA_PORT:-19092}" --output var/bench.txt ${BENCH_ARGS:-}
