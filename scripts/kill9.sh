#!/usr/bin/env bash
# The long kill -9 profile (docs/verification.md, "Real processes (kill -9)"): three
# node processes on loopback, SIGKILLed and restarted CYCLES times (default 1,000)
# under client load, then the lost-write, linearizability and convergence checks.
#
#   scripts/kill9.sh [CYCLES]
#
# Environment: CONCORD_KILL9_SEED=N replays a run's schedule; CONCORD_KILL9_OUT=DIR
# keeps the run's directory (history JSON lines, nemesis log, node logs and data) in
# DIR/seed-N, which otherwise is kept only when the run fails; CONCORD_BUILD_LOCK=FILE
# holds flock(1) on FILE while building (not while running).
set -euo pipefail
cd "$(dirname "$0")/.."
cycles="${1:-${CONCORD_KILL9_CYCLES:-1000}}"
build=(cargo test --release --test process_kill9 --no-run)
if [[ -n "${CONCORD_BUILD_LOCK:-}" ]]; then
    build=(flock "$CONCORD_BUILD_LOCK" "${build[@]}")
fi
"${build[@]}"
# Already built: this only asks cargo where the test binary is.
binary=$("${build[@]}" --message-format=json |
    grep '"name":"process_kill9"' |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
if [[ -z "$binary" ]]; then
    echo "kill9.sh: cannot find the process_kill9 test binary" >&2
    exit 2
fi
CONCORD_KILL9_CYCLES="$cycles" exec "$binary" \
    --exact kill9_three_processes_keep_every_acknowledged_write --nocapture --test-threads=1
