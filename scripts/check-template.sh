#!/usr/bin/env bash
# Checks template.yaml offline: cfn-lint, `sam validate --lint` and the checkov security scan.
#
# Installs the pinned tools into .local/sam-venv and .local/checkov-venv on first use. The
# scan passes only with zero failed checks. Every accepted finding is skipped on its resource
# in template.yaml (Metadata.checkov.skip), with the reason in the skip's comment.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"
# shellcheck source=scripts/venv.sh
source scripts/venv.sh

ensure_venv .local/sam-venv scripts/requirements-sam.txt
ensure_venv .local/checkov-venv scripts/requirements-checkov.txt

# cfn-lint and the SAM translator need a Region, but no credentials and no network.
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
# SAM CLI would otherwise send usage metrics to AWS.
export SAM_CLI_TELEMETRY=0

passed=0
failed=0

# Runs one named check and counts its result, so that every check runs even after a failure.
run_check() {
    local name=$1
    shift
    echo "==> $name"
    if "$@"; then
        passed=$((passed + 1))
    else
        echo "FAILED: $name" >&2
        failed=$((failed + 1))
    fi
}

# Fails when a checkov skip in the template has no comment that gives its reason.
check_skip_reasons() {
    .local/sam-venv/bin/python - template.yaml <<'EOF'
import sys
from samcli.yamlhelper import yaml_parse

with open(sys.argv[1], encoding="utf-8") as template_file:
    template = yaml_parse(template_file.read())

missing = []
for logical_id, resource in template["Resources"].items():
    skips = (resource.get("Metadata") or {}).get("checkov", {}).get("skip", [])
    for skip in skips:
        if not str(skip.get("comment", "")).strip():
            missing.append(f"{logical_id}: {skip.get('id')}")

if missing:
    print("checkov skips without a reason in their comment:", *missing, sep="\n  ")
    sys.exit(1)
EOF
}

run_check "cfn-lint" .local/sam-venv/bin/cfn-lint template.yaml
run_check "sam validate --lint" .local/sam-venv/bin/sam validate --lint --template-file template.yaml
# --skip-download keeps checkov offline. It then reports no severities, which is why any
# failed check fails the scan.
run_check "checkov" .local/checkov-venv/bin/checkov --file template.yaml \
    --framework cloudformation --skip-download --compact --quiet
run_check "checkov skip reasons" check_skip_reasons

echo "template: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
