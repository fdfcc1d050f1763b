#!/usr/bin/env bash
# The project's test command (README.md; .ci/run calls it). Quick profile by default;
# see docs/verification.md for the long profiles.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/check-core-purity.sh
cargo fmt --all -- --check
cargo test --workspace --all-targets
