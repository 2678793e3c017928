#!/usr/bin/env bash
# Single-node Apache Kafka broker (KRaft mode) for local runs and tests.
#
# Usage: deploy/kafka/kafka.sh {fetch|start|stop|status|wait}
#
# Environment:
#   KAFKA_PORT             client port (default 9092)
#   KAFKA_CONTROLLER_PORT  KRaft controller port (default KAFKA_PORT+1)
#   KAFKA_STATE_DIR        config, data, logs and pid file (default <repo>/var/kafka)
#   KAFKA_FRESH=1          wipe the state dir before starting
#   KAFKA_READY_TIMEOUT    seconds to wait for the broker port (default 90)
#   GATEHOUSE_CACHE_DIR    where the broker jars are cached (default ~/.cache/gatehouse)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
POM="$SCRIPT_DIR/pom.xml"

KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
STATE_DIR="${KAFKA_STATE_DIR:-$REPO_ROOT/var/kafka}"
[[ "$STATE_DIR" == /* ]] || STATE_DIR="$PWD/$STATE_DIR"
PID_FILE="$STATE_DIR/kafka.pid"
SERVER_LOG="$STATE_DIR/logs/server.log"
CACHE_ROOT="${GATEHOUSE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gatehouse}"
READY_TIMEOUT="${KAFKA_READY_TIMEOUT:-90}"
STOP_TIMEOUT=30
JAVA_OPTS=(-Xms256m -Xmx512m -XX:+UseG1GC)
# The short-lived StorageTool runs start ~40% faster with only the C1 compiler.
TOOL_OPTS=(-Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC)

log() { echo "kafka.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

# --- prerequisites -----------------------------------------------------------

as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        return 1
    fi
}

apt_install() {
    command -v apt-get >/dev/null || return 1
    log "installing $* with apt-get"
    as_root apt-get update -q &&
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
}

# require_tool <command> <debian package>
require_tool() {
    command -v "$1" >/dev/null && return 0
    apt_install "$2" || true
    command -v "$1" >/dev/null ||
        die "'$1' not found and could not be installed; install $2 (or any Java 17+ / Maven 3) and retry"
}

# --- broker jars ---------------------------------------------------------------

libs_dir() {
    local hash
    hash="$(sha256sum "$POM" | cut -c1-16)"
    echo "$CACHE_ROOT/kafka/$hash/libs"
}

# Downloads the broker jars into the cache once per pom.xml content.
# The jars land in a temp dir that is renamed into place, so an interrupted or
# concurrent fetch never leaves a half-filled libs dir behind the marker.
cmd_fetch() {
    local libs tmp out
    libs="$(libs_dir)"
    require_tool java openjdk-17-jre-headless
    [[ -f "$libs/.complete" ]] && return 0

    require_tool mvn maven
    mkdir -p "$(dirname "$libs")"
    tmp="$(mktemp -d "$libs.tmp.XXXXXX")"
    log "downloading Kafka jars into $libs"
    if ! out="$(mvn -q -B -f "$POM" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$tmp" 2>&1)"; then
        echo "$out" >&2
        rm -rf "$tmp"
        die "mvn could not fetch the Kafka jars (see output above)"
    fi
    chmod 755 "$tmp"
    touch "$tmp/.complete"
    if [[ -f "$libs/.complete" ]]; then
        rm -rf "$tmp"  # a concurrent fetch finished first
        return 0
    fi
    rm -rf "$libs"  # leftover of an interrupted fetch
    if ! mv -T "$tmp" "$libs" 2>/dev/null; then
        rm -rf "$tmp"
        [[ -f "$libs/.complete" ]] || die "could not move jars into $libs"
    fi
}

kafka_version() {
    local jar
    jar="$(compgen -G "$(libs_dir)/kafka_2.13-*.jar" | head -n1)" || true
    jar="${jar##*/kafka_2.13-}"
    echo "${jar%.jar}"
}

# --- process and port helpers --------------------------------------------------

