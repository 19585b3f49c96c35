#!/usr/bin/env bash
# National scale (issue 14): every measure of the README's "At national
# scale" table, for 10,000, 100,000 and 1,000,000 packages on SQLite and
# PostgreSQL, each beside its baseline from the same run, and the growth
# from the smallest size to the largest. Loopback only; it stops by itself
# and removes what it made.
#
#   bench/scale.sh                                   # everything (about 30 minutes)
#   SIZES="10000 100000" BACKENDS=sqlite bench/scale.sh
#   ROUNDS=1 DURATION=5s bench/scale.sh              # quicker, rougher
#
# Needs wrk, sqlite3 and GNU time (apt-get install wrk sqlite3 time), and
# PostgreSQL at 127.0.0.1:5432 (trust, user postgres) for that backend.
#
# The packages are received over the last 90 days, every grade, both
# queues, seven LPAs. The service runs `config/default.toml` with one
# change: its ladder is a single level ten years after the deadline, so no
# escalation falls due while the API is measured (the figures are of the
# API, not of a catch-up of a quarter's escalations; the escalation path
# has its own measure, from examples/escalation_bench.rs, last).
set -euo pipefail
sizes=${SIZES:-"10000 100000 1000000"}
backends=${BACKENDS:-"sqlite postgres"}
duration=${DURATION:-10s}
rounds=${ROUNDS:-3}
port=${PORT:-18090}
root=$(cd "$(dirname "$0")/.." && pwd)
for tool in wrk sqlite3 /usr/bin/time curl python3; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed (apt-get install wrk sqlite3 time curl)" >&2; exit 1; }
done

work=$(mktemp -d)
results="$work/results.tsv"
server=""
pg_db=""
stop_server() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=""
  fi
}
drop_pg() {
  if [ -n "$pg_db" ]; then
    psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 || true
    pg_db=""
  fi
}
cleanup() { stop_server; drop_pg; rm -rf "$work"; }
trap cleanup EXIT

(cd "$root" && cargo build --release --quiet --bin ocset-scheduler --example escalation_bench)
bin="$root/target/release/ocset-scheduler"

# The shipped configuration with a ladder that owes nothing for ten years.
python3 - "$root/config/default.toml" > "$work/scale.toml" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
# Drop every [[escalation.levels]] table (up to the next table header).
text = re.sub(r"\[\[escalation\.levels\]\]\n(?:(?!\[).*\n|\n)*", "", text)
text += '''
[[escalation.levels]]
name = "far"
clock = "enforcement"
at = "+3650d"
notify = ["ocset_sergeants"]
'''
print(text)
PY
config="$work/scale.toml"

# record MEASURE BACKEND SIZE VALUE UNIT [BASELINE]
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "${6:-}" >> "$results"; echo "  $1 ($2, $3): $4 $5${6:+ (baseline $6)}"; }

make_csv() {
  python3 - "$1" > "$2" <<'PY'
import sys, datetime
n = int(sys.argv[1])
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
grades = ["very_high", "high", "medium", "standard"]
lpas = ["Birmingham", "Coventry", "Dudley", "Sandwell", "Solihull", "Walsall", "Wolverhampton"]
stages = ["awaiting_enforcement", "intelligence_development"]
print("reference,risk_grade,received_at,lpa,stage,assigned_officer")
for i in range(n):
    received = now - datetime.timedelta(minutes=(i * 7919) % (90 * 1440) + 10)
    print(f"SCALE-{i:07d},{grades[i % 4]},{received.isoformat()},{lpas[i % 7]},{stages[(i // 4) % 2]},pc{i % 300}@ocset.example")
PY
}

fresh_database() { # BACKEND SIZE -> sets url
  drop_pg
  case "$1" in
    sqlite) rm -f "$work"/ocset.db*; url="sqlite://$work/ocset.db" ;;
    postgres)
      pg_db="ocset_scale_$$_$2"
      psql -q -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE $pg_db"
      url="postgres://postgres@127.0.0.1:5432/$pg_db" ;;
  esac
  export OCSET__DATABASE__URL="$url"
}

