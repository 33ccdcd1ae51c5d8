#!/usr/bin/env bash
# Stop the local API server and the local AWS stack that scripts/demo.sh started, by their
# recorded PIDs.
#
# Usage: scripts/demo-stop.sh
set -euo pipefail

case "${1:-}" in
    "") ;;
    -h | --help)
        sed -n '2,5p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "demo-stop: unknown argument $1; usage: scripts/demo-stop.sh" >&2
        exit 2
        ;;
esac

exec bash "$(dirname "${BASH_SOURCE[0]}")/demo.sh" stop
