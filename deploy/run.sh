#!/usr/bin/env bash
# What `make run` runs: Kafka plus the three services on the embedded default (SQLite).
# Ctrl-C stops everything it started. Point a service at PostgreSQL by exporting its
# *_DATABASE_URL before `make run`.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO_ROOT="$PWD"
VENV="$REPO_ROOT/.venv"
LOG_DIR="$REPO_ROOT/var/log"
mkdir -p "$LOG_DIR"

declare -A PORTS=([intake]=8001 [governance]=8002 [reporting]=8003)
SERVICES=(intake governance reporting)
PIDS=()

for service in "${SERVICES[@]}"; do
    upper="${service^^}"
    db_var="${upper}_DATABASE_URL"
    kafka_var="${upper}_KAFKA_BOOTSTRAP_SERVERS"
    export "$db_var=${!db_var:-sqlite+aiosqlite:///$REPO_ROOT/var/$service.db}"
    export "$kafka_var=${!kafka_var:-127.0.0.1:9092}"
done

cleaned=0
cleanup() {
    ((cleaned)) && return
    cleaned=1
    trap - INT TERM
    echo
    echo "Stopping Gatehouse..."
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for _ in $(seq 1 30); do
        alive=0
        for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        ((alive)) || break
        sleep 0.5
    done
    for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
    pkill -P $$ 2>/dev/null
    deploy/kafka/kafka.sh stop
    echo "Stopped."
}
trap 'cleanup; exit 0' INT
trap 'cleanup; exit 143' TERM
trap cleanup EXIT

deploy/kafka/kafka.sh start || exit 1

for service in "${SERVICES[@]}"; do
    "$VENV/bin/gatehouse" migrate "$service" || exit 1
done

for service in "${SERVICES[@]}"; do
    # Each service's output goes to var/log/<service>.log; the terminal shows it too, prefixed.
    "$VENV/bin/python" -m "$service" > >(tee "$LOG_DIR/$service.log" | sed -u "s/^/[$service] /") 2>&1 &
    PIDS+=($!)
done

ready() {
    "$VENV/bin/python" - "$1" <<'PY'
import sys, urllib.request
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/readyz", timeout=2) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)
PY
}

deadline=$((SECONDS + 60))
for i in "${!SERVICES[@]}"; do
    service="${SERVICES[$i]}"
    until ready "${PORTS[$service]}"; do
        if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
            echo "error: $service exited during start-up; last lines of var/log/$service.log:" >&2
            tail -n 30 "$LOG_DIR/$service.log" >&2
            exit 1
        fi
        if ((SECONDS > deadline)); then
            echo "error: $service not ready after 60 s (see var/log/$service.log)" >&2
            exit 1
        fi
        sleep 0.5
    done
done

cat <<BANNER

  Gatehouse is running (Kafka on 127.0.0.1:9092, databases in var/*.db)

    intake      http://127.0.0.1:8001/docs    (API under /v1, /openapi.json, /metrics, /readyz)
    governance  http://127.0.0.1:8002/docs
    reporting   http://127.0.0.1:8003/docs    portfolio: http://127.0.0.1:8003/v1/portfolio

  Get a token from the development issuer:
    TOKEN=\$(.venv/bin/gatehouse token --sub alice --role requester)

  Request a project, then see it in the portfolio:
    curl -s -X POST http://127.0.0.1:8001/v1/projects -H "Authorization: Bearer \$TOKEN" \\
      -H 'Content-Type: application/json' \\
      -d '{"title":"New CRM","description":"Replace the legacy CRM","sponsor":"carol","business_unit":"Sales","project_type":"standard","estimated_cost":{"amount":"250000.00","currency":"EUR"}}'
    curl -s http://127.0.0.1:8003/v1/portfolio -H "Authorization: Bearer \$TOKEN"

  Logs: var/log/<service>.log   Stop: Ctrl-C

BANNER

# Stay up until a service exits or Ctrl-C.
wait -n "${PIDS[@]}"
echo "a service exited; stopping the rest" >&2
exit 1
