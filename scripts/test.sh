#!/usr/bin/env bash
# The project's test command (README.md; .ci/run calls it). Quick profile by default;
# see docs/verification.md for the long profiles.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
# Lints are part of the gate (skipped where clippy is not installed).
# The library alone with no default features (no fjall, none of the binary's
# dependencies) is what a `default-features = false` user builds: it must compile, lint-clean.
if cargo clippy --version >/dev/null 2>&1; then
    cargo clippy --workspace --all-targets --quiet -- -D warnings
    for features in "" fjall tracing metrics tls; do
        cargo clippy -p concord --no-default-features --features "$features" --lib --quiet -- -D warnings
    done
else
    cargo check -p concord --no-default-features --lib --quiet
fi
# The teeth patches (scripts/teeth.sh, docs/verification.md "Teeth table") must keep
# applying to the code they break: a patch that no longer applies is a teeth test lost.
if command -v git >/dev/null 2>&1; then
    for patch in scripts/teeth/*.patch; do
        git apply --check "$patch" || { echo "teeth patch no longer applies: $patch (regenerate it)"; exit 1; }
    done
fi
cargo test --workspace --all-targets
# `--all-targets` leaves doctests out: the rustdoc examples and the user guide's code
# blocks (docs/runtime.md, compiled and run through `concord::RuntimeGuide`).
cargo test --workspace --doc
# Loom: every interleaving of the runtime's cross-thread handoffs (src/runtime/sync),
# within a preemption bound (3 here; LOOM_MAX_PREEMPTIONS overrides it). `--cfg loom`
# rebuilds whatever it compiles, hence a target directory of its own. 25-80 s cold
# (most of it building loom), 5-7 s warm (docs/verification.md, "Loom").
RUSTFLAGS="${RUSTFLAGS:-} --cfg loom" LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}" \
    CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/loom" \
    cargo test -p concord-sync --release
# Mutation testing: in CI, a seeded sample of src/core's mutants against the core's tests
# (scripts/mutants.sh sample; docs/verification.md, "Mutation testing"). It mutates the
# checkout in place and reuses the build above. A CI machine without cargo-mutants
# installs the pinned version from the registry into the target directory first (about
# 4 minutes on 2 cores); without nextest the sample runs the tests with cargo test.
if [[ "${CI:-}" != true ]]; then
    echo "mutation sample: runs in CI only (scripts/mutants.sh sample runs it here)"
else
    tools="${CARGO_TARGET_DIR:-target}/tools"
    [[ "$tools" == /* ]] || tools="$PWD/$tools"
    if ! cargo mutants --version >/dev/null 2>&1 && [[ ! -x "$tools/bin/cargo-mutants" ]]; then
        echo "mutation sample: installing cargo-mutants 27.1.0 into $tools"
        # A failed install (no registry, an older toolchain) skips the sample with the
        # message below: the path can only be checked where the tool can be had.
        CARGO_TARGET_DIR="$tools/build" cargo install cargo-mutants --locked --version 27.1.0 \
            --root "$tools" --quiet ||
            echo "mutation sample: cargo-mutants could not be installed; skipped"
    fi
    export PATH="$tools/bin:$PATH"
    if cargo mutants --version >/dev/null 2>&1; then
        scripts/mutants.sh sample
    fi
fi
