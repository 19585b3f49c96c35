#!/usr/bin/env bash
# Checks deploy/prometheus/ with promtool:
#   1. `promtool check rules` on alerts.yml;
#   2. `promtool test rules` on alerts_test.yml (each alert fires when it
#      should, not before its `for`, not when healthy) and
#      alerts_calendar_test.yml (the digests' London times across both
#      clock changes; about a minute: promtool steps from 1970);
#   3. a real scrape: runs `ocset-scheduler serve` over a new SQLite file on
#      127.0.0.1 (a free port), waits for /readyz, scrapes /metrics, runs
#      `promtool check metrics` on it, and checks every series alerts.yml
#      reads is in it (so a renamed metric breaks this, not production's
#      alerts), then stops it with SIGTERM.
# Usage: tests/deploy/prometheus.sh
# Needs: promtool (Debian: apt-get install prometheus; installed here if
# missing and apt-get is usable), curl, cargo or the built binary (OCSET_BIN,
# default target/debug/ocset-scheduler).
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
rules="$root/deploy/prometheus"
work="$(mktemp -d)"
server=""
cleanup() {
    if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
        kill -TERM "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

if ! command -v promtool >/dev/null; then
    echo "installing promtool (Debian package prometheus)"
    timeout 600 apt-get install -y -qq --no-install-recommends prometheus >/dev/null \
        || { timeout 300 apt-get update -qq && timeout 600 apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
fi
echo "$(promtool --version 2>&1 | head -n 1)"

echo "== promtool check rules"
timeout 60 promtool check rules "$rules/alerts.yml"

echo "== promtool test rules"
(cd "$rules" && timeout 600 promtool test rules alerts_test.yml alerts_calendar_test.yml)

echo "== a real scrape"
bin="${OCSET_BIN:-$root/target/debug/ocset-scheduler}"
if [ ! -x "$bin" ]; then
    (cd "$root" && timeout 1800 cargo build --quiet --bin ocset-scheduler)
fi
(
    cd "$work"
    exec env OCSET__DATABASE__URL="sqlite://$work/ocset.db" OCSET__HTTP__BIND=127.0.0.1:0 \
        OCSET__MAIL__FILE_DIR="$work/outbox" OCSET__LOG__FORMAT=text \
        "$bin" --config "$root/config/default.toml" serve >"$work/serve.log" 2>&1
) &
server=$!
port=""
for _ in $(seq 1 100); do
    port="$(sed -nE 's/.*api=http:\/\/127\.0\.0\.1:([0-9]+).*/\1/p' "$work/serve.log" | head -n 1)"
    [ -n "$port" ] && break
    kill -0 "$server" 2>/dev/null || { cat "$work/serve.log" >&2; echo "FAIL: serve exited" >&2; exit 1; }
    sleep 0.2
done
[ -n "$port" ] || { cat "$work/serve.log" >&2; echo "FAIL: serve did not say its address in 20 s" >&2; exit 1; }
ready=""
for _ in $(seq 1 100); do
    if curl -fsS --max-time 2 "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then ready=yes; break; fi
    sleep 0.2
done
[ -n "$ready" ] || { cat "$work/serve.log" >&2; echo "FAIL: /readyz not 200 in 20 s" >&2; exit 1; }
curl -fsS --max-time 5 "http://127.0.0.1:$port/metrics" >"$work/metrics.txt"
echo "scraped $(grep -vc '^#' "$work/metrics.txt") samples from 127.0.0.1:$port"
if ! timeout 60 promtool check metrics <"$work/metrics.txt"; then
    echo "FAIL: promtool check metrics refused the scrape" >&2
    exit 1
fi
# The series the rules read: names in alerts.yml's expressions that are
# not recording rules (those have colons) and not Prometheus's own `up`.
missing=0
for name in $(grep -oE '\b(ocset|process)_[a-z_]+' "$rules/alerts.yml" | sort -u); do
    if ! grep -qE "^$name(\{| )" "$work/metrics.txt"; then
        echo "FAIL: alerts.yml reads $name, which /metrics does not have" >&2
        missing=1
    fi
done
[ "$missing" = 0 ] || exit 1
kill -TERM "$server"
if ! timeout 40 tail --pid="$server" -f /dev/null; then
    echo "FAIL: serve did not stop within 40 s of SIGTERM" >&2
    exit 1
fi
wait "$server" || { cat "$work/serve.log" >&2; echo "FAIL: serve exited non-zero after SIGTERM" >&2; exit 1; }
server=""
grep -E '^ocset_build_info' "$work/metrics.txt"
echo "prometheus: rules valid, unit tests pass, the scrape is valid and has every series the rules read"