# A bulk load of the same rows into the same schema, indexes and triggers,
# through the database's own loader: the CSV into a staging table, then one
# INSERT ... SELECT into packages (the derived columns taken from the CSV's
# times). The import also writes the ledger and the audit; this does not.
baseline_load() { # BACKEND CSV -> seconds
  local columns="reference, risk_grade, stage, lpa, assigned_officer, received_at, deadline_at, clock_started_at, policy_version, stage_since, created_at, updated_at"
  local select="reference, risk_grade, stage, lpa, assigned_officer, received_at, received_at, received_at, 'bench', received_at, received_at, received_at"
  local start end
  case "$1" in
    sqlite)
      start=$(date +%s.%N)
      sqlite3 "$work/ocset.db" <<SQL
.mode csv
CREATE TEMP TABLE staging (reference TEXT, risk_grade TEXT, received_at TEXT, lpa TEXT, stage TEXT, assigned_officer TEXT);
.import --skip 1 $2 staging
INSERT INTO packages ($columns) SELECT $select FROM staging;
SQL
      end=$(date +%s.%N) ;;
    postgres)
      start=$(date +%s.%N)
      psql -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -d "$pg_db" <<SQL
CREATE TEMP TABLE staging (reference TEXT, risk_grade TEXT, received_at TIMESTAMPTZ, lpa TEXT, stage TEXT, assigned_officer TEXT);
\copy staging FROM '$2' WITH (FORMAT csv, HEADER true)
INSERT INTO packages ($columns) SELECT $select FROM staging;
SQL
      end=$(date +%s.%N) ;;
  esac
  python3 -c "print(round($end - $start, 2))"
}

start_server() { # extra env assignments...
  env "$@" "$bin" --config "$config" serve 2>"$work/serve.log" &
  server=$!
  for _ in $(seq 1 600); do
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "serve did not become ready:" >&2; tail -20 "$work/serve.log" >&2; return 1
}

rss_mb() { awk -v f="$2" '$1 == f":" {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

# wrk ROUNDS times; prints the median requests/s, p50 and p99 (ms).
load() { # PATH [TOKEN]
  local auth=() i
  [ -n "${2:-}" ] && auth=(-H "Authorization: Bearer $2")
  for i in $(seq 1 "$rounds"); do
    wrk -t2 -c16 -d"$duration" --latency "${auth[@]}" "http://127.0.0.1:$port$1"
  done | python3 -c '
import re, sys, statistics
text = sys.stdin.read()
def ms(v, unit): return float(v) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
rps = [float(x) for x in re.findall(r"Requests/sec:\s+([\d.]+)", text)]
p50 = [ms(*m) for m in re.findall(r"50%\s+([\d.]+)(us|ms|s)", text)]
p99 = [ms(*m) for m in re.findall(r"99%\s+([\d.]+)(us|ms|s)", text)]
errors = re.findall(r"Non-2xx or 3xx responses: (\d+)", text)
if errors: sys.exit("non-2xx answers: " + ",".join(errors))
print(round(statistics.median(rps)), round(statistics.median(p50), 2), round(statistics.median(p99), 2))
'
}

digest_rows() {
  case "$1" in
    sqlite) sqlite3 "$work/ocset.db" "SELECT COUNT(*) FROM digests" 2>/dev/null || echo 0 ;;
    postgres) psql -tA -h 127.0.0.1 -U postgres -d "$pg_db" -c "SELECT COUNT(*) FROM digests" 2>/dev/null || echo 0 ;;
  esac
}

largest_outbox_row_mb() {
  local sql="SELECT COALESCE(MAX(length(notice)), 0) FROM outbox"
  case "$1" in
    sqlite) sqlite3 "$work/ocset.db" "$sql" ;;
    postgres) psql -tA -h 127.0.0.1 -U postgres -d "$pg_db" -c "$sql" ;;
  esac | python3 -c 'import sys; print(round(int(sys.stdin.read().strip() or 0) / 1e6, 2))'
}

