#!/usr/bin/env bash
# Builds every function with `sam build` for the host's architecture, then starts each built
# bootstrap against a local Lambda runtime API (`cargo lambda watch --only-lambda-apis` on
# 127.0.0.1) and sends it one fixture from events/. A function passes when it returns a
# response to the fixture.
#
# Usage: scripts/sam-build.sh [--build-only] [--allow-function-errors] [--env-file FILE]
#                             [--invoke-timeout SECONDS]
#
#   --build-only             Run `sam build` and the glibc check, and invoke nothing.
#   --allow-function-errors  Also pass a function that returns a function error (for example
#                            because no DynamoDB is reachable). Without it, only a response
#                            passes.
#   --env-file FILE          KEY=VALUE lines that override the environment a function gets, for
#                            example AWS_ENDPOINT_URL of a local DynamoDB and TABLE_NAME. Every
#                            AWS_ENDPOINT_URL* value must be a loopback URL.
#   --invoke-timeout SECONDS Maximum wait for one response, capped by the function's own
#                            Timeout (default 60).
#
# The binaries land in .local/sam-build, not in .aws-sam/build, so that `sam deploy` never
# picks up a build made for the host instead of the deployed architecture.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

build_only=false
allow_function_errors=false
env_file=""
invoke_timeout=60
while [[ $# -gt 0 ]]; do
    case $1 in
        --build-only) build_only=true ;;
        --allow-function-errors) allow_function_errors=true ;;
        --env-file)
            env_file=${2:?--env-file needs a file name}
            shift
            ;;
        --invoke-timeout)
            invoke_timeout=${2:?--invoke-timeout needs a number of seconds}
            shift
            ;;
        *)
            echo "unknown option: $1 (see the usage at the top of $0)" >&2
            exit 2
            ;;
    esac
    shift
done

# Logical ID, binary name and fixture of each function. The fixture names are the contract
# with events/.
functions=(
    "RenderPolicyFunction render-policy events/render-policy/get-external-id.json"
    "ListEndpointsFunction list-endpoints events/list-endpoints/list.json"
    "CreateEndpointFunction create-endpoint events/create-endpoint/create.json"
    "TestEndpointFunction test-endpoint events/test-endpoint/test-unsaved.json"
    "RevalidateEndpointsFunction revalidate-endpoints events/revalidate-endpoints/scheduled-rule.json"
)
build_dir=.local/sam-build
# provided.al2023 ships glibc 2.34, so a binary that needs a newer symbol version fails there.
max_glibc=2.34

# Check the inputs of the invoke step before the slow build.
if ! $build_only; then
    for entry in "${functions[@]}"; do
        read -r _ _ fixture <<<"$entry"
        if [[ ! -f "$fixture" ]]; then
            echo "missing fixture $fixture. Add it, or run with --build-only." >&2
            exit 1
        fi
    done

    if [[ -n "$env_file" ]]; then
        if grep -E '^AWS_ENDPOINT_URL[A-Z_]*=' "$env_file" | grep -vqE '=https?://(127\.[0-9.]+|localhost|\[::1\])(:[0-9]+)?(/|$)'; then
            echo "$env_file sets an AWS_ENDPOINT_URL that is not a loopback URL" >&2
            exit 1
        fi
    fi
fi

# shellcheck source=scripts/venv.sh
source scripts/venv.sh
ensure_venv .local/sam-venv scripts/requirements-sam.txt
ensure_venv .local/cargo-lambda-venv scripts/requirements-cargo-lambda.txt

export PATH="$repo_root/.local/cargo-lambda-venv/bin:$PATH"
# Build with the host's own cargo and linker instead of cargo-zigbuild. The host's glibc is
# newer than 2.34, so the glibc check below guards the result.
export CARGO_LAMBDA_COMPILER=cargo
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
# SAM CLI would otherwise send usage metrics to AWS.
export SAM_CLI_TELEMETRY=0

# The template deploys arm64, but this script builds for the host, because
# CARGO_LAMBDA_COMPILER=cargo links only for the installed Rust target and the invoke step runs
# the binaries on this machine.
case $(uname -m) in
    x86_64) architecture=x86_64 ;;
    aarch64 | arm64) architecture=arm64 ;;
    *)
        echo "unsupported host architecture $(uname -m). Lambda runs only x86_64 and arm64." >&2
        exit 1
        ;;
esac

echo "==> sam build (Architecture=$architecture)"
.local/sam-venv/bin/sam build --template-file template.yaml --build-dir "$build_dir" \
    --parameter-overrides "Architecture=$architecture"

echo "==> glibc symbol versions (at most $max_glibc)"
for entry in "${functions[@]}"; do
    read -r logical_id _ _ <<<"$entry"
    bootstrap="$build_dir/$logical_id/bootstrap"
    needed=$(objdump -T "$bootstrap" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)
    if [[ "$(printf '%s\n%s\n' "$needed" "$max_glibc" | sort -V | tail -n 1)" != "$max_glibc" ]]; then
        echo "$bootstrap needs glibc $needed, newer than the $max_glibc of provided.al2023" >&2
        exit 1
    fi
    echo "$logical_id: glibc $needed"
done

if $build_only; then
    exit 0
fi

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

runtime_port=$(free_port)
# Nothing listens on this port, so an SDK call fails fast instead of leaving the machine.
closed_port=$(free_port)
log_dir=.local/sam-invoke-logs
mkdir -p "$log_dir"

