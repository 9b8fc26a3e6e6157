#!/usr/bin/env bash
# Measures taskiq-nats, the peer of the speed targets, on this machine (see taskiq_nats_bench.py).
# Usage: scripts/peers/taskiq-nats.sh [--jobs N] [--sequential N] [--chains N] [--sequential-chains N]
# Needs python3 (with venv) and nats-server on PATH; the virtualenv lives outside the repository.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${ARIA_PEERS_VENV:-${TMPDIR:-/tmp}/aria-peers-venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q taskiq==0.13.0 taskiq-nats==0.7.0 nats-py==2.16.0
fi
cd "$here" && exec "$venv/bin/python" taskiq_nats_bench.py "$@"
