#!/usr/bin/env bash
# Mutation testing of the pure core, src/core (docs/verification.md, "Mutation testing").
#
#   scripts/mutants.sh run        shard by shard: stage 1 for the shard's mutants without
#                                 a verdict, then stage 2 for the survivors so far; then
#                                 the summary (resumable: run it again)
#   scripts/mutants.sh shard K    stage 1, shard K only (0-based, of MUTANTS_SHARDS;
#                                 MUTANTS_ONLY=RE: only the mutants whose name matches)
#   scripts/mutants.sh stage2     stage 2 only: stage 1's survivors not through it yet
#                                 (MUTANTS_RETEST=1: all survivors again; MUTANTS_ONLY=RE:
#                                 only those whose name matches the extended regex RE)
#   scripts/mutants.sh record     copy the verdicts of runs so far into the ledger
#   scripts/mutants.sh summary    counts, score, a table per file and every survivor
#   scripts/mutants.sh killers    for each mutant stage 2 caught, the test that failed first
#   scripts/mutants.sh stage1-retest
#                                 stage 1 again for what it missed and stage 2 caught (a
#                                 test written later may be a stage-1 test: the CI
#                                 sample is judged by stage 1's verdicts; MUTANTS_ONLY too)
#   scripts/mutants.sh sample     the CI sample: a few mutants picked by MUTANTS_SEED,
#                                 stage-1 tests; fails when a mutant the ledger records
#                                 as caught by those tests survives (MUTANTS_STRICT=0:
#                                 only reports it)
#   scripts/mutants.sh list       the mutants, as cargo-mutants names them
#
# The ledger (scripts/mutants-ledger.tsv, committed) keeps every verdict with the hash of
# the file it was tested on: a run resumes on any machine, in any session, and a verdict
# counts only while its file is unchanged (edit a file of src/core and its mutants are
# run again). Commit the ledger as a run goes (`record`, then commit).
#
# The test set: the core's unit tests, the handler tests (tests/core_handlers.rs,
# core_read_handlers.rs, core_membership_handlers.rs, core_snapshot_handlers.rs),
# tests/core_observer.rs, tests/core_mutants.rs,
# tests/core_parsing.rs, the property tests of tests/core_properties.rs, the core target
# of tests/fuzz_smoke.rs, and (stage 2) a small exhaustive model check and a few chaos
# seeds (`mutation_quick` in model/tests and chaos/tests). The golden scenarios
# (tests/core_scenarios.rs) never run: they are a change detector, not a judge.
#
# Stage 1 runs every mutant against the root crate's tests only (one crate to rebuild
# per mutant); stage 2 runs what stage 1 did not catch against the whole set, model and
# chaos included. Mutants, exclusions and their reasons: .cargo/mutants.toml.
#
# Environment: MUTANTS_DIR (target/mutants: the mirror tree, its target directory and
# the results), MUTANTS_SHARDS (8), MUTANTS_TIMEOUT (test timeout per mutant, 180 s),
# MUTANTS_PROPTEST_CASES (10000 per property test, about 3 s each: stage 2 and the sample),
# MUTANTS_STAGE1_PROPTEST_CASES (2000: stage 1 only sorts out what stage 2 must judge; a
# survivor of stage 1 meets all 10000 cases there), MUTANTS_SEED and MUTANTS_SAMPLE_OF
# (sample: shard SEED % OF of OF, round-robin; 320 gives 3-4 of the 1,146 mutants, about
# 100 s each in CI: a mutant relinks the stage-1 test binaries), MUTANTS_NICE (19).
# Needs cargo-mutants (`cargo install cargo-mutants --locked`, 27.1.0 used) and nextest.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

dir="${MUTANTS_DIR:-$root/target/mutants}"
tree="$dir/tree"
out="$dir/out"
shards="${MUTANTS_SHARDS:-8}"
timeout="${MUTANTS_TIMEOUT:-180}"
nice_level="${MUTANTS_NICE:-19}"
equivalent_list="$root/scripts/mutants-equivalent.txt"
# Every verdict ever recorded, committed with the code, so that a run carries over
# between machines and sessions: "stage<TAB>verdict<TAB>file hash<TAB>mutant".
ledger="${MUTANTS_LEDGER:-$root/scripts/mutants-ledger.tsv}"