watch_pid=""
function_pid=""
curl_pid=""
stop_processes() {
    if [[ -n "$curl_pid" ]]; then kill "$curl_pid" 2>/dev/null || true; fi
    if [[ -n "$function_pid" ]]; then kill "$function_pid" 2>/dev/null || true; fi
    if [[ -n "$watch_pid" ]]; then kill "$watch_pid" 2>/dev/null || true; fi
}
trap stop_processes EXIT

echo "==> local Lambda runtime API on 127.0.0.1:$runtime_port"
cargo lambda watch --only-lambda-apis --ignore-changes -A 127.0.0.1 -P "$runtime_port" \
    >"$log_dir/runtime-api.log" 2>&1 &
watch_pid=$!
runtime_ready=false
for _ in $(seq 1 50); do
    # A TCP connect only: an HTTP request to the emulator's root path waits for a function.
    if (exec 3<>"/dev/tcp/127.0.0.1/$runtime_port") 2>/dev/null; then
        runtime_ready=true
        break
    fi
    sleep 0.2
done
if ! $runtime_ready; then
    echo "the local Lambda runtime API did not start within 10 s. Its output is in $log_dir/runtime-api.log." >&2
    exit 1
fi

passed=0
failed=0
for entry in "${functions[@]}"; do
    read -r logical_id binary fixture <<<"$entry"
    echo "==> $binary with $fixture"

    environment=()
    function_timeout=""
    while IFS= read -r line; do
        if [[ "$line" == FUNCTION_TIMEOUT=* ]]; then
            function_timeout=${line#FUNCTION_TIMEOUT=}
        else
            environment+=("$line")
        fi
    done < <(.local/sam-venv/bin/python scripts/function_env.py template.yaml "$logical_id")
    if [[ -z "$function_timeout" ]]; then
        echo "could not read the environment of $logical_id from template.yaml" >&2
        exit 1
    fi
    wait_seconds=$((function_timeout < invoke_timeout ? function_timeout : invoke_timeout))
    if [[ -n "$env_file" ]]; then
        while IFS= read -r line; do
            [[ -z "$line" || "$line" == \#* ]] || environment+=("$line")
        done <"$env_file"
    fi

    # env -i keeps the caller's AWS profile and credentials away from the function. The static
    # credentials also stop the SDK from asking an instance metadata service.
    env -i PATH=/usr/bin:/bin HOME="$repo_root/.local" LANG=C.UTF-8 \
        AWS_REGION="$AWS_DEFAULT_REGION" AWS_DEFAULT_REGION="$AWS_DEFAULT_REGION" \
        AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_EC2_METADATA_DISABLED=true \
        AWS_ENDPOINT_URL="http://127.0.0.1:$closed_port" \
        AWS_LAMBDA_FUNCTION_NAME="$binary" AWS_LAMBDA_FUNCTION_VERSION='$LATEST' \
        AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$runtime_port/.rt/$binary" \
        _HANDLER=bootstrap LAMBDA_TASK_ROOT="$repo_root/$build_dir/$logical_id" \
        "${environment[@]}" \
        "$build_dir/$logical_id/bootstrap" >"$log_dir/$binary.log" 2>&1 &
    function_pid=$!

    response_file="$log_dir/$binary.response.json"
    status_file="$log_dir/$binary.status"
    rm -f "$response_file" "$status_file"
    curl -sS --max-time "$((wait_seconds + 5))" -o "$response_file" -w '%{http_code}' \
        -X POST --data-binary "@$fixture" \
        "http://127.0.0.1:$runtime_port/2015-03-31/functions/$binary/invocations" \
        >"$status_file" &
    curl_pid=$!
    # Stop waiting as soon as the function exits, because no response can arrive after that.
    while kill -0 "$curl_pid" 2>/dev/null; do
        if ! kill -0 "$function_pid" 2>/dev/null; then
            sleep 1
            kill "$curl_pid" 2>/dev/null || true
            break
        fi
        sleep 0.2
    done
    wait "$curl_pid" 2>/dev/null || true
    curl_pid=""
    status=$(cat "$status_file" 2>/dev/null || true)

    if [[ "$status" == "200" ]]; then
        echo "PASS: $binary returned: $(head -c 300 "$response_file")"
        passed=$((passed + 1))
    elif [[ "$status" == "500" ]] && grep -q '"errorType"' "$response_file"; then
        if $allow_function_errors; then
            echo "PASS: $binary returned a function error: $(head -c 300 "$response_file")"
            passed=$((passed + 1))
        else
            echo "FAIL: $binary returned a function error: $(head -c 300 "$response_file")" >&2
            failed=$((failed + 1))
        fi
    else
        if kill -0 "$function_pid" 2>/dev/null; then
            reason="timed out after ${wait_seconds}s"
        else
            reason="exited without a response"
        fi
        echo "FAIL: $binary $reason (invoke HTTP status ${status:-missing})." \
            "Its output is in $log_dir/$binary.log:" >&2
        tail -n 20 "$log_dir/$binary.log" >&2
        failed=$((failed + 1))
    fi

    kill "$function_pid" 2>/dev/null || true
    wait "$function_pid" 2>/dev/null || true
    function_pid=""
done

echo "invocations: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
