#!/usr/bin/env bash
# Long fuzzing runs with cargo-fuzz (libFuzzer + AddressSanitizer) on the stable toolchain.
#
#   scripts/fuzz.sh                      # every target, FUZZ_SECONDS (default 900) each
#   FUZZ_SECONDS=60 scripts/fuzz.sh core_messages
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). No nightly: RUSTC_BOOTSTRAP=1 lets the
# stable compiler accept the -Z sanitizer and coverage flags cargo-fuzz passes.
# Targets run one after another, one libFuzzer process each (-jobs=1). The corpus grows
# in fuzz/corpus/<target> (not checked in); the checked-in seeds in fuzz/seeds/<target>
# are read too. A crash lands in fuzz/artifacts/<target>/; fix it, then copy the input
# into fuzz/seeds/<target>/ so the CI smoke test (tests/fuzz_smoke.rs) keeps it.
# Set CONCORD_CARGO_LOCK=/path/to/lock to run every cargo step under flock (shared
# machines). Per-target logs: fuzz/logs/<target>.log; a summary line per target at the end.
set -euo pipefail

seconds=${FUZZ_SECONDS:-900}
all_targets=(raft_wire service_wire storage_codec core_messages)
if [ "$#" -gt 0 ]; then targets=("$@"); else targets=("${all_targets[@]}"); fi

cd "$(dirname "$0")/../fuzz"
export RUSTC_BOOTSTRAP=1

locked() {
    if [ -n "${CONCORD_CARGO_LOCK:-}" ]; then flock "$CONCORD_CARGO_LOCK" "$@"; else "$@"; fi
}

# -a: debug assertions and overflow checks on, so arithmetic overflow is a finding.
locked cargo fuzz build -a
mkdir -p logs
status=0
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    log="logs/$target.log"
    echo "== $target: ${seconds}s"
    # -malloc_limit_mb: a single allocation above it is a finding (allocation from an
    # announced length); -rss_limit_mb bounds the whole process.
    if ! locked cargo fuzz run -a "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -jobs=1 -workers=1 \
        -rss_limit_mb=2048 -malloc_limit_mb=256 -print_final_stats=1 >"$log" 2>&1; then
        status=1
        echo "   FAILED: see fuzz/$log and fuzz/artifacts/$target/"
    fi
    # With -jobs the fuzzer's own output goes to fuzz-0.log.
    if [ -f fuzz-0.log ]; then
        cat fuzz-0.log >>"$log"
        rm -f fuzz-0.log
    fi
    grep -E 'cov: ' "$log" | tail -n 1 || true
    grep -E '^stat::' "$log" | tail -n 5 || true
    echo "   corpus: $(find "corpus/$target" -type f | wc -l) files"
done
exit "$status"
