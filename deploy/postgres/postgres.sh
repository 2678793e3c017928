#!/usr/bin/env bash
# PostgreSQL from Debian's packages, for tests and production-like local runs.
#
# Usage: deploy/postgres/postgres.sh start [db ...]   install if missing, start, create role and dbs
#        deploy/postgres/postgres.sh url <db>         print the SQLAlchemy URL of a database
#        deploy/postgres/postgres.sh reset-db <db>    drop and recreate a database
#        deploy/postgres/postgres.sh stop             stop the cluster, if this script started it
#
# Environment: PG_USER (default gatehouse), PG_PASSWORD (default gatehouse)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
STARTED_MARK="$REPO_ROOT/var/postgres.started"
PG_USER="${PG_USER:-gatehouse}"
PG_PASSWORD="${PG_PASSWORD:-gatehouse}"

log() { echo "postgres.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

as_root() {
    if [[ $EUID -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi
}

as_postgres() {
    if [[ $EUID -eq 0 ]]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

server_installed() {
    command -v pg_ctlcluster >/dev/null && compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null
}

ensure_installed() {
    server_installed && return 0
    log "installing PostgreSQL with apt-get"
    as_root apt-get update -q || die "apt-get update failed"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql ||
        die "apt-get install postgresql failed"
    server_installed || die "PostgreSQL server binaries still missing after install"
}

newest_version() {
    local dir
    dir="$(compgen -G "/usr/lib/postgresql/*/bin/postgres" | sort -V | tail -n1)"
    dir="${dir%/bin/postgres}"
    echo "${dir##*/}"
}

# cluster_field <version> <column>: a column of pg_lsclusters for <version>/main.
cluster_field() {
    pg_lsclusters --no-header | awk -v v="$1" -v c="$2" '$1 == v && $2 == "main" { print $c }'
}

port() { cluster_field "$(newest_version)" 3; }

psql_admin() { as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "$(port)" "$@"; }

cmd_start() {
    local version status deadline
    ensure_installed
    version="$(newest_version)"
    if [[ -z "$(cluster_field "$version" 1)" ]]; then
        log "creating cluster $version/main"
        as_root pg_createcluster "$version" main >/dev/null
    fi
    status="$(cluster_field "$version" 4)"
    if [[ "$status" != online* ]]; then
        as_root pg_ctlcluster "$version" main start || die "pg_ctlcluster $version main start failed"
        mkdir -p "$(dirname "$STARTED_MARK")"
        echo "$version" >"$STARTED_MARK"
    fi
    deadline=$((SECONDS + 60))
    until pg_isready -q -h 127.0.0.1 -p "$(port)"; do
        ((SECONDS < deadline)) || die "PostgreSQL not accepting connections after 60s"
        sleep 0.3
    done
    psql_admin -d postgres <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER') THEN
    CREATE ROLE "$PG_USER" LOGIN PASSWORD '$PG_PASSWORD' CREATEDB;
  END IF;
END \$\$;
SQL
    local db
    for db in "${@:-gatehouse_test}"; do
        if [[ -z "$(psql_admin -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]]; then
            as_postgres createdb -p "$(port)" -O "$PG_USER" "$db"
        fi
    done
    echo "PostgreSQL $version ready on 127.0.0.1:$(port)"
}

cmd_url() {
    [[ $# -eq 1 ]] || die "usage: $0 url <db>"
    echo "postgresql+asyncpg://$PG_USER:$PG_PASSWORD@127.0.0.1:$(port)/$1"
}

cmd_reset_db() {
    [[ $# -eq 1 ]] || die "usage: $0 reset-db <db>"
    psql_admin -d postgres -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)"
    as_postgres createdb -p "$(port)" -O "$PG_USER" "$1"
}

cmd_stop() {
    [[ -f "$STARTED_MARK" ]] || return 0
    as_root pg_ctlcluster "$(<"$STARTED_MARK")" main stop || true
    rm -f "$STARTED_MARK"
    echo "PostgreSQL stopped"
}

case "${1:-}" in
    start) shift; cmd_start "$@" ;;
    url) shift; cmd_url "$@" ;;
    reset-db) shift; cmd_reset_db "$@" ;;
    stop) cmd_stop ;;
    *) echo "usage: $0 {start [db ...]|url <db>|reset-db <db>|stop}" >&2; exit 2 ;;
esac
