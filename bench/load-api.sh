#!/usr/bin/env bash
# Load test of the HTTP API against loopback: seeds a fresh database with
# PACKAGES packages (100,000 by default) through `import`, starts `serve`,
# runs wrk against the status, list and breaches endpoints, then stops the
# server and removes what it made. It stops by itself.
#
#   bench/load-api.sh                      # SQLite (a file in a temp folder)
#   bench/load-api.sh postgres             # PostgreSQL at 127.0.0.1:5432
#   PACKAGES=10000 DURATION=5s bench/load-api.sh
#
# Needs wrk (apt-get install wrk). Figures go to standard output; the README
# records the last run's.
set -euo pipefail
backend=${1:-sqlite}
packages=${PACKAGES:-100000}
duration=${DURATION:-10s}
connections=${CONNECTIONS:-16}
port=${PORT:-18080}
root=$(cd "$(dirname "$0")/.." && pwd)
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk" >&2; exit 1; }

work=$(mktemp -d)
server=""
pg_db=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  [ -n "$pg_db" ] && psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" || true
  rm -rf "$work"
}
trap cleanup EXIT

(cd "$root" && cargo build --release --quiet)
bin="$root/target/release/ocset-scheduler"

case "$backend" in
  sqlite) url="sqlite://$work/ocset.db" ;;
  postgres)
    pg_db="ocset_load_$$"
    psql -q -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE $pg_db"
    url="postgres://postgres@127.0.0.1:5432/$pg_db" ;;
  *) echo "usage: $0 [sqlite|postgres]" >&2; exit 2 ;;
esac
export OCSET__DATABASE__URL="$url" OCSET__HTTP__BIND="127.0.0.1:$port" OCSET__LOG__LEVEL=warn \
  OCSET__MAIL__FILE_DIR="$work/data/outbox"
config="$root/config/default.toml"

# Packages received over the last 90 days, every grade, both queues, in the
# seven LPAs: many breached, many due soon, most on track.
python3 - "$packages" > "$work/packages.csv" <<'PY'
import sys, datetime
n = int(sys.argv[1])
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
grades = ["very_high", "high", "medium", "standard"]
lpas = ["Birmingham", "Coventry", "Dudley", "Sandwell", "Solihull", "Walsall", "Wolverhampton"]
stages = ["awaiting_enforcement", "intelligence_development"]
print("reference,risk_grade,received_at,lpa,stage,assigned_officer")
for i in range(n):
    received = now - datetime.timedelta(minutes=(i * 7919) % (90 * 1440) + 10)
    print(f"LOAD-{i:07d},{grades[i % 4]},{received.isoformat()},{lpas[i % 7]},{stages[(i // 4) % 2]},pc{i % 5}@ocset.example")
PY

start=$(date +%s.%N)
"$bin" --config "$config" import "$work/packages.csv" >/dev/null
echo "import of $packages packages ($backend): $(echo "$(date +%s.%N) - $start" | bc) s"
token=$("$bin" --config "$config" token create --name load-test --role viewer | tail -n 1)

"$bin" --config "$config" serve 2>"$work/serve.log" &
server=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done

# The packages received over 90 days owe thousands of escalations: let the
# scheduler and dispatcher catch up first (they write .eml files), so wrk
# measures the API rather than the API queued behind the catch-up's writes.
start=$(date +%s.%N)
for _ in $(seq 1 600); do
  caught_up=$(curl -fsS -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/v1/status" \
    | python3 -c 'import json,sys; s=json.load(sys.stdin)["scheduler"]; print(int(s["lag_seconds"] == 0 and s["due_not_delivered"] == 0))' || echo 0)
  [ "$caught_up" = 1 ] && break
  sleep 1
done
echo "escalation catch-up after import: $(echo "$(date +%s.%N) - $start" | bc) s, $(ls "$work/data/outbox" 2>/dev/null | wc -l) messages written"

for path in "/api/v1/status" "/api/v1/packages?limit=100" "/api/v1/packages?status=breached&limit=100" "/api/v1/breaches?limit=100"; do
  echo "== GET $path ($backend, $packages packages, $connections connections, $duration)"
  wrk -t2 -c"$connections" -d"$duration" --latency -H "Authorization: Bearer $token" "http://127.0.0.1:$port$path" \
    | grep -E "Requests/sec|Latency|50%|99%|Non-2xx|Socket errors"
done
