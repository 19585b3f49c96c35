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
#   3. The unit's SystemCallFilter and MemoryDenyWriteExecute against what
#      the service really does (systemd cannot run services here): `serve`
#      runs under strace over a SQLite file on 127.0.0.1 (scheduler tick 1 s,
#      mail to .eml files), answers /healthz, /readyz and /metrics, escalates
#      an imported breached package and writes its mail, and stops on
#      SIGTERM; every system call it made must be one the filter allows
#      (tests/deploy/syscall_filter.py), and no mapping may be made
#      writable and executable.
# Usage: tests/deploy/systemd.sh
# Needs: systemd-analyze 252 or later (Debian 12: package systemd), strace
# (installed with apt-get if missing), curl; cargo or the built binary.
set -euo pipefail

MAX_EXPOSURE=2.0

root="$(cd "$(dirname "$0")/../.." && pwd)"
unit="$root/deploy/ocset-scheduler.service"
work="$(mktemp -d)"
tracer=""
cleanup() {
    if [ -n "$tracer" ] && kill -0 "$tracer" 2>/dev/null; then
        pkill -TERM -P "$tracer" 2>/dev/null || true
        wait "$tracer" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

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

echo "== the system calls serve makes, against SystemCallFilter"
if ! command -v strace >/dev/null; then
    echo "installing strace"
    timeout 300 apt-get install -y -qq --no-install-recommends strace >/dev/null \
        || { timeout 300 apt-get update -qq && timeout 300 apt-get install -y -qq --no-install-recommends strace >/dev/null; }
fi
# As the unit runs it: an unprivileged user (DynamicUser=), no
# capabilities (CapabilityBoundingSet=), no new privileges.
as_service=(setpriv --reuid=65534 --regid=65534 --clear-groups --no-new-privs
    --bounding-set=-all --inh-caps=-all)
chmod 0711 "$work"
mkdir -p "$work/run"
chown 65534:65534 "$work/run"
export OCSET__DATABASE__URL="sqlite://$work/run/ocset.db" OCSET__MAIL__FILE_DIR="$work/run/outbox" \
    OCSET__SCHEDULER__TICK_SECONDS=1 OCSET__LOG__FORMAT=text
config="$root/config/default.toml"
(cd "$work/run" && OCSET__HTTP__BIND=127.0.0.1:0 exec strace -f -qq -o "$work/trace.txt" \
    "${as_service[@]}" "$bin" --config "$config" serve >"$work/serve.log" 2>&1) &
# strace's pid; the service is its child (cleanup stops it by that).
tracer=$!
port=""
for _ in $(seq 1 150); do
    port="$(sed -nE 's/.*api=http:\/\/127\.0\.0\.1:([0-9]+).*/\1/p' "$work/serve.log" | head -n 1)"
    [ -n "$port" ] && break
    sleep 0.2
done
[ -n "$port" ] || { cat "$work/serve.log" >&2; echo "FAIL: serve did not start under strace in 30 s" >&2; exit 1; }
for path in /healthz /readyz /metrics; do
    curl -fsS --max-time 10 -o /dev/null "http://127.0.0.1:$port$path" \
        || { echo "FAIL: GET $path under strace" >&2; exit 1; }
done
# A very high grade package received a month ago: breached, so the next
# pass escalates it and the dispatcher writes its mail.
received="$(date -u -d '30 days ago' +%Y-%m-%dT%H:%M:%SZ)"
printf 'reference,risk_grade,received_at,lpa,stage,assigned_officer\nSYS-1,very_high,%s,Walsall,awaiting_enforcement,pc.one@force.example\n' \
    "$received" >"$work/packages.csv"
chmod 0644 "$work/packages.csv"
(cd "$work/run" && timeout 60 "${as_service[@]}" "$bin" --config "$config" import "$work/packages.csv" >/dev/null)
mailed=""
for _ in $(seq 1 150); do
    if compgen -G "$work/run/outbox/*.eml" >/dev/null; then mailed=yes; break; fi
    sleep 0.2
done
[ -n "$mailed" ] || { cat "$work/serve.log" >&2; echo "FAIL: no escalation mailed under strace in 30 s" >&2; exit 1; }
pkill -TERM -P "$tracer"
timeout 40 tail --pid="$tracer" -f /dev/null || { echo "FAIL: serve did not stop within 40 s of SIGTERM" >&2; exit 1; }
wait "$tracer" || { cat "$work/serve.log" >&2; echo "FAIL: serve under strace did not stop cleanly on SIGTERM" >&2; exit 1; }
tracer=""
grep -q 'stopped cleanly' "$work/serve.log" || { cat "$work/serve.log" >&2; echo "FAIL: serve did not say it stopped cleanly" >&2; exit 1; }
# Each call's name, from its first line (continuations say "resumed"),
# from the service's own execve on (setpriv's calls before it are not the
# service's: systemd makes them).
awk -v bin="$bin" 'index($0, "execve(\"" bin "\"") && / = 0$/ { on = 1 } on' "$work/trace.txt" \
    | sed -nE 's/^[0-9]+ +([a-z_0-9]+)\(.*/\1/p' | sort -u >"$work/used.txt"
[ -s "$work/used.txt" ] || { echo "FAIL: no system call of the service in the trace" >&2; exit 1; }
python3 "$root/tests/deploy/syscall_filter.py" "$unit" "$work/used.txt"
if grep -E '(mmap|mprotect|pkey_mprotect)\(.*PROT_WRITE\|PROT_EXEC|mprotect\(.*PROT_EXEC' "$work/trace.txt" >&2; then
    echo "FAIL: serve made memory writable and executable; MemoryDenyWriteExecute would refuse it" >&2
    exit 1
fi
echo "no writable and executable mapping (MemoryDenyWriteExecute holds)"
echo "systemd: verify clean, exposure $exposure (at most $MAX_EXPOSURE), every system call allowed"
