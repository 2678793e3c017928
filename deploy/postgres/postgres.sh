#!/usr/bin/env bash
# Local PostgreSQL for tests and optional service databases (Debian cluster tools).
#
# Usage: deploy/postgres/postgres.sh start [db ...]   install/start the newest cluster, create role and dbs
#        deploy/postgres/postgres.sh url <db>         print the SQLAlchemy URL of a database
#        deploy/postgres/postgres.sh reset-db <db>    drop and recreate a database
#        deploy/postgres/postgres.sh stop             stop the cluster if this script started it
#
# Environment: PG_USER / PG_PASSWORD (default gatehouse / gatehouse).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
STARTED_FILE="$REPO_ROOT/var/postgres.started"
PG_USER="${PG_USER:-gatehouse}"
PG_PASSWORD="${PG_PASSWORD:-gatehouse}"
CLUSTER=main
READY_TIMEOUT=60

log() { echo "postgres.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

# Runs psql as the postgres superuser over the local socket.
psql_super() {
    local port="$1"
    shift
    if [[ $EUID -eq 0 ]]; then
        (cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$port" -d postgres "$@")
    else
        (cd / && sudo -u postgres psql -X -q -v ON_ERROR_STOP=1 -p "$port" -d postgres "$@")
    fi
}

server_installed() {
    command -v pg_ctlcluster >/dev/null && compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null
}

install_server() {
    server_installed && return 0
    command -v apt-get >/dev/null || die "PostgreSQL is not installed and apt-get is unavailable"
    log "installing PostgreSQL with apt-get"
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
    server_installed || die "PostgreSQL installation did not provide a server"
}

newest_version() {
    local bin v=""
    for bin in /usr/lib/postgresql/*/bin/postgres; do
        [[ -x "$bin" ]] || continue
        bin="${bin#/usr/lib/postgresql/}"
        v="$(printf '%s\n%s\n' "$v" "${bin%%/*}" | sort -V | tail -n1)"
    done
    [[ -n "$v" ]] || die "no PostgreSQL server found under /usr/lib/postgresql"
    echo "$v"
}

# cluster_field <version> <column>: a pg_lsclusters column (3 = port, 4 = status).
cluster_field() {
    pg_lsclusters -h | awk -v v="$1" -v c="$CLUSTER" -v f="$2" '$1 == v && $2 == c { print $f }'
}

wait_ready() {
    local port="$1" deadline=$((SECONDS + READY_TIMEOUT))
    until pg_isready -q -h 127.0.0.1 -p "$port"; do
        ((SECONDS < deadline)) || die "PostgreSQL not ready on 127.0.0.1:$port after ${READY_TIMEOUT}s"
        sleep 0.5
    done
}

# Creates the application role, or brings its password and rights up to date.
ensure_role() {
    psql_super "$1" -v user="$PG_USER" -v pw="$PG_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN CREATEDB PASSWORD %L', :'user', :'pw')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'user') \gexec
SELECT format('ALTER ROLE %I LOGIN CREATEDB PASSWORD %L', :'user', :'pw') \gexec
SQL
}

ensure_db() {
    psql_super "$1" -v user="$PG_USER" -v db="$2" <<'SQL'
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SQL
}

# Prints the port of the newest cluster, failing when it is not accepting connections.
running_port() {
    local v port
    server_installed || die "PostgreSQL is not installed; run: $0 start"
    v="$(newest_version)"
    port="$(cluster_field "$v" 3)"
    [[ -n "$port" ]] || die "no PostgreSQL $v cluster; run: $0 start"
    pg_isready -q -h 127.0.0.1 -p "$port" || die "PostgreSQL $v is not running; run: $0 start"
    echo "$port"
}

cmd_start() {
    local v port status db
    install_server
    v="$(newest_version)"
    if [[ -z "$(cluster_field "$v" 2)" ]]; then
        log "creating cluster $v/$CLUSTER"
        as_root pg_createcluster "$v" "$CLUSTER" >/dev/null
    fi
    status="$(cluster_field "$v" 4)"
    if [[ "$status" != online* ]]; then
        as_root pg_ctlcluster "$v" "$CLUSTER" start
        mkdir -p "$(dirname "$STARTED_FILE")"
        echo "$v $CLUSTER" >"$STARTED_FILE"
    fi
    port="$(cluster_field "$v" 3)"
    wait_ready "$port"

    ensure_role "$port"
    (($# > 0)) || set -- gatehouse_test
    for db in "$@"; do
        ensure_db "$port" "$db"
    done
    echo "PostgreSQL $v ready on 127.0.0.1:$port"
}

cmd_url() {
    [[ $# -eq 1 ]] || die "usage: $0 url <db>"
    local db="$1" port
    port="$(cluster_field "$(newest_version)" 3)"
    [[ -n "$port" ]] || die "no PostgreSQL cluster; run: $0 start"
    # The server listens on the loopback interface only: TLS there protects nothing and costs
    # every query (asyncio's TLS runs in Python).
    echo "postgresql+asyncpg://$PG_USER:$PG_PASSWORD@127.0.0.1:$port/$db?ssl=disable"
}

cmd_stop() {
    local v cluster
    if [[ ! -f "$STARTED_FILE" ]]; then
        log "PostgreSQL was not started by this script; leaving it alone"
        return 0
    fi
    read -r v cluster <"$STARTED_FILE"
    as_root pg_ctlcluster "$v" "$cluster" stop || true
    rm -f "$STARTED_FILE"
    echo "PostgreSQL $v stopped"
}

cmd_reset_db() {
    [[ $# -eq 1 ]] || die "usage: $0 reset-db <db>"
    local db="$1" port
    port="$(running_port)"
    ensure_role "$port"
    psql_super "$port" -v db="$db" <<'SQL'
SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', :'db') \gexec
SQL
    ensure_db "$port" "$db"
    echo "database $db recreated"
}

main() {
    local cmd="${1:-}"
    shift || true
    case "$cmd" in
        start) cmd_start "$@" ;;
        url) cmd_url "$@" ;;
        stop) cmd_stop ;;
        reset-db) cmd_reset_db "$@" ;;
        *)
            echo "usage: $0 {start [db ...]|url <db>|stop|reset-db <db>}" >&2
            exit 2
            ;;
    esac
}

main "$@"