port_open() {
    timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

alive() {
    kill -0 "$1" 2>/dev/null && ! grep -q '^State:.*zombie' "/proc/$1/status" 2>/dev/null
}

# True when pid is a live broker; the command line check guards against pid
# reuse when the pid comes from a file.
is_broker() {
    [[ "$1" =~ ^[0-9]+$ ]] && alive "$1" &&
        grep -qa 'kafka\.Kafka' "/proc/$1/cmdline" 2>/dev/null
}

# Prints the broker pid when the pid file points at a live broker.
running_pid() {
    local pid
    [[ -f "$PID_FILE" ]] || return 1
    pid="$(<"$PID_FILE")"
    is_broker "$pid" || return 1
    echo "$pid"
}

# wait_for_port [pid]: polls the client port; gives up if pid dies.
wait_for_port() {
    local pid="${1:-}" deadline=$((SECONDS + READY_TIMEOUT))
    until port_open "$KAFKA_PORT"; do
        if [[ -n "$pid" ]] && ! alive "$pid"; then
            log "broker process $pid exited during startup"
            return 1
        fi
        if ((SECONDS >= deadline)); then
            log "port $KAFKA_PORT not open after ${READY_TIMEOUT}s"
            return 1
        fi
        sleep 0.5
    done
}

show_log_tail() {
    local f
    for f in "$SERVER_LOG" "$STATE_DIR/logs/stdout.log"; do
        [[ -s "$f" ]] || continue
        log "last 40 lines of $f:"
        tail -n 40 "$f" >&2
    done
}

# --- configuration -------------------------------------------------------------

write_config() {
    cat >"$STATE_DIR/server.properties" <<EOF
# Generated by deploy/kafka/kafka.sh; edits are overwritten on start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$STATE_DIR/data
num.partitions=3
auto.create.topics.enable=false
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# One partition for the group offsets (the default is 50): made when the first consumer group
# asks for its coordinator, and until then every consumer logs "Marking the coordinator dead"
# (24 lines at a first make run with 50; none with 1).
offsets.topic.num.partitions=1
EOF

    # ${sys:kafka.logs.dir} is resolved by log4j from the -D option at launch.
    cat >"$STATE_DIR/log4j2.properties" <<'EOF'
# Generated by deploy/kafka/kafka.sh; edits are overwritten on start.
status = warn
appender.server.type = RollingFile
appender.server.name = SERVER
appender.server.fileName = ${sys:kafka.logs.dir}/server.log
appender.server.filePattern = ${sys:kafka.logs.dir}/server.log.%i
appender.server.layout.type = PatternLayout
appender.server.layout.pattern = [%d] %p %m (%c)%n
appender.server.policies.type = Policies
appender.server.policies.size.type = SizeBasedTriggeringPolicy
appender.server.policies.size.size = 20MB
appender.server.strategy.type = DefaultRolloverStrategy
appender.server.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.server.ref = SERVER
EOF
}

# Formats the KRaft storage once; the cluster id is kept for reference.
format_storage() {
    local cp="$1" out uuid
    [[ -f "$STATE_DIR/data/meta.properties" ]] && return 0
    if [[ ! -s "$STATE_DIR/cluster.id" ]]; then
        uuid="$(java "${TOOL_OPTS[@]}" -cp "$cp" kafka.tools.StorageTool random-uuid)"
        echo "$uuid" >"$STATE_DIR/cluster.id"
    fi
    if ! out="$(java "${TOOL_OPTS[@]}" -cp "$cp" kafka.tools.StorageTool format \
        -t "$(<"$STATE_DIR/cluster.id")" -c "$STATE_DIR/server.properties" \
        --ignore-formatted 2>&1)"; then
        echo "$out" >&2
        die "formatting Kafka storage in $STATE_DIR/data failed"
    fi
}

# --- commands ------------------------------------------------------------------

cmd_start() {
    local cp pid
    cmd_fetch
    cp="$(libs_dir)/*"

    if [[ "${KAFKA_FRESH:-0}" == 1 && -d "$STATE_DIR" ]]; then
        cmd_stop
        rm -rf "$STATE_DIR"
    fi

    if pid="$(running_pid)"; then
        wait_for_port "$pid" || { show_log_tail; exit 1; }
        echo "Kafka already running on 127.0.0.1:$KAFKA_PORT"
        return 0
    fi
    rm -f "$PID_FILE"

    local port
    for port in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
        port_open "$port" && die "port $port on 127.0.0.1 is already in use by another process"
    done

    mkdir -p "$STATE_DIR/data" "$STATE_DIR/logs"
    write_config
    format_storage "$cp"

    java "${JAVA_OPTS[@]}" \
        -Dkafka.logs.dir="$STATE_DIR/logs" \
        -Dlog4j2.configurationFile="$STATE_DIR/log4j2.properties" \
        -cp "$cp" kafka.Kafka "$STATE_DIR/server.properties" \
        </dev/null >"$STATE_DIR/logs/stdout.log" 2>&1 &
    pid=$!
    echo "$pid" >"$PID_FILE"

    if ! wait_for_port "$pid"; then
        show_log_tail
        stop_pid "$pid"
        rm -f "$PID_FILE"
        exit 1
    fi
    echo "Kafka $(kafka_version) ready on 127.0.0.1:$KAFKA_PORT (state: $STATE_DIR)"
}

# SIGTERM, then SIGKILL if the process outlives STOP_TIMEOUT.
stop_pid() {
    local pid="$1" deadline=$((SECONDS + STOP_TIMEOUT))
    kill -TERM "$pid" 2>/dev/null || return 0
    while alive "$pid" && ((SECONDS < deadline)); do
        sleep 0.5
    done
    if alive "$pid"; then
        log "broker $pid still running after ${STOP_TIMEOUT}s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
}

cmd_stop() {
    local pid
    if pid="$(running_pid)"; then
        stop_pid "$pid"
        echo "Kafka stopped (pid $pid)"
    fi
    rm -f "$PID_FILE"
}

cmd_status() {
    local pid
    if pid="$(running_pid)"; then
        if port_open "$KAFKA_PORT"; then
            echo "Kafka running on 127.0.0.1:$KAFKA_PORT (pid $pid)"
        else
            echo "Kafka starting (pid $pid, port $KAFKA_PORT not open yet)"
        fi
        return 0
    fi
    echo "Kafka stopped"
    return 1
}

cmd_wait() {
    local pid=""
    pid="$(running_pid)" || true
    wait_for_port "$pid" || exit 1
    echo "Kafka is accepting connections on 127.0.0.1:$KAFKA_PORT"
}

main() {
    case "${1:-}" in
        fetch) cmd_fetch ;;
        start) cmd_start ;;
        stop) cmd_stop ;;
        status) cmd_status ;;
        wait) cmd_wait ;;
        *)
            echo "usage: $0 {fetch|start|stop|status|wait}" >&2
            exit 2
            ;;
    esac
}

main "$@"
