#!/usr/bin/env bash
# The one test command (see README.md): every Rust test, then the functional suite.
# Needs only cargo and python3.
set -euo pipefail
cd "$(dirname "$0")/.."

# Release binaries for the functional suite (the Rust tests below reuse the build).
cargo build --release --workspace --bins
cargo test --release --workspace

python3 tests/functional/test_runner.py "$@"