# Deterministic tests: a fixed proptest seed, no shrinking (a failure is all a mutant
# needs), no regression files written into the mirror.
export PROPTEST_RNG_SEED="${PROPTEST_RNG_SEED:-20261201}"
export PROPTEST_MAX_SHRINK_ITERS=0
export PROPTEST_DISABLE_FAILURE_PERSISTENCE=1
export CONCORD_PROPTEST_CASES="${MUTANTS_PROPTEST_CASES:-10000}"
stage1_cases="${MUTANTS_STAGE1_PROPTEST_CASES:-2000}"

# Every property test counts (tests/core_properties.rs: random schedules, swarm mixes,
# Figure-7 divergent logs, and the generators' own checks).
properties='binary(core_properties)'
# The exact-action handler tests of every feature count (elections and replication,
# reads, membership, snapshots), and the cluster observer's own tests.
handlers='binary(core_handlers) | binary(core_read_handlers) | binary(core_membership_handlers) | binary(core_snapshot_handlers) | binary(core_observer)'
root_tests="(package(concord) & kind(lib) & test(/^core::/)) | $handlers | binary(core_parsing) | $properties | (binary(fuzz_smoke) & test(=core_survives_hostile_peers))"
root_targets=(--cargo-arg=--test=core_handlers --cargo-arg=--test=core_read_handlers
    --cargo-arg=--test=core_membership_handlers --cargo-arg=--test=core_snapshot_handlers
    --cargo-arg=--test=core_observer --cargo-arg=--test=core_parsing
    --cargo-arg=--test=core_properties --cargo-arg=--test=fuzz_smoke)
# tests/core_mutants.rs holds the tests written to kill the survivors of a full run.
# Stage 1 leaves them out and stage 2 runs them last (.config/nextest.toml), so the
# score before them can be told from the score after them (`killers`).
all_tests="$root_tests | binary(core_mutants)"

# Stage 1 leaves out the core's unit tests: `--lib` compiles the whole crate a second
# time (with cfg(test)) for every mutant, for 8 tests; stage 2 runs them.
stage1_args=("${root_targets[@]}" --test-package=concord
    -- --profile=mutants --run-ignored=all -E "$root_tests")
stage2_args=(--cargo-arg=--lib "${root_targets[@]}" --cargo-arg=--test=core_mutants
    --cargo-arg=--test=mutation_quick
    --test-package=concord,concord-model,concord-chaos
    -- --profile=mutants --run-ignored=all -E "$all_tests | binary(mutation_quick)")

# The sample selects the whole workspace (`--workspace` to cargo), so that cargo resolves
# the same features as `cargo test --workspace` and reuses its build in CI instead of
# rebuilding dependencies.
sample_args=("${root_targets[@]}" --cargo-arg=--test=core_mutants --test-workspace=true
    -- --profile=mutants --run-ignored=all -E "$all_tests")

need_tools() {
    if ! cargo mutants --version >/dev/null 2>&1; then
        echo "cargo-mutants is not installed: cargo install cargo-mutants --locked" >&2
        exit 2
    fi
    # The sample runs without nextest too (cargo test), the full runs need it.
    if [[ "${1:-}" != sample ]] && ! cargo nextest --version >/dev/null 2>&1; then
        echo "cargo-nextest is not installed: cargo install cargo-nextest --locked" >&2
        exit 2
    fi
}

# A copy of the source tree that only this script touches: cargo-mutants mutates it in
# place, so the working tree stays free to edit, and its target directory stays warm
# across shards (a copy per run would rebuild the workspace every time).
sync_tree() {
    mkdir -p "$tree"
    find "$tree" -mindepth 1 -maxdepth 1 ! -name target -exec rm -rf {} +
    tar -C "$root" --exclude=./target --exclude='./target-*' --exclude=./.git \
        --exclude=./fuzz/corpus --exclude=./fuzz/target --exclude=./fuzz/artifacts \
        --exclude=./chaos-failures -cf - . | tar -C "$tree" -xf -
    # The copy keeps the checkout's modification times, older than the mirror's build
    # artifacts: cargo would take the last run's binaries — built from its last mutant,
    # whose file cargo-mutants restored since — as up to date. Touch the mutated files
    # so the crates built from them are rebuilt (seen 2026-12-05: a second invocation's
    # baseline failed on the previous run's last mutant).
    find "$tree/src/core" -name '*.rs' -exec touch {} +
}

