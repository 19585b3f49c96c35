#!/usr/bin/env bash
# Times `ocset-scheduler import` (the release binary) of a generated CSV file
# of N packages against a bulk load of the same rows into the same schema,
# on SQLite and on PostgreSQL, and prints wall time, peak RSS and the ratio.
#
#   bench/import.sh                 # 100,000 rows, both backends
#   bench/import.sh 1000000         # a million
#   bench/import.sh 10000 sqlite    # one backend
#
# Each run uses fresh databases made by `ocset-scheduler migrate`, so the
# baseline writes into the project's schema with every index and trigger.
# The baselines:
#   sqlite3: `.import --csv --skip 1` of the file into a plain table (in the
#     ledger's file; its own cost is part of the figure), then
#     one transaction of INSERT ... SELECT into packages, package_events and
#     audit_log (times as written in the file; deadlines set to receipt).
#   psql: `\copy` of the file into a plain table, then the same three
#     INSERT ... SELECTs in one transaction.
# "bulk (packages)" is the load of packages alone; "bulk (all)" adds the
# events and audit lines the import also writes. The ratio is the import's
# wall time over "bulk (all)".
#
# Needs sqlite3, psql (PostgreSQL at 127.0.0.1:5432, user postgres, trust)
# and GNU time (/usr/bin/time: apt-get install time sqlite3 postgresql-client).
set -euo pipefail
export PGOPTIONS="-c client_min_messages=warning"
rows=${1:-100000}
backends=${2:-sqlite postgres}
root=$(cd "$(dirname "$0")/.." && pwd)
for tool in sqlite3 psql /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: apt-get install time sqlite3 postgresql-client" >&2; exit 1; }
done

work=$(mktemp -d)
pg_dbs=()
cleanup() {
  for db in "${pg_dbs[@]}"; do
    psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

# OCSET_BIN names another build (to try the script out on a debug one).
bin=${OCSET_BIN:-}
if [ -z "$bin" ]; then
  (cd "$root" && cargo build --release --quiet --bin ocset-scheduler)
  bin="$root/target/release/ocset-scheduler"
fi

# The shipped configuration over a database named by the environment.
cp "$root/config/default.toml" "$work/ocset.toml"

csv="$work/packages.csv"
awk -v n="$rows" 'BEGIN {
  split("VH High Medium Standard", grade, " ");
  split("Birmingham Coventry Dudley Sandwell Solihull Walsall Wolverhampton", lpa, " ");
  print "reference,risk_grade,received_at,lpa,stage,assigned_officer";
  for (i = 0; i < n; i++) {
    printf "BENCH-%07d,%s,2024-%02d-%02d %02d:%02d,%s,%s,pc.%d@force.police.uk\n",
      i, grade[i % 4 + 1], 1 + i % 12, 1 + i % 28, 8 + i % 10, i % 60, lpa[i % 7 + 1],
      (i % 2 ? "awaiting_enforcement" : "intelligence_development"), i % 300;
  }
}' > "$csv"
echo "rows: $rows ($(du -h "$csv" | cut -f1) of CSV)"

# Runs a command under GNU time; prints "<seconds> <peak RSS in MB>".
measure() {
  /usr/bin/time -v -o "$work/time.txt" "$@" > "$work/out.txt" 2>&1 || {
    cat "$work/out.txt" >&2; exit 1; }
  awk '/Elapsed \(wall clock\)/ { n = split($NF, t, ":"); s = 0;
         for (i = 1; i <= n; i++) s = s * 60 + t[i]; secs = s }
       /Maximum resident set size/ { rss = $NF / 1024 }
       END { printf "%.2f %.0f\n", secs, rss }' "$work/time.txt"
}

