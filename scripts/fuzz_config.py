"""Seed endpoints through the local API server and write the schemathesis configuration.

Usage: fuzz_config.py --url URL --token TOKEN --other-token TOKEN --out FILE

Without real endpoint ids, every request to /endpoints/{id} returns 404, and without valid
field values, almost every create returns 422 before it reaches the store. This script saves
a few endpoints (with skip_test=true, so no connection test runs) for the fuzzed tenant and
one for another tenant, then writes a configuration that draws path ids and body fields from
those values half of the time. The other tenant's id must get 404, like an unknown id.

Uses only the standard library, so any Python 3.11 runs it.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

# A role ARN that passes validation. No role exists behind it, which is fine because the
# fuzzed creates skip the connection test.
ROLE_ARN = "arn:aws:iam::222222222222:role/fuzz-endpoint-role"
BUCKET = "fuzz-endpoint-bucket"
REGION = "eu-west-1"
TENANT_PREFIXES = ("billing/", "exports/", "telemetry/2026/")
OTHER_TENANT_PREFIX = "other-tenant/"
# Share of generated values replaced by a dictionary value, per field.
DICTIONARY_PROBABILITY = 0.5


def create_endpoint(url: str, token: str, name: str, mode: str, prefix: str) -> str:
    """Save one endpoint without a connection test and return its id."""
    body = {
        "name": name,
        "mode": mode,
        "role_arn": ROLE_ARN,
        "bucket": BUCKET,
        "prefix": prefix,
        "region": REGION,
    }
    request = urllib.request.Request(
        f"{url}/endpoints?skip_test=true",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            if response.status != 201:
                raise RuntimeError(f"creating endpoint {name!r} returned HTTP {response.status}")
            return json.load(response)["endpoint"]["id"]
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")
        message = f"creating endpoint {name!r} failed with HTTP {error.code}: {detail}"
        raise RuntimeError(message) from error


def toml_list(values: list[str]) -> str:
    """Render strings as a TOML array. JSON string escapes are valid in TOML basic strings."""
    return "[" + ", ".join(json.dumps(value) for value in values) + "]"


def render_config(own_ids: list[str], other_id: str) -> str:
    dictionaries = {
        "endpoint-ids": own_ids + [other_id],
        "modes": ["read_only", "read_write"],
        "role-arns": [ROLE_ARN],
        "buckets": [BUCKET, "fuzz-second-bucket"],
        "prefixes": ["", "billing/", "billing/2026/", "exports", "new-prefix/"],
        "regions": [REGION, "us-east-1", "cn-north-1"],
        "names": ["Billing reports", "Data exports"],
    }
    bindings = {
        "path.id": "endpoint-ids",
        "body.mode": "modes",
        "body.role_arn": "role-arns",
        "body.bucket": "buckets",
        "body.prefix": "prefixes",
        "body.region": "regions",
        "body.name": "names",
    }
    lines = ["# Written by scripts/fuzz_config.py for one fuzz run.", ""]
    for name, values in dictionaries.items():
        lines += [f"[dictionaries.{name}]", f"values = {toml_list(values)}", ""]
    lines.append("[parameters]")
    for parameter, dictionary in bindings.items():
        lines.append(
            f'"{parameter}" = {{ dictionary = "{dictionary}", '
            f"probability = {DICTIONARY_PROBABILITY} }}"
        )
    lines += [
        "",
        "# Creates skip the connection test: every fuzzed role is missing, so a test would",
        "# spend its whole deadline retrying AssumeRole. The tests in tests/ cover that path.",
        "[[operations]]",
        'include-operation-id = "createEndpoint"',
        'parameters = { "query.skip_test" = "true" }',
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="base URL of the local API server")
    parser.add_argument("--token", required=True, help="token of the fuzzed tenant")
    parser.add_argument("--other-token", required=True, help="token of a second tenant")
    parser.add_argument("--out", required=True, type=Path, help="configuration file to write")
    args = parser.parse_args()

    own_ids = []
    for index, prefix in enumerate(TENANT_PREFIXES):
        mode = "read_write" if prefix == "exports/" else "read_only"
        own_ids.append(create_endpoint(args.url, args.token, f"seeded {index}", mode, prefix))
    other_id = create_endpoint(
        args.url, args.other_token, "other tenant", "read_only", OTHER_TENANT_PREFIX
    )

    args.out.write_text(render_config(own_ids, other_id), encoding="utf-8")
    print(f"seeded {len(own_ids) + 1} endpoints, wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
