#!/usr/bin/env bash
# Checks deploy/ocset-scheduler.service with systemd's own tools, offline (no
# running systemd needed):
#   1. `systemd-analyze verify` prints nothing. It needs ExecStart's binary
#      to exist, so the unit is copied to a temporary folder with
#      /usr/local/bin/ocset-scheduler replaced by the built binary (OCSET_BIN,
#      default target/debug/ocset-scheduler, built if missing). verify exits
#      0 on unknown keys and bad values (it only warns), so any output fails.
#   2. `systemd-analyze security --offline=true` rates the unit's exposure at
#      2.0 or below ("OK"); the figure is parsed from its last line.
# Usage: tests/deploy/systemd.sh
# Needs: systemd-analyze 252 or later (Debian 12: package systemd); cargo or
# the built binary.
set -euo pipefail

MAX_EXPOSURE=2.0

root="$(cd "$(dirname "$0")/../.." && pwd)"
unit="$root/deploy/ocset-scheduler.service"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

command -v systemd-analyze >/dev/null || { echo "FAIL: systemd-analyze is not installed" >&2; exit 1; }
echo "systemd-analyze: $(systemd-analyze --version | head -n 1)"

bin="${OCSET_BIN:-$root/target/debug/ocset-scheduler}"
if [ ! -x "$bin" ]; then
    (cd "$root" && timeout 1800 cargo build --quiet --bin ocset-scheduler)
fi

echo "== systemd-analyze verify (ExecStart -> $bin)"
sed "s|/usr/local/bin/ocset-scheduler|$bin|g" "$unit" >"$work/ocset-scheduler.service"
if ! out="$(timeout 60 systemd-analyze verify "$work/ocset-scheduler.service" 2>&1)"; then
    echo "$out" >&2
    echo "FAIL: systemd-analyze verify refused the unit" >&2
    exit 1
fi
if [ -n "$out" ]; then
    echo "$out" >&2
    echo "FAIL: systemd-analyze verify warns about the unit" >&2
    exit 1
fi
echo "verify: clean"

echo "== systemd-analyze security --offline=true"
out="$(timeout 60 systemd-analyze security --offline=true --no-pager "$unit" 2>&1)" || {
    echo "$out" >&2
    echo "FAIL: systemd-analyze security failed" >&2
    exit 1
}
grep '✗' <<<"$out" || true
last="$(grep 'Overall exposure level' <<<"$out" | tail -n 1)"
exposure="$(sed -nE 's/.*: ([0-9]+\.[0-9]+) .*/\1/p' <<<"$last")"
[ -n "$exposure" ] || { echo "$out" >&2; echo "FAIL: no exposure figure in the output" >&2; exit 1; }
echo "$last"
if ! awk -v e="$exposure" -v max="$MAX_EXPOSURE" 'BEGIN { exit !(e <= max) }'; then
    echo "FAIL: exposure $exposure is above $MAX_EXPOSURE" >&2
    exit 1
fi
echo "systemd: verify clean, exposure $exposure (at most $MAX_EXPOSURE)"