export OCSET__HTTP__BIND="127.0.0.1:$port" OCSET__LOG__LEVEL=warn OCSET__MAIL__FILE_DIR="$work/outbox"
for size in $sizes; do
  csv="$work/packages-$size.csv"
  make_csv "$size" "$csv"
  for backend in $backends; do
    echo "== $backend, $size packages"
    # Import, beside the database's own bulk load of the same file.
    fresh_database "$backend" "$size"
    "$bin" --config "$config" migrate >/dev/null
    base=$(baseline_load "$backend" "$csv")
    fresh_database "$backend" "$size"
    /usr/bin/time -f "%e %M" -o "$work/time" "$bin" --config "$config" import "$csv" >/dev/null
    read -r seconds kb < "$work/time"
    record import_seconds "$backend" "$size" "$seconds" s "$base"
    record import_peak_rss "$backend" "$size" "$(python3 -c "print(round($kb / 1024, 1))")" MB
    token=$("$bin" --config "$config" token create --name "scale-$size" --role viewer | tail -n 1)

    # The API, with the digests off: status beside /healthz.
    start_server OCSET__DIGEST='[]'
    record serve_rss_at_start "$backend" "$size" "$(rss_mb "$server" VmRSS)" MB
    read -r h_rps h_p50 h_p99 < <(load /healthz)
    read -r s_rps s_p50 s_p99 < <(load /api/v1/status "$token")
    record status_requests_per_second "$backend" "$size" "$s_rps" req/s "$h_rps"
    record status_p50 "$backend" "$size" "$s_p50" ms "$h_p50"
    record status_p99 "$backend" "$size" "$s_p99" ms "$h_p99"
    record serve_rss_after_load "$backend" "$size" "$(rss_mb "$server" VmRSS)" MB

    # The weekly report of the last complete week: first build, then again.
    week=$(python3 -c 'import datetime; d = datetime.date.today() - datetime.timedelta(days=7); y, w, _ = d.isocalendar(); print(f"{y}-W{w:02d}")')
    for attempt in first again; do
      t=$(curl -fsS -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $token" \
        "http://127.0.0.1:$port/api/v1/reports/weekly?week=$week&format=json")
      record "weekly_report_${attempt}_ms" "$backend" "$size" "$(python3 -c "print(round($t * 1000, 1))")" ms
    done
    stop_server

    # First start with the shipped digests: how soon they are queued, and
    # the memory it takes.
    start_server
    started=$(date +%s.%N)
    queued=""
    for _ in $(seq 1 1200); do
      if [ "$(digest_rows "$backend")" -ge 2 ]; then queued=$(python3 -c "print(round($(date +%s.%N) - $started, 1))"); break; fi
      sleep 0.1
    done
    sleep 2
    record digest_queued_after "$backend" "$size" "${queued:-over 120}" s
    record serve_peak_rss_with_digests "$backend" "$size" "$(rss_mb "$server" VmHWM)" MB
    record largest_outbox_message "$backend" "$size" "$(largest_outbox_row_mb "$backend")" MB
    stop_server
    drop_pg

    # Due -> SMTP accepted for a burst of 1,000 among SIZE open, and the
    # scheduler's pass (examples/escalation_bench.rs, which seeds its own).
    OCSET__DIGEST='[]' "$root/target/release/examples/escalation_bench" "$backend" "$size" 1000 > "$work/escalation.txt" 2>&1 || { cat "$work/escalation.txt" >&2; exit 1; }
    python3 - "$work/escalation.txt" "$backend" "$size" >> "$results" <<'PY'
import re, sys
text, backend, size = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3]
m = re.search(r"p99 ([\d.]+) ms, max ([\d.]+) ms", text)
if m:
    print(f"due_to_smtp_p99\t{backend}\t{size}\t{m.group(1)}\tms\t")
    print(f"due_to_smtp_max\t{backend}\t{size}\t{m.group(2)}\tms\t")
m = re.search(r"\s" + size + r" open: escalating pass\s+([\d.]+) ms.*idle pass\s+([\d.]+) ms", text)
if m:
    print(f"pass_escalating_100_due\t{backend}\t{size}\t{m.group(1)}\tms\t")
    print(f"pass_idle\t{backend}\t{size}\t{m.group(2)}\tms\t")
PY
    grep -E "p50|p99|pass" "$work/escalation.txt" | sed 's/^/  /'
  done
done

echo
echo "== Summary ($(date -u +%F), $(nproc) cores; growth = largest size / smallest)"
python3 - "$results" <<'PY'
import sys, collections
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]
by = collections.OrderedDict()
for measure, backend, size, value, unit, base in rows:
    by.setdefault((measure, backend, unit), {})[int(size)] = (value, base)
for (measure, backend, unit), values in by.items():
    sizes = sorted(values)
    cells = [f"{s:,}: {values[s][0]} {unit}" + (f" (baseline {values[s][1]})" if values[s][1] else "") for s in sizes]
    growth = ""
    try:
        a, b = float(values[sizes[0]][0]), float(values[sizes[-1]][0])
        if len(sizes) > 1 and a > 0:
            growth = f"  growth {b / a:.2f}x"
    except ValueError:
        pass
    print(f"{measure:32} {backend:9} " + "; ".join(cells) + growth)
PY
