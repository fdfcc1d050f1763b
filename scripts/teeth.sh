#!/usr/bin/env bash
# Teeth: re-inject classic Raft bugs into a copy of the code, one at a time, and run each
# harness as documented, to show which *property* catches each bug and how fast.
#
#   scripts/teeth.sh                      # every variant in scripts/teeth/*.patch
#   scripts/teeth.sh figure8-commit-old-term vote-not-persisted
#   TEETH_HARNESSES=model,props scripts/teeth.sh      # a subset of harnesses
#
# Harnesses (golden scenarios are deliberately not run: a text diff is not a property):
#   model    concord-model check --first over the whole matrix (release)
#   sim      concord-model simulate: the deep profile's random walks (seed 7, 20000 walks
#            of 400 steps, as in model/tests/teeth.rs), for bugs beyond the matrix' bounds
#   handlers cargo test --test core_handlers --test core_mutants --test core_snapshot_handlers --test core_membership_handlers --test core_read_handlers
#            (exact-action handler tests)
#   props    cargo test --test core_properties (CONCORD_PROPTEST_CASES, default 10000 as in CI)
#   chaos    the chaos suite's CI tests: chaos/tests/chaos.rs (the CI seeds of every
#            nemesis, 3 and 5 nodes) and chaos/tests/teeth.rs (windows profile)
#
# The copy lives in target/teeth/tree (current working tree, uncommitted changes
# included) with its own target dir, so only the core and its dependents rebuild per
# variant. Results: one markdown row per variant on stdout and in
# target/teeth/report.md (TEETH_REPORT to write elsewhere). A variant whose patch no longer applies is reported as such
# (regenerate it against the current core; see docs/verification.md "Teeth table").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${TEETH_WORK:-$root/target/teeth}
tree=$work/tree
harnesses=${TEETH_HARNESSES:-model,sim,handlers,props,chaos}
cases=${CONCORD_PROPTEST_CASES:-10000}
export CARGO_TARGET_DIR=$work/target
mkdir -p "$work"

variants=("$@")
if [ ${#variants[@]} -eq 0 ]; then
    for patch in "$root"/scripts/teeth/*.patch; do
        variants+=("$(basename "$patch" .patch)")
    done
fi

# A fresh copy of every tracked file (keeping the copy's build cache).
rm -rf "$tree"
mkdir -p "$tree"
(cd "$root" && git ls-files -z | xargs -0 tar -cf - --) | tar -C "$tree" -xf -

has() { [[ ",$harnesses," == *",$1,"* ]]; }
now() { date +%s; }
report=${TEETH_REPORT:-$work/report.md}
echo "| variant | model (profile: property, time) | deep walks (property, time) | handler tests | property tests | chaos (seed: check) |" | tee "$report"
echo "|---|---|---|---|---|---|" | tee -a "$report"

for name in "${variants[@]}"; do
    patch=$root/scripts/teeth/$name.patch
    if ! (cd "$tree" && patch -p1 --dry-run --silent < "$patch" >/dev/null 2>&1); then
        echo "| $name | patch does not apply | | | | |" | tee -a "$report"
        continue
    fi
    (cd "$tree" && patch -p1 --silent < "$patch")
    model="-"; sim="-"; handlers="-"; props="-"; chaos="-"
    log=$work/$name.log
    : > "$log"
    if ! (cd "$tree" && cargo build --release -q -p concord-model -p concord-chaos >>"$log" 2>&1); then
        echo "| $name | does not build (see $log) | | | | |" | tee -a "$report"
        (cd "$tree" && patch -R -p1 --silent < "$patch")
        continue
    fi
    if has model; then
        start=$(now)
        out=$("$CARGO_TARGET_DIR/release/concord-model" check --first --threads 2 --timeout 600 2>&1 || true)
        echo "$out" >>"$log"
        took=$(( $(now) - start ))
        # The first profile with a violated property, and the property.
        model=$(echo "$out" | awk -v t="$took" '
            /^== / { profile = $2 }
            /violated$/ && !found { sub(/^ +/, ""); sub(/ +violated$/, ""); found = profile ": " $0 }
            END { if (found) print found " (" t " s for the matrix)"; else print "not caught (" t " s)" }')
    fi
    if has sim; then
        start=$(now)
        out=$("$CARGO_TARGET_DIR/release/concord-model" simulate --seed 7 --steps 400 --runs 20000 --threads 2 2>&1 || true)
        echo "$out" >>"$log"
        took=$(( $(now) - start ))
        sim=$(echo "$out" | awk -v t="$took" '
            /violated$/ && !found { sub(/^ +/, ""); sub(/ +violated$/, ""); found = $0 }
            /^\(walk [0-9]+\)/ && !walk { walk = $0 }
            END { if (found) print found " " walk " (" t " s)"; else print "not caught (" t " s)" }')
    fi
    if has handlers; then
        start=$(now)
        if (cd "$tree" && cargo test --release -q --test core_handlers --test core_mutants --test core_snapshot_handlers --test core_membership_handlers --test core_read_handlers >>"$log" 2>&1); then
            handlers="passed"
        else
            handlers="failed ($(( $(now) - start )) s)"
        fi
    fi
    if has props; then
        start=$(now)
        if (cd "$tree" && CONCORD_PROPTEST_CASES=$cases cargo test --release -q --test core_properties >>"$log" 2>&1); then
            props="passed ($(( $(now) - start )) s)"
        else
            props="failed ($(( $(now) - start )) s)"
        fi
    fi
    if has chaos; then
        # Exactly the chaos suite's CI tests (chaos/tests/chaos.rs and teeth.rs: the CI
        # seeds of every nemesis, 3 and 5 nodes, and the windows profile).
        start=$(now)
        # Built first, so the time limit (TEETH_CHAOS_TIMEOUT, 600 s) is the tests' own.
        (cd "$tree" && cargo test --release --no-run -q -p concord-chaos --test chaos --test teeth >>"$log" 2>&1) || true
        start=$(now)
        status=0
        out=$(cd "$tree" && timeout "${TEETH_CHAOS_TIMEOUT:-600}" \
            cargo test --release -p concord-chaos --test chaos --test teeth 2>&1) || status=$?
        echo "$out" >>"$log"
        took=$(( $(now) - start ))
        failed=$(echo "$out" | grep -E "^test .* FAILED$" | sed -E 's/^test (.*) \.\.\. FAILED$/\1/' | tr '\n' ' ' || true)
        if [ -n "$failed" ]; then
            chaos="caught: ${failed}(${took} s)"
        elif [ "$status" = 124 ]; then
            chaos="no verdict: stopped after ${took} s"
        else
            chaos="not caught (${took} s)"
        fi
    fi
    echo "| $name | $model | $sim | $handlers | $props | $chaos |" | tee -a "$report"
    (cd "$tree" && patch -R -p1 --silent < "$patch")
done
