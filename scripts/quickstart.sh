#!/usr/bin/env bash
# One command from a fresh Debian machine to a running local cluster and a succeeded demo job.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build
bin="$(swift build --show-bin-path)"
"$bin/aria" dev up
"$bin/aria" submit --template echo_chain --param message="hello from Aria" --idempotency-key "quickstart-$(date +%s)" --watch
echo
echo "The cluster keeps running: $bin/aria run show <run id>; stop it with $bin/aria dev down"
