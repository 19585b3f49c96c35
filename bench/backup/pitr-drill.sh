#!/usr/bin/env bash
# Point-in-time recovery drill for ocset-scheduler on PostgreSQL: the steps
# of docs/notes/backup.md ("Point-in-time recovery") on a private, throwaway
# cluster, so the documented procedure is shown to work, with its timings.
#
# What it does: starts a private PostgreSQL cluster on loopback with WAL
# archiving, migrates an ocset database and imports batch A; takes a base
# backup (pg_basebackup); imports batch B; notes the instant T; imports
# batch C; then recovers the base backup into a second data directory with
# restore_command and recovery_target_time = T, promotes it, and checks
# that it holds A and B and not C (through the service's own `list`), and
# that its ledger is still append-only.
#
# How: bench/backup/pitr-drill.sh [path/to/ocset-scheduler]
#   (default target/debug/ocset-scheduler). Run as root (the clusters run
#   as the postgres user) or as the postgres user.
# Needs: PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup; found
#   with pg_config or under /usr/lib/postgresql/*/bin), free loopback
#   ports 55441 and 55442. Bounded: each server start or stop waits at
#   most 60 s, the promotion at most 60 s. Leaves nothing behind (trap).
set -euo pipefail

BIN=$(realpath "${1:-target/debug/ocset-scheduler}")
PGBIN=$(dirname "$(ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)")
PRIMARY_PORT=55441
RECOVERED_PORT=55442
WORK=$(mktemp -d /tmp/ocset-pitr.XXXXXX)
chmod 0755 "$WORK"

as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cleanup() {
    for data in "$WORK/primary" "$WORK/recovered"; do
        if [ -f "$data/postmaster.pid" ]; then
            as_postgres "$PGBIN/pg_ctl" -D "$data" -m immediate -w -t 60 stop >/dev/null 2>&1 || true
        fi
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/archive" "$WORK/base" "$WORK/run"
[ "$(id -u)" -eq 0 ] && chown -R postgres: "$WORK"

echo "== private cluster with WAL archiving"
as_postgres "$PGBIN/initdb" -D "$WORK/primary" -A trust -U postgres >/dev/null
cat >>"$WORK/primary/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PRIMARY_PORT
unix_socket_directories = '$WORK/run'
wal_level = replica
archive_mode = on
archive_command = 'test ! -f $WORK/archive/%f && cp %p $WORK/archive/%f'
archive_timeout = 60
CONF
as_postgres "$PGBIN/pg_ctl" -D "$WORK/primary" -l "$WORK/primary.log" -w -t 60 start >/dev/null
PSQL=("$PGBIN/psql" -h 127.0.0.1 -U postgres -Atq)
"${PSQL[@]}" -p $PRIMARY_PORT -c "CREATE DATABASE ocset"

CONFIG="$WORK/ocset.toml"
sed 's#^url = .*#url = "sqlite://unused.db"#' "$(dirname "$0")/../../config/default.toml" >"$CONFIG"
ocset() { # PORT ARGS...
    local port=$1
    shift
    OCSET__DATABASE__URL="postgres://postgres@127.0.0.1:$port/ocset" "$BIN" --config "$CONFIG" "$@"
}
batch() { # NAME COUNT -> a CSV file of that many packages
    local file="$WORK/$1.csv"
    echo "reference,risk_grade,received_at,lpa,stage,assigned_officer" >"$file"
    for i in $(seq 1 "$2"); do
        echo "$1-$i,high,2026-11-20 10:00,Coventry,awaiting_enforcement," >>"$file"
    done
    echo "$file"
}

ocset $PRIMARY_PORT migrate >/dev/null
ocset $PRIMARY_PORT import "$(batch A 50)" >/dev/null

echo "== base backup"
started=$(date +%s.%N)
as_postgres "$PGBIN/pg_basebackup" -h 127.0.0.1 -p $PRIMARY_PORT -U postgres \
    -D "$WORK/base/latest" -Fp -X stream --checkpoint=fast
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
echo "pg_basebackup: $(elapsed "$started") s, $(du -sh "$WORK/base/latest" | cut -f1)"

ocset $PRIMARY_PORT import "$(batch B 50)" >/dev/null
TARGET=$("${PSQL[@]}" -p $PRIMARY_PORT -d ocset -c "SELECT now()")
ocset $PRIMARY_PORT import "$(batch C 50)" >/dev/null
"${PSQL[@]}" -p $PRIMARY_PORT -d ocset -c "SELECT pg_switch_wal()" >/dev/null
# The segment holding C is archived before the primary goes: a fast stop
# archives what is left.
as_postgres "$PGBIN/pg_ctl" -D "$WORK/primary" -m fast -w -t 60 stop >/dev/null
archived=$(find "$WORK/archive" -type f | wc -l)
echo "primary archived $archived WAL files; recovery target $TARGET"

echo "== recovery to the target"
as_postgres cp -a "$WORK/base/latest" "$WORK/recovered"
cat >>"$WORK/recovered/postgresql.conf" <<CONF
port = $RECOVERED_PORT
archive_mode = off
restore_command = 'cp $WORK/archive/%f %p'
recovery_target_time = '$TARGET'
recovery_target_action = 'promote'
CONF
as_postgres touch "$WORK/recovered/recovery.signal"
started=$(date +%s.%N)
as_postgres "$PGBIN/pg_ctl" -D "$WORK/recovered" -l "$WORK/recovered.log" -w -t 60 start >/dev/null
promoted=no
for _ in $(seq 1 120); do
    if [ "$("${PSQL[@]}" -p $RECOVERED_PORT -c "SELECT pg_is_in_recovery()" 2>/dev/null)" = "f" ]; then
        promoted=yes
        break
    fi
    sleep 0.5
done
[ "$promoted" = yes ] || { echo "FAIL: not promoted within 60 s"; tail -n 20 "$WORK/recovered.log"; exit 1; }
echo "recovered and promoted in $(elapsed "$started") s"
grep -E "recovery stopping|archive recovery complete" "$WORK/recovered.log" | sed 's/^.*LOG: */  log: /'

listed=$(ocset $RECOVERED_PORT list | tail -n 1)
counts=$("${PSQL[@]}" -p $RECOVERED_PORT -d ocset -c \
    "SELECT count(*) FILTER (WHERE reference LIKE 'A-%') || ' ' || count(*) FILTER (WHERE reference LIKE 'B-%') || ' ' || count(*) FILTER (WHERE reference LIKE 'C-%') FROM packages")
echo "recovered: $listed (A B C: $counts)"
[ "$counts" = "50 50 0" ] || { echo "FAIL: expected 50 50 0"; exit 1; }
if "${PSQL[@]}" -p $RECOVERED_PORT -d ocset -c "DELETE FROM package_events" 2>/dev/null; then
    echo "FAIL: the recovered ledger accepted a DELETE"
    exit 1
fi
echo "PASS: recovered to the instant between batches B and C; the ledger is still append-only"
