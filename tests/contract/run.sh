#!/usr/bin/env bash
# The published contract, checked by a real client: schemathesis reads
# /api/v1/openapi.json from a running server and sends it requests made
# from the document (examples, coverage, fuzzing, and stateful sequences
# that follow the document's links: create a package, then read, regrade,
# move, assign and acknowledge it), with every check on. Any answer the
# document does not describe (a status code, a header, a body shape, valid
# data refused or invalid data accepted) fails the run.
#
#   tests/contract/run.sh                 # the debug binary (built if missing)
#   OCSET_BIN=target/release/ocset-scheduler tests/contract/run.sh
#   MAX_EXAMPLES=200 tests/contract/run.sh  # a longer campaign
#
# It installs schemathesis (pinned) with pip when missing, starts the
# server on a free loopback port with a fresh SQLite database, and removes
# both when it ends. Bounded: MAX_TIME seconds (default 240) of generation.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
version=4.32.5
max_examples=${MAX_EXAMPLES:-40}
max_time=${MAX_TIME:-240}
seed=${SEED:-20261201}

# schemathesis lives in its own virtual environment under target/, so
# the machine's Python is left as it was.
venv="$root/target/contract-venv"
if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('schemathesis') != '$version')" 2>/dev/null; then
  echo "contract: installing schemathesis $version into $venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis==$version"
fi

bin=${OCSET_BIN:-$root/target/debug/ocset-scheduler}
if [ -z "${OCSET_BIN:-}" ]; then
  (cd "$root" && cargo build --locked --quiet --bin ocset-scheduler)
fi

work=$(mktemp -d)
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# A free port on loopback (the kernel picks; the server binds it next).
port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export OCSET__DATABASE__URL="sqlite://$work/ocset.db" \
  OCSET__HTTP__BIND="127.0.0.1:$port" \
  OCSET__MAIL__FILE_DIR="$work/outbox" \
  OCSET__DIGEST='[]' \
  OCSET__LOG__LEVEL=warn
config="$root/config/default.toml"

"$bin" --config "$config" migrate >/dev/null
token=$("$bin" --config "$config" token create --name contract --role admin | tail -n 1)
# Packages in every state the stateful phase can reach: breached (to
# acknowledge), due soon, on track, with and without an officer.
now_minus() { date -u -d "$1 ago" +%Y-%m-%dT%H:%M:%SZ; }
cat > "$work/seed.csv" <<CSV
reference,risk_grade,received_at,lpa,stage,assigned_officer
CT-BREACHED-1,very_high,$(now_minus '5 days'),Birmingham,awaiting_enforcement,pc.one@force.police.uk
CT-BREACHED-2,high,$(now_minus '9 days'),Coventry,intelligence_development,
CT-DUE-1,high,$(now_minus '6 days'),Dudley,awaiting_enforcement,
CT-OPEN-1,standard,$(now_minus '1 day'),Walsall,intelligence_development,pc.two@force.police.uk
CSV
"$bin" --config "$config" import "$work/seed.csv" >/dev/null

"$bin" --config "$config" serve 2>"$work/serve.log" &
server=$!
for _ in $(seq 1 100); do
  "$venv/bin/python" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/healthz', timeout=1)" 2>/dev/null && break
  kill -0 "$server" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
  sleep 0.1
done

cd "$work"
SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$root/tests/contract" \
  "$venv/bin/schemathesis" run "http://127.0.0.1:$port/api/v1/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks all \
  --phases examples,coverage,fuzzing,stateful \
  --max-examples "$max_examples" \
  --max-time "$max_time" \
  --seed "$seed" \
  --workers 1 \
  --suppress-health-check too_slow || status=$?

# What the server answered, per operation and status (from its own
# /metrics): shows the run reached every move, not only refusals.
echo "contract: the server's answers by operation and status"
"$venv/bin/python" - "http://127.0.0.1:$port/metrics" <<'PY'
import re, sys, urllib.request
text = urllib.request.urlopen(sys.argv[1], timeout=5).read().decode()
for line in text.splitlines():
    m = re.match(r'ocset_http_requests_total\{method="(\w+)",route="([^"]+)",status="(\d+)"\} (\d+)', line)
    if m:
        print(f"  {m[1]:5} {m[2]:45} {m[3]} {int(m[4]):>7}")
PY
exit "${status:-0}"