# The test profile (Cargo.toml) has no LTO and line tables only: thin-local LTO plus
# incremental rebuilds, mutant after mutant, ended in link errors ("undefined hidden
# symbol anon.*.llvm.*") that cargo-mutants would count as unviable mutants, and debug
# info was most of what the linker wrote. No overrides here, so that the CI sample
# reuses the build of `cargo test` instead of rebuilding every dependency.

mutants() {
    CARGO_TARGET_DIR="$tree/target" nice -n "$nice_level" \
        cargo mutants --in-place -d "$tree" --baseline=skip --timeout="$timeout" \
        --build-timeout=900 --no-shuffle "$@"
}

# cargo-mutants exits 0 (all caught), 2 (some missed) or 3 (some timed out) when it ran
# every mutant; anything else means the shard did not finish.
finished_ok() { [[ "$1" == 0 || "$1" == 2 || "$1" == 3 ]]; }

# The stage-1 test set (and the unit tests) on the unmutated tree: a test that fails
# without a mutant would count every mutant as caught. It also warms the build.
baseline1() {
    echo "== baseline: the stage-1 test set on the unmutated tree"
    local started=$SECONDS
    local -x CONCORD_PROPTEST_CASES="$stage1_cases"
    (cd "$tree" && CARGO_TARGET_DIR="$tree/target" nice -n "$nice_level" cargo nextest run \
        -p concord --lib --test core_handlers --test core_read_handlers \
        --test core_membership_handlers --test core_snapshot_handlers --test core_observer \
        --test core_parsing --test core_properties --test fuzz_smoke \
        --profile=mutants --run-ignored=all -E "$root_tests")
    echo "baseline: $((SECONDS - started)) s (build and tests)"
}

baseline() {
    echo "== baseline: the stage-2 test set on the unmutated tree"
    local started=$SECONDS
    (cd "$tree" && CARGO_TARGET_DIR="$tree/target" nice -n "$nice_level" cargo nextest run \
        -p concord -p concord-model -p concord-chaos --lib --test core_handlers \
        --test core_read_handlers --test core_membership_handlers \
        --test core_snapshot_handlers --test core_observer --test core_mutants --test core_parsing --test core_properties --test fuzz_smoke \
        --test mutation_quick --profile=mutants --run-ignored=all \
        -E "$all_tests | binary(mutation_quick)")
    echo "baseline: $((SECONDS - started)) s (build and tests)"
}

# The names of the mutants in stage-1 shard K, as cargo-mutants lists them. Round-robin:
# each shard takes every K-th mutant of every file, so a finished shard (through stage 2)
# is a fair sample of the whole and its score an estimate of the final one.
shard_mutants() {
    cargo mutants --list -d "$tree" --shard="$1/$shards" --sharding=round-robin
}

# "file<TAB>hash" for every file of src/core under directory $1: a verdict in the
# ledger holds only while the mutated file is byte for byte the one it was tested on.
core_hashes() {
    (cd "$1" && find src/core -name '*.rs' -print0 | sort -z | xargs -0 sha256sum) \
        | awk '{ print $2 "\t" substr($1, 1, 16) }'
}

# Appends an attempt's verdicts to the ledger (idempotent: the ledger keeps one line per
# stage, verdict, hash and mutant, in the order they were first recorded). Called after
# every attempt, and by `record` while a run is going on (cargo-mutants writes each
# verdict as it settles, so a stopped attempt loses at most the mutant in progress).
record_attempt() {
    local attempt="$1" stage outcome
    [[ -f "$attempt/hashes" && -f "$attempt/stage" ]] || return 0
    stage=$(cat "$attempt/stage")
    mkdir -p "$dir"
    (
        flock 9
        for outcome in caught missed unviable timeout; do
            [[ -f "$attempt/mutants.out/$outcome.txt" ]] || continue
            awk -F'\t' -v stage="$stage" -v outcome="$outcome" '
                FNR == NR { hash[$1] = $2; next }
                { file = $0; sub(/:.*/, "", file)
                  if (file in hash) print stage "\t" outcome "\t" hash[file] "\t" $0 }
            ' "$attempt/hashes" "$attempt/mutants.out/$outcome.txt"
        done >>"$ledger"
        awk '/^#/ || !seen[$0]++' "$ledger" >"$ledger.new" && mv "$ledger.new" "$ledger"
    ) 9>"$dir/ledger.lock"
}

