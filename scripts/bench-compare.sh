#!/usr/bin/env bash
# Compares two release builds of Aria on this machine, interleaved (A, B, A, B, ...), so drift in the
# machine's speed hits both alike. Prints each run's scenario lines and the machine CPU seconds it used
# (busy time from /proc/stat: user, nice, system, irq, softirq; not idle, iowait or steal).
#
#   scripts/bench-compare.sh <checkout-a> <checkout-b> [rounds] -- [aria bench options]
#   e.g. git worktree add /tmp/old c57ec7c && (cd /tmp/old && swift build -c release)
#        scripts/bench-compare.sh /tmp/old . 2 -- --jobs 5000 --sequential 300 --chains 1 --sequential-chains 1 --fanouts 100
set -euo pipefail
a=$1; b=$2; shift 2
rounds=2
if [[ $# -gt 0 && $1 != -- ]]; then rounds=$1; shift; fi
[[ $# -gt 0 && $1 == -- ]] && shift
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }
hz=$(getconf CLK_TCK)
for ((round = 1; round <= rounds; round++)); do
  for dir in "$a" "$b"; do
    echo "== $dir (round $round)"
    before=$(busy)
    (cd "$dir" && "$(swift build -c release --show-bin-path)/aria" bench "$@" | grep -E '^\| (A|B|F|W) ')
    after=$(busy)
    awk -v d=$((after - before)) -v hz="$hz" 'BEGIN { printf "machine CPU: %.2f s\n", d / hz }'
  done
done
