#!/usr/bin/env bash
# Validates deploy/kubernetes/ without a cluster:
#   1. every manifest file, and every rendered kustomization (base and each
#      overlay), against the Kubernetes 1.30 OpenAPI schemas, strictly
#      (unknown fields are errors), with kubernetes-validate (PyPI, pinned);
#      a kind with no schema (a typo such as "Deploymnet") is a failure too,
#      though the tool only warns;
#   2. the rendering: by tests/deploy/kustomize_check.py (always), and by
#      `kubectl kustomize` as well where kubectl is installed;
#   3. the promises (security context, probes, secret references, selectors,
#      NetworkPolicy ports...) with kustomize_check.py check;
#   4. the ConfigMap's TOML with `ocset-scheduler check-config --production`:
#      valid and fit for production, given the two secrets as the Secret
#      would give them.
# Usage: tests/deploy/kubernetes.sh   (from anywhere; exits non-zero on the
# first failure, naming the file and the reason)
# Needs: python3 (3.9+) and PyPI for the first run (the venv is kept in
# target/deploy-venv); cargo or target/debug/ocset-scheduler (OCSET_BIN).
set -euo pipefail

KUBERNETES_VERSION=1.30.0
KUBERNETES_VALIDATE=kubernetes-validate==1.37.0

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

venv="$root/target/deploy-venv"
if ! "$venv/bin/pip" show -q kubernetes-validate 2>/dev/null \
    || [ "$("$venv/bin/pip" show kubernetes-validate | sed -n 's/^Version: //p')" != "${KUBERNETES_VALIDATE#*==}" ]; then
    echo "installing $KUBERNETES_VALIDATE into $venv"
    mkdir -p "$root/target"
    timeout 300 python3 -m venv "$venv"
    timeout 300 "$venv/bin/pip" install --quiet "$KUBERNETES_VALIDATE"
fi

# kubernetes-validate exits 0 when it has no schema for a kind (it warns):
# any WARN line fails here.
validate() {
    local out
    if ! out="$(timeout 120 "$venv/bin/kubernetes-validate" -k "$KUBERNETES_VERSION" --strict "$@" 2>&1)"; then
        echo "$out" >&2
        echo "FAIL: kubernetes-validate refused the above" >&2
        exit 1
    fi
    if grep -q '^WARN' <<<"$out"; then
        echo "$out" >&2
        echo "FAIL: kubernetes-validate found no schema (an unknown kind or apiVersion)" >&2
        exit 1
    fi
    echo "$out"
}

echo "== manifest files against Kubernetes $KUBERNETES_VERSION"
mapfile -t manifests < <(find deploy/kubernetes -name '*.yaml' ! -name kustomization.yaml | sort)
[ "${#manifests[@]}" -gt 0 ] || { echo "FAIL: no manifests under deploy/kubernetes" >&2; exit 1; }
validate "${manifests[@]}"

mapfile -t kustomizations < <(find deploy/kubernetes -name kustomization.yaml -printf '%h\n' | sort)
for dir in "${kustomizations[@]}"; do
    name="$(echo "$dir" | tr / _)"
    echo "== $dir rendered (kustomize_check.py)"
    "$venv/bin/python" tests/deploy/kustomize_check.py render "$dir" "$work/$name.py.yaml"
    validate "$work/$name.py.yaml"
    "$venv/bin/python" tests/deploy/kustomize_check.py check "$work/$name.py.yaml"
    if command -v kubectl >/dev/null; then
        echo "== $dir rendered (kubectl kustomize)"
        timeout 120 kubectl kustomize "$dir" >"$work/$name.kubectl.yaml"
        validate "$work/$name.kubectl.yaml"
        "$venv/bin/python" tests/deploy/kustomize_check.py check "$work/$name.kubectl.yaml"
    else
        echo "(kubectl not installed: rendered by kustomize_check.py only)"
    fi
done

echo "== the ConfigMap's configuration (check-config)"
bin="${OCSET_BIN:-$root/target/debug/ocset-scheduler}"
if [ ! -x "$bin" ]; then
    timeout 1800 cargo build --quiet --bin ocset-scheduler
fi
# As the Secret gives them; check-config does not connect.
out="$(cd "$work" && OCSET__DATABASE__URL='postgres://ocset:not-a-password@postgres.ocset.svc:5432/ocset' \
    OCSET__MAIL__SMTP__PASSWORD='not-a-password' \
    timeout 60 "$bin" --config "$root/deploy/kubernetes/base/config.toml" check-config --production 2>&1)" || {
    echo "$out" >&2
    echo "FAIL: check-config refused deploy/kubernetes/base/config.toml" >&2
    exit 1
}
if grep '^# warning' <<<"$out" >&2; then
    echo "FAIL: check-config warns about deploy/kubernetes/base/config.toml" >&2
    exit 1
fi
if grep -q 'not-a-password' <<<"$out"; then
    echo "FAIL: check-config printed a password" >&2
    exit 1
fi
tail -n 1 <<<"$out"
echo "kubernetes: all manifests valid"