record_all() {
    local attempt
    for attempt in "$out"/*/attempt-*; do
        [[ -d "$attempt" ]] && record_attempt "$attempt"
    done
    return 0
}

# "name<TAB>verdict<TAB>stages" for every mutant of the tree in $1 the ledger has a
# verdict for (against that tree's files). Caught in any stage is caught; then
# unviable; otherwise the latest survivor verdict (missed or timeout), with the stages
# it survived.
verdicts() {
    awk -F'\t' '
        FNR == NR { hash[$1] = $2; next }
        /^#/ || NF < 4 { next }
        {
            file = $4; sub(/:.*/, "", file)
            if (hash[file] != $3) next
            n = $4
            if (!(n in verdict)) order[++count] = n
            if ($2 == "caught") verdict[n] = "caught"
            else if (verdict[n] == "caught") {}
            else if ($2 == "unviable") verdict[n] = "unviable"
            else if (verdict[n] == "unviable") {}
            else verdict[n] = $2
            if (index("," stages[n] ",", "," $1 ",") == 0)
                stages[n] = stages[n] == "" ? $1 : stages[n] "," $1
        }
        END { for (i = 1; i <= count; i++) print order[i] "\t" verdict[order[i]] "\t" stages[order[i]] }
    ' <(core_hashes "$1") <(cat "$ledger" 2>/dev/null || true)
}

# Mutant names of the tree, one per line, that have no verdict yet.
untested() {
    grep -vxF -f <(verdicts "$tree" | cut -f1; echo '#') || true
}

# Runs the named mutants (one per line in $2) as stage $1 with the remaining arguments,
# in an attempt folder of their own, and records the verdicts.
run_attempt() {
    local stage="$1" names="$2"
    shift 2
    local attempt="$out/stage$stage/attempt-$(date +%s)" filters=() name
    mkdir -p "$attempt"
    core_hashes "$tree" >"$attempt/hashes"
    echo "$stage" >"$attempt/stage"
    while IFS= read -r name; do
        filters+=("--re=$(exact_re "$name")")
    done <<<"$names"
    local started=$SECONDS status=0
    mutants "${filters[@]}" -o "$attempt" "$@" || status=$?
    echo "$((SECONDS - started))" >"$attempt/seconds"
    local relink=0
    unsettle_link_failures "$attempt/mutants.out" && relink=1
    record_attempt "$attempt"
    if ! finished_ok "$status"; then
        echo "stage $stage stopped (cargo-mutants exit $status)" >&2
        exit "$status"
    fi
    return $((relink == 1 ? 10 : 0))
}

# A regex matching exactly one mutant name (for cargo-mutants' --re).
exact_re() {
    printf '^%s$' "$(printf '%s' "$1" | sed 's/[][\\.*+?(){}|^$]/\\&/g')"
}

