#!/usr/bin/env bash
# The test command (README "Test it"; `.ci/run` calls it too): the Rust
# suite, then the published API contract checked by schemathesis against a
# running server (tests/contract/run.sh, which installs schemathesis with
# pip when it is missing). Arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --locked "$@"
tests/contract/run.sh
