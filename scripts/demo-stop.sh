#!/usr/bin/env bash
# Stop the local API server and the local AWS stack that scripts/demo.sh started, by their
# recorded PIDs.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/demo.sh" stop
