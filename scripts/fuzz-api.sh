#!/usr/bin/env bash
# Check the local API server against openapi.yaml with schemathesis.
#
# Usage: scripts/fuzz-api.sh
#
# Needs the local AWS stack running with its settings in the environment, as scripts/test.sh
# provides them (or: scripts/stack.sh start && source .local/stack.env). Builds the binaries,
# creates a new endpoints table, starts target/debug/local-api on a free port of 127.0.0.1 with
# its own token key, seeds a few endpoints for two tenants (scripts/fuzz_config.py, which also
# writes the schemathesis configuration) and runs schemathesis (pinned in
# scripts/requirements-fuzz.txt, installed into .local/fuzz-venv) with a token for one tenant.
# Half of the generated ids and body fields are drawn from the seeded values, so that requests
# reach saved endpoints and the store, not only 404 and validation errors. The run fails on any
# 5xx response and on any response whose status, content type or body the document does not
# declare.
#
# FUZZ_MAX_EXAMPLES (default 25) sets the generated cases per operation and phase; the 8
# operations take about a minute with the default. FUZZ_SEED (default 20261204) makes the
# cases repeatable. Reports go to .local/fuzz/report/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FUZZ_DIR="$ROOT/.local/fuzz"
VENV="$ROOT/.local/fuzz-venv"
LOCAL_API="$ROOT/target/debug/local-api"
DEMO="$ROOT/target/debug/demo"
MAX_EXAMPLES="${FUZZ_MAX_EXAMPLES:-25}"
SEED="${FUZZ_SEED:-20261204}"
START_TIMEOUT_SECONDS=60
SERVER_PID=""
API_URL=""

log() {
    printf 'fuzz-api: %s\n' "$*" >&2
}

stop_server() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        log "stopping the local API server (pid $SERVER_PID)"
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
}

start_server() {
    local table="$1" address_file="$FUZZ_DIR/address"
    rm -f "$address_file"
    TABLE_NAME="$table" PLATFORM_NAME=CostPlatform LOCAL_API_KEY_FILE="$FUZZ_DIR/token-key" \
        "$LOCAL_API" serve --port 0 --address-file "$address_file" \
        </dev/null >"$FUZZ_DIR/local-api.log" 2>&1 &
    SERVER_PID=$!

    local deadline=$((SECONDS + START_TIMEOUT_SECONDS))
    until [ -s "$address_file" ]; do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            tail -n 20 "$FUZZ_DIR/local-api.log" >&2
            log "error: the local API server exited during start-up"
            exit 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "error: the local API server did not listen within ${START_TIMEOUT_SECONDS}s"
            exit 1
        fi
        sleep 0.2
    done
    API_URL="$(cat "$address_file")"
}

main() {
    cd "$ROOT"
    [ -n "${AWS_ENDPOINT_URL:-}" ] ||
        { log "error: the local stack's settings are missing: source .local/stack.env"; exit 1; }

    # shellcheck source=scripts/venv.sh
    source scripts/venv.sh
    ensure_venv "$VENV" scripts/requirements-fuzz.txt
    # The test build's feature set includes the dev-dependencies, so after `cargo test
    # --workspace` this reuses every artifact instead of rebuilding the AWS SDK.
    cargo test --workspace --no-run --quiet
    mkdir -p "$FUZZ_DIR"
    trap stop_server EXIT

    local table="fuzz-$(date +%s)-$$" token
    "$DEMO" create-table --table "$table"
    # start_server runs in this shell, not in a command substitution, so that SERVER_PID is
    # set here and the EXIT trap stops the server.
    start_server "$table"
    local url="$API_URL" other_token config="$FUZZ_DIR/schemathesis.toml"
    token="$(LOCAL_API_KEY_FILE="$FUZZ_DIR/token-key" "$LOCAL_API" token --tenant fuzz-tenant)"
    other_token="$(LOCAL_API_KEY_FILE="$FUZZ_DIR/token-key" "$LOCAL_API" token --tenant other-tenant)"
    "$VENV/bin/python" scripts/fuzz_config.py --url "$url" --token "$token" \
        --other-token "$other_token" --out "$config"
    log "fuzzing $url with $MAX_EXAMPLES cases per operation and phase, seed $SEED"

    "$VENV/bin/schemathesis" --config-file "$config" run openapi.yaml \
        --url "$url" \
        --header "Authorization: Bearer $token" \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
        --phases examples,coverage,fuzzing \
        --max-examples "$MAX_EXAMPLES" \
        --seed "$SEED" \
        --workers 1 \
        --request-timeout 60 \
        --generation-database none \
        --no-color \
        --report junit \
        --report-dir "$FUZZ_DIR/report"
}

main "$@"
