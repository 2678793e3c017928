#!/usr/bin/env bash
# What `make run` runs: Kafka plus the three services on the embedded default (SQLite).
# A service that exits is started again (see supervise); Ctrl-C stops everything it
# started. Point a service at PostgreSQL by exporting its *_DATABASE_URL (e.g. from
# deploy/postgres/postgres.sh url <db>) before `make run`.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
VENV="$REPO_ROOT/.venv"
LOG_DIR="$REPO_ROOT/var/log"
KAFKA="$REPO_ROOT/deploy/kafka/kafka.sh"
READY_TIMEOUT=60
STOP_TIMEOUT=15
RESTART_FIRST=1  # seconds before a crashed service is started again; doubles at each crash
RESTART_MAX=30   # the longest wait
STABLE_AFTER=60  # a service up this long waits RESTART_FIRST again at its next crash

SERVICES=(intake governance reporting)
declare -A PORT=(
    [intake]="${INTAKE_PORT:-8001}"
    [governance]="${GOVERNANCE_PORT:-8002}"
    [reporting]="${REPORTING_PORT:-8003}"
)
declare -A PID=()         # service -> pid, while it runs
declare -A MIRROR=()      # service -> pid of its log mirror
declare -A STARTED=()     # service -> $SECONDS when it was last started
declare -A DELAY=()       # service -> seconds its next restart waits
declare -A RESTART_AT=()  # crashed service -> $SECONDS when it is started again
kafka_started=0

die() { echo "run.sh: error: $*" >&2; exit 1; }

# Defaults for the services, unless already set in the environment.
export_defaults() {
    local service upper db_var kafka_var
    for service in "${SERVICES[@]}"; do
        upper="${service^^}"
        db_var="${upper}_DATABASE_URL"
        kafka_var="${upper}_KAFKA_BOOTSTRAP_SERVERS"
        export "$db_var=${!db_var:-sqlite+aiosqlite:///$REPO_ROOT/var/$service.db}"
        export "$kafka_var=${!kafka_var:-127.0.0.1:${KAFKA_PORT:-9092}}"
    done
}

