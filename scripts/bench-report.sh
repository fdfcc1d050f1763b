#!/usr/bin/env bash
# Saves a named benchmark baseline, or compares two as one markdown table of ratios with
# their noise bounds (docs/benchmarks.md, "Comparing two versions or two machines").
#
#   scripts/bench-report.sh save NAME [--runs N] [--quick]
#       criterion benches (core_step, e2e_inprocess) with --save-baseline NAME, and the
#       JSON benches (durable_path, read_throughput --transport in-process) N times each
#       (default 3) into target/bench-report/NAME/<bench>.<run>.json.
#       --quick: shorter cells (1 s, criterion --quick), for a first look only.
#   scripts/bench-report.sh compare OLD NEW [--floor FRACTION]
#       the table (cargo bench --bench bench_report -- compare OLD NEW); differences
#       below the floor (default 0.1) are never called better or worse.
#   scripts/bench-report.sh baselines [--runs N]
#       Concord side by side with openraft 0.9.25 (e2e in process) and raft-rs 0.7
#       (the core's replication round), alternating in one process run (baselines/,
#       its own workspace: builds openraft and raft-rs, ~3 min the first time); two
#       markdown tables of ratios with the per-run spread (default 3 runs).
#
# Two versions: check out the old one, `save before`; the new one, `save after`;
# `compare before after` (the target directory keeps both; names: letters, digits, -
# and _, not criterion's own 'base' and 'new'). Two machines: copy target/criterion and
# target/bench-report from one to the other first. Compare only baselines saved on an
# otherwise idle machine; the noise column says how far to trust a ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
# Baseline names: letters, digits, '-' and '_' (they become directory names); criterion
# uses 'base' and 'new' itself.
check_name() {
    if ! [[ "$1" =~ ^[A-Za-z0-9_-]+$ ]] || [[ "$1" == base || "$1" == new ]]; then
        echo "baseline name '$1': letters, digits, - and _ only, and not 'base' or 'new'" >&2
        exit 2
    fi
}
case "${1:-}" in
    save)
        name="${2:?usage: $0 save NAME [--runs N] [--quick]}"
        shift 2
        runs=3
        quick=()
        seconds=3
        while [[ $# -gt 0 ]]; do
            case "$1" in
                --runs) runs="$2"; shift 2 ;;
                --quick) quick=(--quick); seconds=1; shift ;;
                *) echo "unknown option $1" >&2; exit 2 ;;
            esac
        done
        check_name "$name"
        if ! [[ "$runs" =~ ^[1-9][0-9]*$ ]]; then
            echo "--runs: a positive number" >&2
            exit 2
        fi
        # Criterion keeps old ids of this name: start clean.
        find "$target/criterion" -type d -name "$name" -prune -exec rm -rf {} + 2>/dev/null || true
        for bench in core_step e2e_inprocess; do
            cargo bench --bench "$bench" -- --save-baseline "$name" ${quick[@]+"${quick[@]}"}
        done
        out="$target/bench-report/$name"
        rm -rf "$out"
        mkdir -p "$out"
        for run in $(seq 1 "$runs"); do
            cargo bench --bench durable_path -- --seconds "$seconds" --json >"$out/durable_path.$run.json"
            cargo bench --bench read_throughput -- --seconds "$seconds" --transport in-process --json \
                >"$out/read_throughput.$run.json"
        done
        echo "saved baseline '$name' ($runs runs of the JSON benches in $out)"
        ;;
    compare)
        old="${2:?usage: $0 compare OLD NEW}"
        new="${3:?usage: $0 compare OLD NEW [--floor FRACTION]}"
        check_name "$old"
        check_name "$new"
        shift 3
        cargo bench --quiet --bench bench_report -- compare "$old" "$new" --dir "$target" "$@"
        ;;
    baselines)
        shift
        runs=3
        while [[ $# -gt 0 ]]; do
            case "$1" in
                --runs) runs="$2"; shift 2 ;;
                *) echo "unknown option $1" >&2; exit 2 ;;
            esac
        done
        if ! [[ "$runs" =~ ^[1-9][0-9]*$ ]]; then
            echo "--runs: a positive number" >&2
            exit 2
        fi
        cd baselines
        cargo build --release --quiet
        ./target/release/concord-baselines core --runs "$runs"
        echo
        ./target/release/concord-baselines e2e --runs "$runs"
        ;;
    *)
        sed -n '2,23p' "$0"
        exit 2
        ;;
esac
