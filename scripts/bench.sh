#!/usr/bin/env bash
# The benchmark suite. Installs what it needs, builds the release binaries once, starts the
# local AWS stack, runs every part, stops the stack, and writes the results page.
#
# Usage: scripts/bench.sh [--smoke]
#
#   (no option)  Full run. Writes docs/benchmarks.md and one JSON file per part in
#                docs/benchmarks/.
#   --smoke      Tiny iteration counts, to check that every part still runs. Writes to
#                .local/bench/smoke/ and leaves docs/ alone.
#
# The build runs first and is timed on its own; the suite's own run takes a few minutes on a
# 2-core machine. Every server is on 127.0.0.1. Process logs of the measured functions go to
# .local/bench/logs/. BENCH_RUN_TIMEOUT_SECONDS (default 1200) stops a run that hangs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STACK_SCRIPT="$ROOT/scripts/stack.sh"
ENV_FILE="$ROOT/.local/stack.env"
BENCH_VENV="$ROOT/.local/bench-venv"
BENCH_REQUIREMENTS="$ROOT/scripts/requirements-bench.txt"
LOG_DIR="$ROOT/.local/bench/logs"
PREVIOUS_DIR="$ROOT/.local/bench/previous"
BIN_DIR="$ROOT/target/release"
RUN_TIMEOUT_SECONDS="${BENCH_RUN_TIMEOUT_SECONDS:-1200}"
# The function binaries and the empty floor binary, built with the release profile.
PACKAGES=(create-endpoint list-endpoints render-policy revalidate-endpoints test-endpoint
    bench-empty-lambda)
STACK_STARTED=0
SUITE=""

# shellcheck source=scripts/venv.sh
source "$ROOT/scripts/venv.sh"

log() {
    printf 'bench.sh: %s\n' "$*" >&2
}

smoke=false
case "${1:-}" in
    "") ;;
    --smoke) smoke=true ;;
    *)
        echo "usage: scripts/bench.sh [--smoke]" >&2
        exit 2
        ;;
esac

if $smoke; then
    OUT_DIR="$ROOT/.local/bench/smoke"
    PAGE="$OUT_DIR/benchmarks.md"
    COMMAND="scripts/bench.sh --smoke"
    SMOKE_FLAG=(--smoke)
else
    OUT_DIR="$ROOT/docs/benchmarks"
    PAGE="$ROOT/docs/benchmarks.md"
    COMMAND="scripts/bench.sh"
    SMOKE_FLAG=()
fi

stop_stack() {
    if [ "$STACK_STARTED" = 1 ]; then
        bash "$STACK_SCRIPT" stop || log "stopping the local stack failed"
    fi
}

# Builds the binaries and the suite, and sets SUITE to the suite's executable. It runs in this
# shell, not in a command substitution, so that `set -e` stops the script when a build fails.
build() {
    local package_flags=() package
    for package in "${PACKAGES[@]}"; do
        package_flags+=(-p "$package")
    done
    cargo build --release "${package_flags[@]}"
    # The bench profile inherits release, so the handlers measured in process are optimized as
    # the deployed ones are. Its executable name has a hash, so read it from cargo's output.
    local messages="$ROOT/.local/bench/cargo-messages.json"
    mkdir -p "$(dirname "$messages")"
    cargo bench --bench endpoints --no-run --message-format=json-render-diagnostics >"$messages"
    SUITE="$(
        python3 - "$messages" <<'PYTHON'
import json, sys
with open(sys.argv[1], encoding="utf-8") as messages:
    for line in messages:
        message = json.loads(line)
        if message.get("reason") == "compiler-artifact" and message.get("executable") \
                and message["target"]["name"] == "endpoints":
            print(message["executable"])
PYTHON
    )"
}

main() {
    cd "$ROOT"
    trap stop_stack EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    log "==> installing the local stack and the boto3 virtualenv"
    bash "$STACK_SCRIPT" install
    ensure_venv "$BENCH_VENV" "$BENCH_REQUIREMENTS"

    log "==> building release binaries"
    local build_started=$SECONDS
    build
    local build_seconds=$((SECONDS - build_started))
    [ -x "$SUITE" ] || {
        log "error: cargo did not report the suite's executable"
        exit 1
    }
    log "<== built in ${build_seconds}s"

    if [ -f "$ENV_FILE" ]; then
        log "restarting the local stack that is already running"
        bash "$STACK_SCRIPT" stop
    fi
    STACK_STARTED=1
    local suite_started=$SECONDS
    bash "$STACK_SCRIPT" start
    # shellcheck source=/dev/null
    source "$ENV_FILE"

    # The results of the run before this one stay beside the new ones on the page.
    rm -rf "$PREVIOUS_DIR" "$LOG_DIR"
    mkdir -p "$OUT_DIR" "$LOG_DIR" "$PREVIOUS_DIR"
    find "$OUT_DIR" -maxdepth 1 -name '*.json' -exec mv -t "$PREVIOUS_DIR" {} +
    log "==> running the suite"
    timeout --signal=TERM "$RUN_TIMEOUT_SECONDS" "$SUITE" run "${SMOKE_FLAG[@]}" \
        --out "$OUT_DIR" --bin-dir "$BIN_DIR" --log-dir "$LOG_DIR" \
        --python "$BENCH_VENV/bin/python"
    stop_stack
    STACK_STARTED=0
    local suite_seconds=$((SECONDS - suite_started))

    "$SUITE" report "${SMOKE_FLAG[@]}" --out "$OUT_DIR" --page "$PAGE" --command "$COMMAND" \
        --build-seconds "$build_seconds" --suite-seconds "$suite_seconds" \
        --previous "$PREVIOUS_DIR"
    log "<== wrote $PAGE in ${suite_seconds}s (build excluded)"
}

main "$@"