# A build that failed at the link step with a toolchain error is not an unviable mutant:
# forget those verdicts (so the next attempt runs them again) and the incremental state.
# Returns success when it forgot any.
unsettle_link_failures() {
    local results="$1" bad
    bad=$(grep -l "undefined hidden symbol" "$results"/log/*.log 2>/dev/null \
        | xargs -r -n1 grep -m1 '^\*\*\* ' | sed 's/^\*\*\* //' || true)
    [[ -n "$bad" ]] || return 1
    echo "warning: $(echo "$bad" | wc -l) builds failed to link; running them again" >&2
    grep -vxF -f <(echo "$bad") "$results/unviable.txt" >"$results/unviable.txt.new" || true
    mv "$results/unviable.txt.new" "$results/unviable.txt"
    rm -rf "$tree/target/debug/incremental"
}

# Stage 1, shard K: its mutants the ledger has no verdict for.
run_shard() {
    local k="$1" remaining status=0
    remaining=$(shard_mutants "$k" | untested)
    # MUTANTS_ONLY (an extended regex): only the mutants whose name matches (two runs
    # side by side on different files, each in a clone of its own).
    if [[ -n "${MUTANTS_ONLY:-}" ]]; then
        remaining=$(grep -E -- "$MUTANTS_ONLY" <<<"$remaining" || true)
    fi
    if [[ -z "$remaining" ]]; then
        echo "== stage 1 shard $k/$shards: every mutant has a verdict"
        return
    fi
    echo "== stage 1 shard $k/$shards: $(echo "$remaining" | wc -l) mutants to run"
    # Fewer property cases than stage 2: 10,000 cases of the six property tests were
    # 13 of a stage-1 mutant's 20 s; a kill is a kill at any count, and what survives
    # here meets the full budget in stage 2.
    local -x CONCORD_PROPTEST_CASES="$stage1_cases"
    run_attempt 1 "$remaining" "${stage1_args[@]}" || status=$?
    if ((status == 10)); then
        run_shard "$k" # the builds that failed to link, again
    fi
}

# Survivors (missed or timed out) of the tree that have been through stage $1 and not
# through stage $2 (or, with MUTANTS_RETEST=1, every survivor that has been through $1).
survivors_for() {
    verdicts "$tree" | awk -F'\t' -v after="$1" -v next_stage="$2" -v retest="${MUTANTS_RETEST:-0}" '
        ($2 == "missed" || $2 == "timeout") && index("," $3 ",", "," after ",") \
            && (retest == 1 || !index("," $3 ",", "," next_stage ",")) { print $1 }'
}

# Stage 2: what stage 1 did not catch, against the whole set (model and chaos
# included). MUTANTS_RETEST=1 runs stage 2's own survivors again (after adding tests).
stage2() {
    local names status=0
    names=$(survivors_for 1 2)
    # MUTANTS_ONLY (an extended regex): only the survivors whose name matches (to re-run
    # the few a new test was written for, with MUTANTS_RETEST=1).
    if [[ -n "${MUTANTS_ONLY:-}" ]]; then
        names=$(grep -E -- "$MUTANTS_ONLY" <<<"$names" || true)
    fi
    [[ -n "$names" ]] || { echo "== stage 2: nothing to run"; return; }
    baseline
    echo "== stage 2: $(echo "$names" | wc -l) survivors against the whole test set"
    run_attempt 2 "$names" "${stage2_args[@]}" || status=$?
    ((status == 10)) && stage2
    return 0
}

# Counts, the score, a table per file and every survivor, for the checkout as it is
# (verdicts recorded against other versions of a file do not count). A survivor of
# stage 1 that stage 2 has not seen yet is "pending"; the score counts only final
# verdicts (caught anywhere, or missed by stage 2), so a finished round-robin shard
# estimates the final score.
summary() {
    local all v
    all=$(cargo mutants --list -d "$root")
    v=$(awk -F'\t' '
        FNR == NR { want[$0] = 1; next }
        ($1 in want) {
            if (($2 == "missed" || $2 == "timeout") && !index("," $3 ",", ",2,")) $2 = "pending"
            print $1 "\t" $2 "\t" $3
        }' <(echo "$all") <(verdicts "$root"))
    awk -F'\t' -v total="$(echo "$all" | grep -c . || true)" '
        NF >= 2 {
            file = $1; sub(/:.*/, "", file); files[file] = 1
            n[$2]++; per[file, $2]++
        }
        END {
            tested = n["caught"] + n["missed"] + n["timeout"] + n["unviable"] + n["pending"]
            printf "mutants: %d; untested %d; caught %d, missed %d, timeout %d, unviable %d, pending stage 2 %d\n",
                total, total - tested, n["caught"], n["missed"], n["timeout"], n["unviable"], n["pending"]
            if (n["caught"] + n["missed"] > 0)
                printf "score: caught / (caught + missed) = %.1f%% (final verdicts; timeouts left out of both)\n",
                    100 * n["caught"] / (n["caught"] + n["missed"])
            printf "\n| file | caught | missed | timeout | unviable | pending |\n|---|---:|---:|---:|---:|---:|\n"
            for (f in files)
                printf "| %s | %d | %d | %d | %d | %d |\n", f, per[f, "caught"], per[f, "missed"],
                    per[f, "timeout"], per[f, "unviable"], per[f, "pending"] | "sort"
        }' <<<"$v"
    local survivors
    # Survivors, the documented equivalents marked (scripts/mutants-equivalent.txt).
    survivors=$(awk -F'\t' '
        FNR == NR { if (!/^#/ && NF) documented[$0] = 1; next }
        $2 == "missed" || $2 == "timeout" || $2 == "pending" {
            print $2 ": " $1 (($2 == "missed" && $1 in documented) ? "  (equivalent, documented)" : "")
        }' "$equivalent_list" - <<<"$v" | sort)
    if [[ -n "$survivors" ]]; then
        echo
        echo "survivors ($(grep -c 'equivalent, documented' <<<"$survivors" || true) missed ones documented as equivalent):"
        echo "$survivors" | sed 's/^/  /'
    fi
}

# For every mutant stage 2 caught, the first test that failed (from its log): tells the
# model's and the chaos suite's catches from those of the tests written for survivors.
killers() {
    local dir log name
    for dir in "$out"/stage2/attempt-*/mutants.out; do
        [[ -f "$dir/caught.txt" ]] || continue
        while IFS= read -r name; do
            log=$(grep -l -F "$name" "$dir"/log/*.log 2>/dev/null | head -1)
            echo "$name :: $(grep -m1 -o 'FAIL \[[^]]*\] ([^)]*) .*' "$log" 2>/dev/null | sed 's/FAIL \[[^]]*\] ([^)]*) //')"
        done <"$dir/caught.txt"
    done
}

# The CI sample. In CI (CI=true) it mutates the checkout in place and reuses the target
# directory `cargo test` just filled; elsewhere it works on the mirror tree.
sample() {
    local seed="${MUTANTS_SEED:-$(date +%j)}" of="${MUTANTS_SAMPLE_OF:-320}"
    # Base 10: `date +%j` pads the day with zeros, and bash reads 008 as octal.
    local k=$((10#$seed % of)) sample_out="$dir/sample" status=0
    mkdir -p "$dir"
    rm -rf "$sample_out"
    echo "== mutation sample: seed $seed, shard $k/$of (round-robin), stage-1 tests"
    local where=(-d "$tree")
    if [[ "${CI:-}" == true ]]; then
        where=(-d "$root")
    else
        sync_tree
    fi
    local target="$tree/target"
    [[ "${CI:-}" == true ]] && target="${CARGO_TARGET_DIR:-$root/target}"
    local started=$SECONDS hashes="$dir/sample-hashes"
    # The hashes of the files as they are (cargo-mutants restores them after each mutant).
    core_hashes "${where[1]}" >"$hashes"
    local args=("${sample_args[@]}")
    if ! cargo nextest --version >/dev/null 2>&1; then
        # A machine without nextest (a CI machine with only the Rust toolchain): the
        # same test binaries under cargo's own runner, every test of each (the root
        # crate's unit tests are left out, as in stage 1).
        echo "mutation sample: cargo-nextest is not installed; running the tests with cargo test"
        args=("${root_targets[@]}" --cargo-arg=--test=core_mutants --test-workspace=true
            --test-tool=cargo)
    fi
    CARGO_TARGET_DIR="$target" cargo mutants --in-place "${where[@]}" --baseline=skip --timeout="$timeout" \
        --build-timeout=900 --no-shuffle --shard="$k/$of" --sharding=round-robin \
        -o "$sample_out" "${args[@]}" || status=$?
    finished_ok "$status" || { echo "mutation sample did not finish (exit $status)" >&2; exit 1; }
    # The ledger is the judge: a sampled mutant that survived must be one the ledger
    # records as surviving the stage-1 tests, against the same file byte for byte (an
    # equivalent, or one only the unit tests, the model or the chaos seeds catch). A
    # survivor the ledger says those tests caught is a regression: the tests lost a
    # kill. A survivor of a file edited since the ledger's last run is reported, not
    # failed (run scripts/mutants.sh to give it a verdict).
    # Only a miss fails: a timeout may be the runner's (CI may run the tests with cargo's
    # own runner and 10,000 property cases, the ledger's stage 1 used nextest's fail-fast
    # and 2,000), so a timeout of a mutant the ledger says was caught is reported.
    local regressed unknown slow
    regressed=$(stage1_verdicts "$hashes" <"$sample_out/mutants.out/missed.txt" \
        | awk -F'\t' '$2 == "caught" { print $1 }')
    slow=$(stage1_verdicts "$hashes" <"$sample_out/mutants.out/timeout.txt" \
        | awk -F'\t' '$2 == "caught" { print $1 }')
    unknown=$(cat "$sample_out/mutants.out/missed.txt" "$sample_out/mutants.out/timeout.txt" \
        | stage1_verdicts "$hashes" | awk -F'\t' '$2 == "none" { print $1 }')
    if [[ -n "$slow" ]]; then
        echo "mutation sample: timed out, though the ledger records them caught (not a" \
            "failure: the runner or the machine may be slower than the ledger's):" >&2
        echo "$slow" >&2
    fi
    echo "mutation sample: $(wc -l <"$sample_out/mutants.out/caught.txt") caught," \
        "$(wc -l <"$sample_out/mutants.out/missed.txt") missed (as in the ledger)," \
        "$(wc -l <"$sample_out/mutants.out/unviable.txt") unviable, in $((SECONDS - started)) s"
    if [[ -n "$unknown" ]]; then
        echo "mutation sample: survivors of files edited since the ledger's last run" \
            "(no verdict to compare with; scripts/mutants.sh run gives them one):" >&2
        echo "$unknown" >&2
    fi
    if [[ -n "$regressed" ]]; then
        echo "mutation sample: mutants the ledger records as caught by these tests survived" \
            "(a test lost its kill):" >&2
        echo "$regressed" >&2
        # MUTANTS_STRICT=0 only reports (for a local look while tests are being rewritten).
        if [[ "${MUTANTS_STRICT:-1}" == 1 ]]; then
            exit 1
        fi
    fi
}

# Stage 1 again for the mutants it missed that stage 2 caught: a test written for a
# survivor after stage 1 ran (in tests/core_mutants.rs, say) is one stage 1 runs too, so
# its kill belongs in stage 1's verdict — which is what the CI sample is judged by.
stage1_retest() {
    local names status=0
    names=$(verdicts "$tree" | awk -F'\t' '$2 == "caught" { print $1 }' \
        | stage1_verdicts <(core_hashes "$tree") \
        | awk -F'\t' '$2 == "missed" || $2 == "timeout" { print $1 }')
    if [[ -n "${MUTANTS_ONLY:-}" ]]; then
        names=$(grep -E -- "$MUTANTS_ONLY" <<<"$names" || true)
    fi
    [[ -n "$names" ]] || { echo "== stage 1 retest: nothing to run"; return; }
    baseline1
    echo "== stage 1 retest: $(echo "$names" | wc -l) mutants stage 2 caught after stage 1 missed them"
    local -x CONCORD_PROPTEST_CASES="$stage1_cases"
    run_attempt 1 "$names" "${stage1_args[@]}" || status=$?
    return 0
}

# Reads mutant names on stdin; prints "name<TAB>verdict" with the ledger's stage-1
# verdict for the file hashes in $1 ("file<TAB>hash" lines): caught, missed, timeout,
# unviable, or none when the ledger has no stage-1 verdict for that file as it is.
stage1_verdicts() {
    awk -F'\t' '
        FILENAME == ARGV[1] { hash[$1] = $2; next }
        FILENAME == ARGV[2] {
            if (/^#/ || NF < 4 || $1 != 1) next
            file = $4; sub(/:.*/, "", file)
            if (hash[file] != $3) next
            if ($2 == "caught" || !($4 in verdict)) verdict[$4] = $2
            next
        }
        { print $0 "\t" ($0 in verdict ? verdict[$0] : "none") }
    ' "$1" <(cat "$ledger" 2>/dev/null || true) -
}

# Everything runs from main, and the script exits on the line that calls it: bash reads a
# script while it runs it, so editing this file during a run would otherwise change
# what the running one does.
main() {
    case "${1:-run}" in
    run)
        need_tools
        record_all
        sync_tree
        baseline1
        for ((k = 0; k < shards; k++)); do
            run_shard "$k"
            stage2
        done
        summary
        ;;
    shard)
        need_tools
        record_all
        sync_tree
        run_shard "${2:?shard number}"
        ;;
    stage2)
        need_tools
        record_all
        sync_tree
        stage2
        summary
        ;;
    record) record_all ;;
    summary)
        record_all
        summary
        ;;
    killers) killers ;;
    stage1-retest)
        need_tools
        record_all
        sync_tree
        stage1_retest
        summary
        ;;
    sample)
        need_tools sample
        sample
        ;;
    list)
        need_tools
        cargo mutants --list
        ;;
    *)
        sed -n '2,40p' "$0"
        exit 2
        ;;
    esac
}

main "$@"; exit $?
