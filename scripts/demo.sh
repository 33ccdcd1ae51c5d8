#!/usr/bin/env bash
# Run the service locally and play one customer through it.
#
# Usage: scripts/demo.sh [--exit]
#        scripts/demo.sh stop
#
# Installs what is missing (scripts/stack.sh install), builds the binaries and starts a fresh
# local AWS stack (DynamoDB Local and moto on 127.0.0.1). Then it creates the endpoints table
# from the definition that template.yaml deploys, starts the local API server
# (target/debug/local-api) and runs the walkthrough (target/debug/demo run), which prints
# every request and response.
# Afterwards the API keeps serving on 127.0.0.1 and the script prints how to call it with
# curl. With --exit, or when the walkthrough fails, it stops everything it started instead.
# `stop` (or scripts/demo-stop.sh) stops the server and the stack by their recorded PIDs.
#
# Settings: LOCAL_API_PORT (default 0, a free port), DEMO_TABLE (default endpoints-demo),
# DEMO_TENANT (default acme).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL_DIR="$ROOT/.local"
PID_FILE="$LOCAL_DIR/pids/local-api.pid"
ADDRESS_FILE="$LOCAL_DIR/local-api/address"
SERVER_LOG="$LOCAL_DIR/logs/local-api.log"
ENV_FILE="$LOCAL_DIR/stack.env"
STACK_SCRIPT="$ROOT/scripts/stack.sh"
LOCAL_API="$ROOT/target/debug/local-api"
DEMO="$ROOT/target/debug/demo"

TABLE="${DEMO_TABLE:-endpoints-demo}"
TENANT="${DEMO_TENANT:-acme}"
PORT="${LOCAL_API_PORT:-0}"
START_TIMEOUT_SECONDS=60
# The product name that render-policy writes into role names, the template's default.
PLATFORM_NAME_DEFAULT=CostPlatform

log() {
    printf 'demo: %s\n' "$*" >&2
}

die() {
    log "error: $*"
    exit 1
}

# Succeeds when PID is alive and is the local API server.
is_local_api() {
    local pid="$1"
    [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "local-api serve"
}

stop_server() {
    [ -f "$PID_FILE" ] || return 0
    local pid
    pid="$(cat "$PID_FILE")"
    if is_local_api "$pid"; then
        log "stopping the local API server (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        local deadline=$((SECONDS + 10))
        while is_local_api "$pid" && [ "$SECONDS" -lt "$deadline" ]; do
            sleep 0.2
        done
        if is_local_api "$pid"; then
            log "the server (pid $pid) did not stop within 10 s, killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$PID_FILE" "$ADDRESS_FILE"
}

stop_all() {
    stop_server
    bash "$STACK_SCRIPT" stop
}

build() {
    command -v cargo >/dev/null || die "cargo is missing: install Rust with rustup first"
    log "building the binaries"
    # Only the binaries, so that a first run does not wait for the test binaries. The test
    # build enables more features (its dev-dependencies), so after a test run this recompiles
    # the crates that those features touch, which takes a minute or two on 2 cores.
    (cd "$ROOT" && cargo build --workspace --bins --quiet)
}

start_stack() {
    if [ -f "$ENV_FILE" ]; then
        log "restarting the local stack, so that the walkthrough starts from an empty one"
        bash "$STACK_SCRIPT" stop
    fi
    bash "$STACK_SCRIPT" start
    # shellcheck source=/dev/null
    source "$ENV_FILE"
}

start_server() {
    mkdir -p "$LOCAL_DIR/pids" "$LOCAL_DIR/logs" "$(dirname "$ADDRESS_FILE")"
    rm -f "$ADDRESS_FILE"
    TABLE_NAME="$TABLE" PLATFORM_NAME="${PLATFORM_NAME:-$PLATFORM_NAME_DEFAULT}" \
        nohup "$LOCAL_API" serve --port "$PORT" --address-file "$ADDRESS_FILE" \
        </dev/null >"$SERVER_LOG" 2>&1 &
    echo "$!" >"$PID_FILE"

    local pid deadline=$((SECONDS + START_TIMEOUT_SECONDS))
    pid="$(cat "$PID_FILE")"
    until [ -s "$ADDRESS_FILE" ]; do
        if ! is_local_api "$pid"; then
            tail -n 20 "$SERVER_LOG" >&2
            die "the local API server (pid $pid) exited during start-up; its log is $SERVER_LOG"
        fi
        [ "$SECONDS" -lt "$deadline" ] ||
            die "the local API server did not listen within ${START_TIMEOUT_SECONDS}s"
        sleep 0.2
    done
    API_URL="$(cat "$ADDRESS_FILE")"
    log "the local API server (pid $pid) serves $API_URL; its log is $SERVER_LOG"
}

print_usage_hints() {
    cat <<EOF

The local API keeps serving at $API_URL with tenant $TENANT's endpoints in table $TABLE.
Call it with a token that the server signed:

  TOKEN="\$(target/debug/local-api token --tenant $TENANT)"
  curl -s -H "Authorization: Bearer \$TOKEN" $API_URL/endpoints
  curl -s -H "Authorization: Bearer \$TOKEN" "$API_URL/endpoints?feature=data_exporter"
  curl -s -H "Authorization: Bearer \$TOKEN" $API_URL/external-id

A token for another tenant sees none of these endpoints. Stop everything with
scripts/demo-stop.sh.
EOF
}

# Stops what this run started unless the run finished and leaves the API serving.
on_exit() {
    local status=$?
    if [ "$KEEP_RUNNING" != 1 ] && [ "$STARTED" = 1 ]; then
        [ "$status" -eq 0 ] || log "stopping what this run started"
        stop_all
    fi
    exit "$status"
}

KEEP_RUNNING=0
STARTED=0

cmd_run() {
    local exit_after=0
    case "${1:-}" in
        --exit) exit_after=1 ;;
        "") ;;
        *) die "unknown argument $1; usage: scripts/demo.sh [--exit] | stop" ;;
    esac
    cd "$ROOT"

    bash "$STACK_SCRIPT" install
    build
    stop_server
    trap on_exit EXIT
    STARTED=1
    start_stack
    "$DEMO" create-table --table "$TABLE"
    start_server

    if ! "$DEMO" run --api "$API_URL" --table "$TABLE" --tenant "$TENANT"; then
        die "the walkthrough failed"
    fi
    if [ "$exit_after" = 0 ]; then
        KEEP_RUNNING=1
        print_usage_hints
    fi
}

# Prints the comment at the top of this script, which is its help.
print_help() {
    sed -n '2,/^set -euo pipefail/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

case "${1:-}" in
    -h | --help) print_help ;;
    stop) stop_all ;;
    *) cmd_run "$@" ;;
esac
