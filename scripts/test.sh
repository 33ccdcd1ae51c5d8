#!/usr/bin/env bash
# The project's test command. Installs the local AWS stack when something is missing,
# starts a fresh stack, runs every check against it, and stops the stack on exit.
#
# Usage: scripts/test.sh
#
# Setup steps run first, and one that fails ends the run. Then every check runs, even after
# another check failed, and the script exits non-zero when any check failed. To add a step,
# write a function below and append its name to SETUP_STEPS or CHECKS. Each step runs with
# `set -e` in a subshell, except that setup steps run in this shell so that they can export
# variables.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STACK_SCRIPT="$ROOT/scripts/stack.sh"
ENV_FILE="$ROOT/.local/stack.env"
VENV_PYTHON="$ROOT/.local/venv/bin/python"
STACK_STARTED=0

log() {
    printf 'test.sh: %s\n' "$*" >&2
}

# --- setup steps ---------------------------------------------------------------------------

install_stack() {
    bash "$STACK_SCRIPT" install
}

start_stack() {
    # Tests run against a stack that no earlier run has written to.
    if [ -f "$ENV_FILE" ]; then
        log "restarting the local stack that is already running"
        bash "$STACK_SCRIPT" stop
    fi
    STACK_STARTED=1
    bash "$STACK_SCRIPT" start
    # shellcheck source=/dev/null
    source "$ENV_FILE"
}

# A run from a clean checkout fills about 6 GiB (build artifacts in target/, virtualenvs and
# DynamoDB Local in .local/). A full disk fails builds with linker crashes rather than a clear
# message, so a low reading is reported first.
NEEDED_DISK_GIB=6

report_disk_space() {
    local free_kib
    free_kib="$(df -Pk "$ROOT" | awk 'NR == 2 { print $4 }')"
    if [ -n "$free_kib" ] && [ "$free_kib" -lt $((NEEDED_DISK_GIB * 1024 * 1024)) ]; then
        log "warning: $((free_kib / 1024)) MiB free on the disk of $ROOT; a run from a clean" \
            "checkout needs about $NEEDED_DISK_GIB GiB, so builds may fail with the disk full"
    fi
}

SETUP_STEPS=(report_disk_space install_stack start_stack)

# --- checks --------------------------------------------------------------------------------

check_format() {
    cargo fmt --all --check
}

check_clippy() {
    cargo clippy --workspace --all-targets -- -D warnings
}

check_cargo_test() {
    cargo test --workspace
}

check_moto_ext() {
    # pytest exits 5 when it collects no test, which fails this check as well.
    "$VENV_PYTHON" -m pytest -p no:cacheprovider -q "$ROOT/scripts/local-stack"
}

check_template() {
    bash "$ROOT/scripts/check-template.sh"
}

check_policy_lint() {
    bash "$ROOT/scripts/lint-policies.sh"
}

check_api_fuzz() {
    bash "$ROOT/scripts/fuzz-api.sh"
}

check_sam_build() {
    # The functions reach AWS only through a closed 127.0.0.1 port here, so the HTTP functions
    # answer 503 and revalidate-endpoints reports a function error: either proves that the
    # built bootstrap starts, reads its configuration and serves the runtime API.
    bash "$ROOT/scripts/sam-build.sh" --allow-function-errors
}

CHECKS=(check_format check_clippy check_cargo_test check_api_fuzz check_moto_ext check_template
    check_policy_lint check_sam_build)

# --- runner --------------------------------------------------------------------------------

stop_stack() {
    if [ "$STACK_STARTED" = 1 ]; then
        bash "$STACK_SCRIPT" stop || log "stopping the local stack failed"
    fi
}

# Prints the comment at the top of this script, which is its help.
print_help() {
    sed -n '2,/^set -euo pipefail/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

main() {
    case "${1:-}" in
        "") ;;
        -h | --help)
            print_help
            return 0
            ;;
        *)
            log "unknown argument $1; usage: scripts/test.sh (no arguments), or --help"
            exit 2
            ;;
    esac
    cd "$ROOT"
    trap stop_stack EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    local step started
    for step in "${SETUP_STEPS[@]}"; do
        log "==> $step"
        started=$SECONDS
        "$step"
        log "<== $step done in $((SECONDS - started))s"
    done

    local failed=() status
    for step in "${CHECKS[@]}"; do
        log "==> $step"
        started=$SECONDS
        set +e
        (
            set -e
            "$step"
        )
        status=$?
        set -e
        if [ "$status" -eq 0 ]; then
            log "<== $step passed in $((SECONDS - started))s"
        else
            log "<== $step FAILED with exit status $status after $((SECONDS - started))s"
            failed+=("$step")
        fi
    done

    if [ "${#failed[@]}" -gt 0 ]; then
        log "${#failed[@]} of ${#CHECKS[@]} checks failed: ${failed[*]}"
        exit 1
    fi
    log "all ${#CHECKS[@]} checks passed"
}

main "$@"
