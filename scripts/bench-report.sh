#!/usr/bin/env bash
# Saves a named benchmark baseline, or compares two as one markdown table of ratios with
# their noise bounds (docs/benchmarks.md, "Comparing two versions or two machines").
#
#   scripts/bench-report.sh save NAME [--runs N] [--quick]
#       criterion benches (core_step, e2e_inprocess) with --save-baseline NAME, and the
#       JSON benches (durable_path, read_throughput --transport in-process) N times each
#       (default 3) into target/bench-report/NAME/<bench>.<run>.json.
#       --quick: shorter cells (1 s, criterion --quick), for a first look only.
#   scripts/bench-report.sh compare OLD NEW
#       the table (cargo bench --bench bench_report -- compare OLD NEW).
#
# Two versions: check out the old one, `save old`; the new one, `save new`; `compare old
# new` (the target directory keeps both). Two machines: copy target/criterion and
# target/bench-report from one to the other first. Compare only baselines saved on an
# otherwise idle machine; the noise column says how far to trust a ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
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
        if [[ "$name" == base || "$name" == new ]]; then
            echo "criterion reserves the baseline names 'base' and 'new'" >&2
            exit 2
        fi
        for bench in core_step e2e_inprocess; do
            cargo bench --bench "$bench" -- --save-baseline "$name" "${quick[@]}"
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
        new="${3:?usage: $0 compare OLD NEW}"
        cargo bench --quiet --bench bench_report -- compare "$old" "$new" --dir "$target"
        ;;
    *)
        sed -n '2,18p' "$0"
        exit 2
        ;;
esac
