#!/usr/bin/env bash
# The project's test command (README.md; .ci/run calls it). Quick profile by default;
# see docs/verification.md for the long profiles.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo test --workspace --all-targets
