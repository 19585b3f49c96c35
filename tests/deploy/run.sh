#!/usr/bin/env bash
# The deployment checks, run by tests/run.sh after `cargo test` (which has
# built target/debug/ocset-scheduler): each script installs what it needs
# when missing (apt: podman, mmdebstrap, runc, strace, prometheus; PyPI into
# venvs under target/) and fails naming the file and the reason.
#   kubernetes.sh  the manifests against the Kubernetes 1.30 schemas, the
#                  kustomizations rendered, the ConfigMap through
#                  check-config --production
#   systemd.sh     systemd-analyze verify, exposure <= 2.0, every system
#                  call serve makes allowed by the unit's filter
#   prometheus.sh  promtool check rules, test rules, check metrics on a
#                  real scrape
#   container.sh   the runtime image built from the host's binary and run
#                  with podman against PostgreSQL and an SMTP sink; two
#                  replicas; compose.yaml against the Compose schema
set -euo pipefail
cd "$(dirname "$0")"
for check in kubernetes systemd prometheus container; do
    echo "== tests/deploy/$check.sh"
    "./$check.sh"
done
