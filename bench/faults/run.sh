#!/usr/bin/env bash
# The fault campaign (bench/faults/campaign.py): builds the release binary,
# installs aiosmtpd if it is missing, and runs every scenario, or the ones
# named. Loopback only; bounded (about 12 minutes for all on 2 cores); it
# stops by itself and removes what it made. Run as root (the sqlite-full
# scenario mounts a tmpfs) with PostgreSQL at 127.0.0.1:5432 (trust) or
# OCSET_TEST_POSTGRES_URL set.
#
#   bench/faults/run.sh                          # all scenarios
#   bench/faults/run.sh kills-sqlite smtp        # some
#   bench/faults/run.sh rolling migrate-together # the replica story (2 min)
#   KILLS=50 SEED=7 bench/faults/run.sh kills-postgres
#
# Figures go to standard output as JSON, one object per scenario, each with
# "ok"; progress to standard error. The exit status is 1 if any scenario
# missed an expectation. The README's "Reliability" records the last run.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
(cd "$root" && cargo build --release --locked --quiet)
python3 -c 'import aiosmtpd' 2>/dev/null || pip3 install --quiet aiosmtpd
command -v psql >/dev/null || { echo "psql is needed: apt-get install postgresql-client" >&2; exit 1; }
exec python3 "$root/bench/faults/campaign.py" "$@"
