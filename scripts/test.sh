#!/usr/bin/env bash
# The project's test command (README.md; .ci/run calls it). Quick profile by default;
# see docs/verification.md for the long profiles.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
# Lints are part of the gate (skipped where clippy is not installed).
if cargo clippy --version >/dev/null 2>&1; then
    cargo clippy --workspace --all-targets --quiet -- -D warnings
fi
cargo test --workspace --all-targets