port_open() {
    timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

http_ok() {
    local url="$1"
    if command -v curl >/dev/null; then
        curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null
    else
        "$VENV/bin/python" -c 'import sys, urllib.request
sys.exit(urllib.request.urlopen(sys.argv[1], timeout=2).status != 200)' "$url" 2>/dev/null
    fi
}

# Runs a service with its output appended to var/log/<service>.log, mirrored to the
# terminal with a [service] prefix from where this run of it starts. tail --pid ends
# the mirror when the service exits.
start_service() {
    local service="$1" log="$LOG_DIR/$1.log" from
    from=$(($(wc -c <"$log") + 1))
    "$VENV/bin/python" -m "$service" >>"$log" 2>&1 </dev/null &
    PID[$service]=$!
    STARTED[$service]=$SECONDS
    tail -c "+$from" -F --pid="${PID[$service]}" "$log" 2>/dev/null | sed -u "s/^/[$service] /" &
    MIRROR[$service]=$!
}

# Keeps the services up until Ctrl-C or TERM: a service that exits is started again,
# RESTART_FIRST seconds later, twice as long after each further crash (up to
# RESTART_MAX), and RESTART_FIRST again once it has stayed up STABLE_AFTER seconds.
supervise() {
    local service status
    for service in "${SERVICES[@]}"; do
        DELAY[$service]=$RESTART_FIRST
    done
    while true; do
        for service in "${SERVICES[@]}"; do
            if [[ -n "${PID[$service]:-}" ]]; then
                kill -0 "${PID[$service]}" 2>/dev/null && continue
                status=0
                wait "${PID[$service]}" || status=$?
                unset "PID[$service]"
                ((SECONDS - STARTED[$service] < STABLE_AFTER)) || DELAY[$service]=$RESTART_FIRST
                RESTART_AT[$service]=$((SECONDS + DELAY[$service]))
                echo "run.sh: $service exited (status $status); restarting it in ${DELAY[$service]}s" >&2
                DELAY[$service]=$((DELAY[$service] * 2 < RESTART_MAX ? DELAY[$service] * 2 : RESTART_MAX))
            elif ((SECONDS >= RESTART_AT[$service])); then
                start_service "$service"
                echo "run.sh: $service restarted (pid ${PID[$service]}; its log goes on in var/log/$service.log)" >&2
            fi
        done
        sleep 0.5
    done
}

wait_ready() {
    local service="$1" url="http://127.0.0.1:${PORT[$1]}/readyz"
    local deadline=$((SECONDS + READY_TIMEOUT))
    until http_ok "$url"; do
        if ! kill -0 "${PID[$service]}" 2>/dev/null; then
            echo "run.sh: $service exited during start-up; last lines of var/log/$service.log:" >&2
            tail -n 30 "$LOG_DIR/$service.log" >&2
            exit 1
        fi
        ((SECONDS < deadline)) || die "$service not ready at $url after ${READY_TIMEOUT}s (see var/log/$service.log)"
        sleep 0.5
    done
}

# shellcheck disable=SC2317  # only reached from the cleanup trap
any_alive() {
    local pid
    for pid in "$@"; do
        kill -0 "$pid" 2>/dev/null && return 0
    done
    return 1
}

# The one cleanup path (EXIT trap; INT and TERM exit into it). Idempotent, and
# immune to a second Ctrl-C so Kafka is always stopped.
cleaned=0
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    ((cleaned)) && return
    cleaned=1
    trap '' INT TERM
    set +e
    echo
    echo "Stopping Gatehouse..."
    local pids=("${PID[@]}") mirrors=("${MIRROR[@]}") deadline=$((SECONDS + STOP_TIMEOUT))
    if ((${#pids[@]})); then
        kill -TERM "${pids[@]}" 2>/dev/null
        while any_alive "${pids[@]}" && ((SECONDS < deadline)); do
            sleep 0.3
        done
        kill -KILL "${pids[@]}" 2>/dev/null
    fi
    ((${#mirrors[@]})) && kill -TERM "${mirrors[@]}" 2>/dev/null
    ((kafka_started)) && "$KAFKA" stop
    wait
    echo "Stopped."
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

print_banner() {
    local i=${PORT[intake]} g=${PORT[governance]} r=${PORT[reporting]}
    cat <<EOF

  Gatehouse is running (Kafka on ${INTAKE_KAFKA_BOOTSTRAP_SERVERS}; logs in var/log/<service>.log)

    intake      http://127.0.0.1:$i   /docs  /openapi.json  /metrics
    governance  http://127.0.0.1:$g   /docs  /openapi.json  /metrics
    reporting   http://127.0.0.1:$r   /docs  /openapi.json  /metrics
    portfolio   http://127.0.0.1:$r/v1/portfolio
    wall        http://127.0.0.1:$r/dashboard#token=<a token, e.g. --sub wall --role pmo_admin>
    contract    http://127.0.0.1:$i/asyncapi.json (AsyncAPI 3: topics and the live stream)

  Get a token from the development issuer:
    TOKEN=\$(.venv/bin/gatehouse token --sub alice --role requester)

  Request a project, then see it in the portfolio:
    curl -s -X POST http://127.0.0.1:$i/v1/projects -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' -d '{"title":"New CRM","description":"Replace the legacy CRM","sponsor":"carol","business_unit":"Sales","project_type":"standard","estimated_cost":{"amount":"250000.00","currency":"EUR"},"start_date":"2027-01-04","target_date":"2027-09-30","expected_benefits":"Halve quote-to-order time","risk_level":"medium"}'
    curl -s http://127.0.0.1:$r/v1/portfolio -H "Authorization: Bearer \$TOKEN"

  Stop: Ctrl-C

EOF
}

main() {
    local service
    [[ -x "$VENV/bin/python" ]] || die "no virtualenv at .venv; run 'make run' (it installs one)"
    mkdir -p "$LOG_DIR"
    export_defaults
    for service in "${SERVICES[@]}"; do
        port_open "${PORT[$service]}" &&
            die "port ${PORT[$service]} ($service) is already in use; is Gatehouse already running?"
    done

    kafka_started=1  # from here on, cleanup stops Kafka even if start fails half-way
    "$KAFKA" start

    for service in "${SERVICES[@]}"; do
        "$VENV/bin/gatehouse" migrate "$service"
    done
    for service in "${SERVICES[@]}"; do
        : >"$LOG_DIR/$service.log"
        start_service "$service"
    done
    for service in "${SERVICES[@]}"; do
        wait_ready "$service"
    done
    print_banner
    supervise
}

main "$@"
