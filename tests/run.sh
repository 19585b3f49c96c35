#!/usr/bin/env bash
# The test command (README "Test it"; `.ci/run` calls it too): the Rust
# suite, then the published API contract checked by schemathesis against a
# running server (tests/contract/run.sh, which installs schemathesis with
# pip when it is missing). First what the browser tests need
# (tests/browser/setup.sh). Arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
tests/browser/setup.sh
cargo test --locked "$@"
tests/contract/run.sh
