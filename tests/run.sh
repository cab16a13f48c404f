#!/usr/bin/env bash
# The one test command (see README.md): every Rust test, then the functional suite.
# Needs only cargo and python3.
set -euo pipefail
cd "$(dirname "$0")/.."

# Release binaries for the functional suite (the Rust tests below reuse the build).
cargo build --release --workspace --bins
cargo test --release --workspace

# The functional suite checks both builds: hashvived (one process) and hashvive-node
# (wallet in a spawned hashvive-wallet), which must behave the same.
# Both passes run even when the first fails, so one CI run reports both.
status=0
python3 tests/functional/test_runner.py "$@" || status=1
HASHVIVED="$PWD/target/release/hashvive-node" python3 tests/functional/test_runner.py "$@" || status=1
exit $status
