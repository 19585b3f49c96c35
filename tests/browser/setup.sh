#!/usr/bin/env bash
# What the browser tests (tests/it/browser.rs) need, installed when missing:
# Debian's headless Chromium and its chromedriver (apt, as root), and
# axe-core, pinned, installed with npm (itself from apt when missing) under target/browser-npm/ (the
# accessibility checker the tests run in each page). Quick and silent when
# everything is already there; tests/run.sh calls it before `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/../.."

AXE_VERSION=4.14.1
NPM_DIR=target/browser-npm
AXE_JS="$NPM_DIR/node_modules/axe-core/axe.min.js"

if [ ! -x /usr/bin/chromedriver ] || [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "browser setup: chromium and chromium-driver are missing; install them as root:" >&2
    echo "  apt-get install -y chromium chromium-driver" >&2
    echo "(or run tests/browser/setup.sh as root)" >&2
    exit 1
  fi
  echo "browser setup: installing chromium and chromium-driver"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi

installed=""
if [ -f "$NPM_DIR/node_modules/axe-core/package.json" ]; then
  installed=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$NPM_DIR/node_modules/axe-core/package.json" | head -n1)
fi
if [ "$installed" != "$AXE_VERSION" ] || [ ! -f "$AXE_JS" ]; then
  if ! command -v npm >/dev/null; then
    if [ "$(id -u)" -ne 0 ]; then
      echo "browser setup: npm is missing; install it as root: apt-get install -y npm" >&2
      exit 1
    fi
    echo "browser setup: installing npm"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
  fi
  echo "browser setup: installing axe-core $AXE_VERSION with npm into $NPM_DIR"
  mkdir -p "$NPM_DIR"
  npm install --prefix "$NPM_DIR" --no-save --no-audit --no-fund --loglevel=error \
    "axe-core@$AXE_VERSION" >/dev/null
  [ -f "$AXE_JS" ] || { echo "browser setup: $AXE_JS was not installed" >&2; exit 1; }
fi
