#!/usr/bin/env bash
# The test command (README "Test it"; `.ci/run` calls it too): the Rust
# suite, then the deployment artefacts (tests/deploy/run.sh: Kubernetes
# manifests, the systemd unit, the alert rules, the container image), then
# the published API contract checked by schemathesis against a running
# server (tests/contract/run.sh). First what the browser tests need
# (tests/browser/setup.sh) and the single sign-on tests (tests/oidc/setup.sh:
# a real OpenID provider from npm). Each script installs what it needs when it is
# missing. Arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
tests/browser/setup.sh
tests/oidc/setup.sh
cargo test --locked "$@"
tests/deploy/run.sh
tests/contract/run.sh
