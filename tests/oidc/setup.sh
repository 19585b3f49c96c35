#!/usr/bin/env bash
# What the single sign-on tests (tests/it/oidc.rs) need, installed when
# missing: the real OpenID provider they start (oidc-provider, pinned in
# tests/oidc/package-lock.json), installed by `npm ci` into
# tests/oidc/node_modules (npm itself from apt when missing, as root).
# Quick and silent when already installed at the locked versions;
# tests/run.sh calls it before `cargo test`.
set -euo pipefail
cd "$(dirname "$0")"

stamp=node_modules/.ocset-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
  && [ -f node_modules/oidc-provider/package.json ]; then
  exit 0
fi
if ! command -v npm >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "oidc setup: npm is missing; install it as root: apt-get install -y npm" >&2
    exit 1
  fi
  echo "oidc setup: installing npm"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
fi
echo "oidc setup: installing oidc-provider with npm ci into tests/oidc/node_modules"
npm ci --no-audit --no-fund --loglevel=error >/dev/null
[ -f node_modules/oidc-provider/package.json ] || {
  echo "oidc setup: oidc-provider was not installed" >&2
  exit 1
}
echo "$want" >"$stamp"