# The bulk load's SQL after the file is in table `staged` (CSV columns as text).
bulk_sql() {
  local recorded=$1 deadline=$2 all=$3
  echo "BEGIN;"
  echo "INSERT INTO packages (reference, risk_grade, stage, lpa, assigned_officer, received_at,
    deadline_at, clock_started_at, policy_version, stage_since, next_due_at, due_soon_at,
    created_at, updated_at, review_clock_started_at)
  SELECT reference, CASE risk_grade WHEN 'VH' THEN 'very_high' ELSE lower(risk_grade) END,
    stage, lpa, assigned_officer, $deadline, $deadline, $deadline, 'bench', $deadline,
    $deadline, $deadline, $recorded, $recorded, $deadline FROM staged;"
  if [ "$all" = all ]; then
    echo "INSERT INTO package_events (package_id, kind, occurred_at, recorded_at, actor,
      risk_grade, stage, deadline_at, details)
    SELECT p.id, 'created', p.received_at, $recorded, 'bench', p.risk_grade, p.stage,
      p.deadline_at, '{\"kind\":\"created\"}' FROM packages p;"
    echo "INSERT INTO audit_log (reference, at, actor, action)
    SELECT reference, $recorded, 'bench', 'package.created' FROM packages;"
  fi
  echo "COMMIT;"
}

printf '%-10s %-28s %9s %9s\n' backend what seconds "peak MB"
for backend in $backends; do
  case "$backend" in
    sqlite)
      url() { echo "sqlite://$work/$1.db"; }
      fresh() { rm -f "$work/$1.db"*; OCSET__DATABASE__URL=$(url "$1") "$bin" --config "$work/ocset.toml" migrate >/dev/null; }
      bulk() {
        local db=$1 all=$2
        { echo "CREATE TABLE staged (reference TEXT, risk_grade TEXT, received_at TEXT, lpa TEXT, stage TEXT, assigned_officer TEXT);"
          echo ".import --csv --skip 1 '$csv' staged"
          bulk_sql "'2024-12-31T12:00:00+00:00'" "received_at" "$all"; } > "$work/bulk.sql"
        measure sqlite3 -bail "$work/$db.db" ".read $work/bulk.sql"
      } ;;
    postgres)
      url() { echo "postgres://postgres@127.0.0.1:5432/$1"; }
      fresh() {
        psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" >/dev/null
        pg_dbs+=("$1")
        OCSET__DATABASE__URL=$(url "$1") "$bin" --config "$work/ocset.toml" migrate >/dev/null
      }
      bulk() {
        local db=$1 all=$2
        { echo "CREATE TEMP TABLE staged (reference TEXT, risk_grade TEXT, received_at TEXT, lpa TEXT, stage TEXT, assigned_officer TEXT);"
          echo "\\copy staged FROM '$csv' WITH (FORMAT csv, HEADER true)"
          bulk_sql "'2024-12-31T12:00:00Z'::timestamptz" "received_at::timestamptz" "$all"; } > "$work/bulk.sql"
        measure psql -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -d "$db" -f "$work/bulk.sql"
      } ;;
    *) echo "unknown backend $backend" >&2; exit 2 ;;
  esac
  db="ocset_bench_import_$$"
  fresh "$db"
  export OCSET__DATABASE__URL; OCSET__DATABASE__URL=$(url "$db")
  read -r import_s import_mb < <(measure "$bin" --config "$work/ocset.toml" import "$csv")
  grep -q "imported $rows package" "$work/out.txt" || { cat "$work/out.txt" >&2; exit 1; }
  printf '%-10s %-28s %9s %9s\n' "$backend" "ocset-scheduler import" "$import_s" "$import_mb"
  fresh "$db"
  read -r packages_s packages_mb < <(bulk "$db" packages)
  printf '%-10s %-28s %9s %9s\n' "$backend" "bulk (packages)" "$packages_s" "$packages_mb"
  fresh "$db"
  read -r all_s all_mb < <(bulk "$db" all)
  printf '%-10s %-28s %9s %9s\n' "$backend" "bulk (all)" "$all_s" "$all_mb"
  awk -v a="$import_s" -v b="$all_s" -v p="$packages_s" -v be="$backend" \
    'BEGIN { printf "%-10s ratio: %.1fx bulk (all), %.1fx bulk (packages)\n", be, a / b, a / p }'
done
