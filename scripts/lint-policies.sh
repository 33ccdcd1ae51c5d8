#!/usr/bin/env bash
# Lints every rendered policy with parliament and every rendered CloudFormation template with
# cfn-lint, and fails on any finding that scripts/policy-lint-allow.txt does not accept.
#
# Usage: scripts/lint-policies.sh [OUTPUT_DIR]
# The linters are installed, pinned, into .local/policy-venv on first use. The rendered files
# go to OUTPUT_DIR, or to a temporary folder that is removed afterwards.
set -euo pipefail

PARLIAMENT_VERSION=1.6.4
CFN_LINT_VERSION=1.58.0

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.local/policy-venv"
allow_file="$root/scripts/policy-lint-allow.txt"

install_linters() {
    if [ "$("$venv/bin/parliament" --version 2>/dev/null)" = "parliament $PARLIAMENT_VERSION" ] &&
        [ "$("$venv/bin/cfn-lint" --version 2>/dev/null)" = "cfn-lint $CFN_LINT_VERSION" ]; then
        return
    fi
    echo "Installing parliament $PARLIAMENT_VERSION and cfn-lint $CFN_LINT_VERSION into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "parliament==$PARLIAMENT_VERSION" "cfn-lint==$CFN_LINT_VERSION"
}

render_cases() {
    local output_dir="$1"
    (cd "$root" && cargo run --quiet -p endpoint-core --example render_policy_cases -- "$output_dir")
}

# Prints parliament's findings for one folder as JSON lines, with paths relative to the
# output folder. Parliament exits 1 when it prints findings, so only other codes fail here.
run_parliament() {
    local output_dir="$1" folder="$2" status=0
    (cd "$output_dir" && "$venv/bin/parliament" --json --include-community-auditors \
        --directory "$folder" --include_policy_extension .json </dev/null) || status=$?
    if [ "$status" -gt 1 ]; then
        echo "parliament failed with exit code $status on $folder" >&2
        return 1
    fi
}

# Reads findings as JSON lines on standard input and fails on any not in the allow file.
read -r -d '' CHECK_FINDINGS_PROGRAM <<'PY' || true
import fnmatch
import json
import sys

allowed = []
with open(sys.argv[1], encoding="utf-8") as allow_file:
    for line in allow_file:
        line = line.strip()
        if line and not line.startswith("#"):
            linter, issue, pattern, reason = line.split(maxsplit=3)
            allowed.append((linter, issue, pattern))

def path_of(finding):
    path = finding["location"].get("filepath", "")
    return path[2:] if path.startswith("./") else path

unexpected = 0
accepted = 0
for line in sys.stdin:
    finding = json.loads(line)
    if any(
        linter == "parliament"
        and issue == finding["issue"]
        and fnmatch.fnmatch(path_of(finding), pattern)
        for linter, issue, pattern in allowed
    ):
        accepted += 1
        continue
    unexpected += 1
    print(f"unexpected parliament finding: {json.dumps(finding)}", file=sys.stderr)

print(f"parliament: {accepted} accepted findings, {unexpected} unexpected")
sys.exit(1 if unexpected else 0)
PY

check_findings() {
    "$venv/bin/python" -c "$CHECK_FINDINGS_PROGRAM" "$allow_file"
}

lint_policies() {
    local output_dir="$1"
    {
        run_parliament "$output_dir" trust
        run_parliament "$output_dir" trust-with-resource
        run_parliament "$output_dir" permissions
    } | check_findings
}

# cfn-lint checks each template in a region of its own partition.
lint_templates() {
    local output_dir="$1" partition region
    for partition_region in aws:eu-west-1 aws-cn:cn-north-1 aws-us-gov:us-gov-west-1; do
        partition="${partition_region%%:*}"
        region="${partition_region#*:}"
        "$venv/bin/cfn-lint" --regions "$region" -- "$output_dir/templates/${partition}"_*.json
    done
    echo "cfn-lint: no findings"
}

# Proves that each linter still reports a known mistake, so that a silent linter cannot pass.
check_linters_detect_errors() {
    local output_dir="$1" canary_dir="$1/canary"
    mkdir -p "$canary_dir/policy"
    "$venv/bin/python" - "$output_dir" "$canary_dir" <<'PY'
import json
import sys

output_dir, canary_dir = sys.argv[1], sys.argv[2]
case = "aws_read_only_prefix_kms.json"
with open(f"{output_dir}/permissions/{case}", encoding="utf-8") as file:
    policy = json.load(file)
policy["Statement"][0]["Condition"]["StringLike"]["s3:prefixx"] = "x"
with open(f"{canary_dir}/policy/{case}", "w", encoding="utf-8") as file:
    json.dump(policy, file)

with open(f"{output_dir}/templates/{case}", encoding="utf-8") as file:
    template = json.load(file)
template["Resources"]["EndpointRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][0]["Effect"] = "Allw"
with open(f"{canary_dir}/template.json", "w", encoding="utf-8") as file:
    json.dump(template, file)
PY
    local findings
    findings="$(run_parliament "$canary_dir" policy)"
    if ! grep -q UNKNOWN_CONDITION_FOR_ACTION <<<"$findings"; then
        echo "parliament did not report an unknown condition key in a canary policy" >&2
        return 1
    fi
    if "$venv/bin/cfn-lint" -- "$canary_dir/template.json" >/dev/null; then
        echo "cfn-lint did not report an invalid Effect in a canary template" >&2
        return 1
    fi
    echo "linters report the canary mistakes"
}

temporary_dir=""

main() {
    local output_dir="${1:-}"
    if [ -z "$output_dir" ]; then
        temporary_dir="$(mktemp -d)"
        trap 'rm -rf "$temporary_dir"' EXIT
        output_dir="$temporary_dir"
    fi
    output_dir="$(mkdir -p "$output_dir" && cd "$output_dir" && pwd)"

    install_linters
    render_cases "$output_dir"
    check_linters_detect_errors "$output_dir"
    lint_policies "$output_dir"
    lint_templates "$output_dir"
}

main "$@"
