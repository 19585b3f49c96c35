#!/usr/bin/env bash
# The container image, tested as it is run: builds the runtime image (the
# Dockerfile's `prebuilt` target) from a binary built on this host over a
# Debian bookworm base made from Debian's packages (no image registry is
# reachable here: ../shared/CONTAINERS.md), then runs it with podman on
# host networking against the host's PostgreSQL and an SMTP sink on loopback:
#   1. `--version` names the commit; the image's labels, user and volume;
#   2. `migrate`, then `serve` with a read-only root file system (no tmpfs
#      either: a write anywhere but the volume fails), the data
#      volume, as the non-root user; a token made with `token create` in the
#      container; a package past its deadline created through the API, whose
#      escalation arrives at the sink by SMTP; the HEALTHCHECK passes;
#      `podman stop -t 30` (SIGTERM) ends it with status 0, logged as clean;
#      without a PostgreSQL URL, the SQLite file lands in the volume, 0600;
#   3. the compose topology: a one-shot migrate, then two replicas on two
#      ports over one database and the sink, both ready, one package due,
#      its escalation delivered exactly once;
#   4. deploy/compose.yaml against the Compose Specification's JSON schema,
#      read by `podman-compose config`, its secrets made by its script.
#
# Usage: tests/deploy/container.sh            (target/debug/ocset-scheduler,
#                                              built by cargo if not current)
#        RELEASE=1 tests/deploy/container.sh  (the same with target/release;
#                                              the image's size is printed)
#        BINARY=target/release/ocset-scheduler tests/deploy/container.sh
#            (that binary as it is, not rebuilt; .dockerignore admits only
#            target/debug/ and target/release/ocset-scheduler to the build)
# Needs: root (rootful podman), PostgreSQL on 127.0.0.1:5432 with trust auth
# for user postgres (OCSET_TEST_PG_ADMIN overrides), python3, and network to
# Debian's mirror, PyPI and npm the first time: installs podman, mmdebstrap
# and runc (apt-get), aiosmtpd, podman-compose, jsonschema and pyyaml (pip)
# when missing, and fetches the compose schema (npm pack dclint@3.1.0).
# Caches the Debian base tarball and the schema under target/container/,
# the base image and the image's layers in podman's store.
# Everything listens on loopback; every wait is bounded; containers, the
# volume, the databases and temporary files are removed on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
started=$(date +%s)
CACHE="$ROOT/target/container"
BASE_IMAGE=localhost/ocset-debian-base:bookworm
IMAGE=localhost/ocset-scheduler:test
ADMIN_URL=${OCSET_TEST_PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
DB_HOST_URL=${ADMIN_URL%/*}
RUN_ID="ocsetctr$$"
WORK=$(mktemp -d)
CONTAINERS=()
DATABASES=()
SINK_PID=

say() { printf '== %s\n' "$*" >&2; }
fail() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}

cleanup() {
    local status=$?
    set +e
    for name in "${CONTAINERS[@]}"; do
        if [ "$status" -ne 0 ]; then
            printf -- '--- log of %s (last 40 lines)\n' "$name" >&2
            pm logs --tail 40 "$name" 2>&1 | sed 's/^/  /' >&2
        fi
        pm rm -f -t 0 "$name" >/dev/null 2>&1
    done
    pm volume rm -f "$RUN_ID-data" >/dev/null 2>&1
    [ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null && wait "$SINK_PID" 2>/dev/null
    for db in "${DATABASES[@]}"; do
        psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
    done
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- tools ---------------------------------------------------------------
missing=()
for tool in podman mmdebstrap runc; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]}"
    timeout 600 apt-get install -y -qq "${missing[@]}" >/dev/null \
        || { timeout 300 apt-get update -qq && timeout 600 apt-get install -y -qq "${missing[@]}" >/dev/null; }
fi
python3 -c 'import aiosmtpd' 2>/dev/null || timeout 300 python3 -m pip install -q aiosmtpd
command -v podman-compose >/dev/null || timeout 300 python3 -m pip install -q podman-compose
command -v psql >/dev/null || fail "psql is needed (apt-get install postgresql-client)"

# The sandbox refuses rlimit changes and cgroup v2 controllers.
mkdir -p "$CACHE"
printf '[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\n' >"$CACHE/containers.conf"
export CONTAINERS_CONF="$CACHE/containers.conf"
# Podman asks systemd for a timer per HEALTHCHECK, and there is no systemd
# here: the test runs the check itself (`podman healthcheck run`), so that
# complaint is left out of the output.
pm() {
    timeout 300 podman --runtime runc --cgroup-manager cgroupfs "$@" \
        2> >(grep -v 'unable to get systemd connection' >&2)
}

# ---- the Debian base (what debian:bookworm-slim is, made here) ------------
if ! pm image exists "$BASE_IMAGE"; then
    if [ ! -s "$CACHE/debian-bookworm.tar" ]; then
        say "making the Debian bookworm base with mmdebstrap (cached in $CACHE)"
        # merged /usr without the usrmerge package (and the perl it pulls
        # in), no documentation or locales, no apt lists: as slim images are.
        rm -rf "$CACHE/debian-bookworm.tar.part"
        timeout 600 mmdebstrap --quiet --format=tar --variant=minbase \
            --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
            --dpkgopt='path-exclude=/usr/share/man/*' \
            --dpkgopt='path-exclude=/usr/share/doc/*' \
            --dpkgopt='path-include=/usr/share/doc/*/copyright' \
            --dpkgopt='path-exclude=/usr/share/locale/*' \
            --dpkgopt='path-exclude=/usr/share/info/*' \
            --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/log/*.log' \
            bookworm "$CACHE/debian-bookworm.tar.part" >"$WORK/mmdebstrap.log" 2>&1 \
            || { tail -30 "$WORK/mmdebstrap.log" >&2; fail "mmdebstrap failed"; }
        mv "$CACHE/debian-bookworm.tar.part" "$CACHE/debian-bookworm.tar"
    fi
    pm import -q "$CACHE/debian-bookworm.tar" "$BASE_IMAGE" >/dev/null
fi

# ---- the binary and the image ---------------------------------------------
# The binary of this tree (cargo does nothing when `cargo test` has just
# built it), so its --version names HEAD; or the one BINARY names, as built.
if [ -n "${BINARY:-}" ]; then
    [ -x "$BINARY" ] || fail "no binary at $BINARY"
    COMMIT=$("$BINARY" --version | sed -n 's/.*(commit \(.*\))$/\1/p')
elif [ "${RELEASE:-0}" = 1 ]; then
    BINARY=target/release/ocset-scheduler
    say "building the release binary"
    timeout 2400 cargo build --release --locked --quiet
    COMMIT=$(git rev-parse --short=12 HEAD)
else
    BINARY=target/debug/ocset-scheduler
    timeout 1800 cargo build --locked --quiet
    COMMIT=$(git rev-parse --short=12 HEAD)
fi
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
say "building $IMAGE from $BINARY (commit $COMMIT)"
previous=$(pm image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
pm build --quiet --format docker --network=host --target prebuilt \
    --build-arg BASE="$BASE_IMAGE" --build-arg BINARY="$BINARY" \
    --build-arg OCSET_COMMIT="$COMMIT" --build-arg OCSET_VERSION="$VERSION" \
    -t "$IMAGE" . >/dev/null
# The last run's image (its binary layer) goes; the base stage's layers
# stay as the next run's cache.
if [ -n "$previous" ] && [ "$previous" != "$(pm image inspect --format '{{.Id}}' "$IMAGE")" ]; then
    pm rmi "$previous" >/dev/null 2>&1 || true
fi
size=$(pm image inspect --format '{{.Size}}' "$IMAGE")
say "image size: $((size / 1000000)) MB ($size bytes) with $BINARY"

# ---- 1. the image's version, labels, user ---------------------------------
version=$(pm run --rm --network=host "$IMAGE" --version)
[ "$version" = "ocset-scheduler $VERSION (commit $COMMIT)" ] \
    || fail "--version printed '$version', not the commit $COMMIT"
label() { pm image inspect --format "{{index .Labels \"org.opencontainers.image.$1\"}}" "$IMAGE"; }
[ "$(label revision)" = "$COMMIT" ] || fail "label revision is '$(label revision)'"
[ "$(label version)" = "$VERSION" ] || fail "label version is '$(label version)'"
[ "$(label licenses)" = "MIT" ] || fail "label licenses is '$(label licenses)'"
[ "$(pm image inspect --format '{{.Config.User}}' "$IMAGE")" = "10001:10001" ] \
    || fail "the image does not run as 10001:10001"
[ "$(pm image inspect --format '{{.Config.StopSignal}}' "$IMAGE")" = "SIGTERM" ] \
    || fail "the image's stop signal is not SIGTERM"

# ---- the mail sink and the databases --------------------------------------
python3 tests/deploy/mail_sink.py "$WORK/mail.jsonl" >"$WORK/sink.port" &
SINK_PID=$!
for _ in $(seq 100); do [ -s "$WORK/sink.port" ] && break; sleep 0.1; done
SMTP_PORT=$(cat "$WORK/sink.port")
[ -n "$SMTP_PORT" ] || fail "the mail sink did not start"
touch "$WORK/mail.jsonl"

# Creates the database ocsetctrPID_$1, to be dropped on exit, and sets
# DB_URL to it (not printed: DATABASES must grow in this shell).
new_database() {
    local name="${RUN_ID}_$1"
    psql -q "$ADMIN_URL" -c "CREATE DATABASE $name" >/dev/null
    DATABASES+=("$name")
    DB_URL="$DB_HOST_URL/$name"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The environment a deployment gives the image: everything but the file.
service_env() {
    local url=$1 port=$2
    printf '%s\n' \
        "OCSET__DATABASE__URL=$url" \
        "OCSET__HTTP__BIND=127.0.0.1:$port" \
        "OCSET__FORCE__LPAS=[\"Coventry\", \"Dudley\"]" \
        "OCSET__MAIL__SMTP__HOST=127.0.0.1" \
        "OCSET__MAIL__SMTP__PORT=$SMTP_PORT" \
        "OCSET__MAIL__SMTP__TLS=none" \
        "OCSET__MAIL__FROM=OCSET Scheduler <ocset@force.example>" \
        "OCSET__RECIPIENTS__OCSET_SERGEANTS__DEFAULT=[\"sergeants@force.example\"]" \
        "OCSET__RECIPIENTS__OCSET_INSPECTOR__DEFAULT=[\"inspector@force.example\"]" \
        "OCSET__RECIPIENTS__PPU_SLT__DEFAULT=[\"slt@force.example\"]" \
        "OCSET__RECIPIENTS__ACC_CRIME__DEFAULT=[\"acc@force.example\"]" \
        "OCSET__SCHEDULER__TICK_SECONDS=1"
}

# `podman run` as a deployment would: read-only root (no tmpfs either, so
# a write anywhere but the volume fails), the volume, host networking.
run_image() {
    local env_file=$1
    shift
    pm run --network=host --read-only --read-only-tmpfs=false \
        -v "$RUN_ID-data:/var/lib/ocset-scheduler" --env-file "$env_file" "$@"
}

# Waits up to $2 seconds for `$1` (a command) to succeed.
wait_for() {
    local what=$1 seconds=$2 deadline=$((SECONDS + $2))
    until eval "$what" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.2
    done
}

# POSTs a package received $3 hours ago, graded very high (48 h), to the
# service on port $1 with token $2; prints the HTTP status.
create_package() {
    local port=$1 token=$2 hours=$3 reference=$4
    local received
    received=$(date -u -d "-$hours hours" +%Y-%m-%dT%H:%M:%SZ)
    curl -sS -o "$WORK/created.json" -w '%{http_code}' --max-time 10 \
        -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
        -d "{\"reference\":\"$reference\",\"risk_grade\":\"very_high\",\"received_at\":\"$received\",\"lpa\":\"Coventry\",\"stage\":\"awaiting_enforcement\",\"assigned_officer\":\"pc.ctr@force.example\"}" \
        "http://127.0.0.1:$port/api/v1/packages"
}

# How many escalation messages (not digests) mention $1, and to how many
# recipients.
mail_about() {
    python3 - "$WORK/mail.jsonl" "$1" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
about = [l for l in lines if "] OCSET: " in l["subject"] and sys.argv[2] in l["text"]]
print(len(about), len({r for l in about for r in l["rcpt"]}))
PY
}

# ---- 2. migrate, serve, an escalation by SMTP, health, SIGTERM -----------
say "one container: migrate, serve, escalate, stop"
new_database one
PORT=$(free_port)
service_env "$DB_URL" "$PORT" >"$WORK/one.env"
pm volume create "$RUN_ID-data" >/dev/null

run_image "$WORK/one.env" --rm "$IMAGE" migrate >"$WORK/migrate.out" 2>&1 \
    || { cat "$WORK/migrate.out" >&2; fail "migrate failed"; }
grep -q "migrations applied to" "$WORK/migrate.out" || fail "migrate did not say it migrated"
TOKEN=$(run_image "$WORK/one.env" --rm "$IMAGE" token create --name "ctr-intake" --role intake 2>/dev/null | tail -1)
[ -n "$TOKEN" ] || fail "token create printed no token"

SERVE="$RUN_ID-serve"
CONTAINERS+=("$SERVE")
run_image "$WORK/one.env" -d --name "$SERVE" "$IMAGE" >/dev/null
wait_for "curl -sf --max-time 2 http://127.0.0.1:$PORT/readyz" 60 || fail "serve was not ready within 60 s"
pid=$(pm inspect --format '{{.State.Pid}}' "$SERVE")
uid=$(stat -c %u "/proc/$pid")
[ "$uid" != 0 ] || fail "the service runs as root"
[ "$uid" = 10001 ] || fail "the service runs as uid $uid, not 10001"
[ "$(pm inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$SERVE")" = true ] || fail "the root file system is writable"

pm healthcheck run "$SERVE" || fail "the HEALTHCHECK failed on a ready service"
pm exec "$SERVE" /usr/local/bin/ocset-scheduler --config /etc/ocset-scheduler/config.toml healthcheck \
    | grep -q "^ready: http://127.0.0.1:$PORT/readyz answered 200" || fail "healthcheck did not say ready"

# Received 50 hours ago, very high (48 h): the breach is due at once.
status=$(create_package "$PORT" "$TOKEN" 50 "CTR-ONE-1")
[ "$status" = 201 ] || { cat "$WORK/created.json" >&2; fail "creating the package answered $status"; }
# The breach goes to the sergeants and the inspector.
wait_for '[ "$(mail_about CTR-ONE-1 | cut -d" " -f2)" -ge 2 ]' 60 \
    || fail "the escalation did not arrive at the sink within 60 s: $(mail_about CTR-ONE-1)"
python3 - "$WORK/mail.jsonl" <<'PY' || fail "the inspector's escalation is not the breach of CTR-ONE-1"
import json, sys
mail = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
inspector = [m for m in mail if "inspector@force.example" in m["rcpt"]]
assert len(inspector) == 1, inspector
m = inspector[0]
assert m["subject"] == "[OFFICIAL-SENSITIVE] OCSET: 1 package breached its enforcement deadline", m["subject"]
assert "CTR-ONE-1" in m["text"], m["text"]
PY

# Without a PostgreSQL URL the image keeps SQLite in the volume, made by
# the non-root user, private: the volume is the one place it writes.
grep -v '^OCSET__DATABASE__URL=' "$WORK/one.env" >"$WORK/sqlite.env"
run_image "$WORK/sqlite.env" --rm "$IMAGE" migrate >"$WORK/migrate-sqlite.out" 2>&1 \
    || { cat "$WORK/migrate-sqlite.out" >&2; fail "migrate on SQLite in the volume failed"; }
volume=$(pm volume inspect --format '{{.Mountpoint}}' "$RUN_ID-data")
[ "$(stat -c '%u %a' "$volume/ocset.db")" = "10001 600" ] \
    || fail "the SQLite file in the volume is $(stat -c '%u %a' "$volume/ocset.db"), not 10001 600"

stop_started=$SECONDS
pm stop -t 30 "$SERVE" >/dev/null
stop_took=$((SECONDS - stop_started))
exit_code=$(pm inspect --format '{{.State.ExitCode}}' "$SERVE")
[ "$exit_code" = 0 ] || fail "serve exited $exit_code after SIGTERM"
[ "$stop_took" -lt 25 ] || fail "serve took $stop_took s to stop (more than the 20 s it allows itself)"
pm logs "$SERVE" 2>&1 | grep -q '"message":"SIGTERM received; stopping"' || fail "no SIGTERM line in the log"
pm logs "$SERVE" 2>&1 | grep -q '"message":"ocset-scheduler stopped cleanly"' || fail "no clean-stop line in the log"
pm logs "$SERVE" 2>&1 | grep -q "$TOKEN" && fail "the token is in the log"
say "stopped by SIGTERM in ${stop_took} s, exit status 0"
# With the service gone, the health command fails, naming what it asked.
if run_image "$WORK/one.env" --rm "$IMAGE" healthcheck --timeout 2 >"$WORK/unhealthy.out" 2>&1; then
    fail "healthcheck passed with no service running"
fi
grep -q "cannot reach http://127.0.0.1:$PORT/readyz" "$WORK/unhealthy.out" \
    || { cat "$WORK/unhealthy.out" >&2; fail "healthcheck did not say why it failed"; }

# ---- 3. the compose topology: one-shot migrate, two replicas, one sink ----
say "two replicas over one database"
new_database pair
PORT_A=$(free_port)
PORT_B=$(free_port)
service_env "$DB_URL" "$PORT_A" >"$WORK/a.env"
service_env "$DB_URL" "$PORT_B" >"$WORK/b.env"
# As compose gives it: the database URL in a secret file named by
# OCSET__DATABASE__URL_FILE, when the binary reads such variables (a binary
# without them refuses the unknown key, and the URL stays in the environment).
printf '%s' "$DB_URL" >"$WORK/database_url"
chmod 0644 "$WORK/database_url"
SECRET=(-v "$WORK/database_url:/run/secrets/database_url:ro")
grep -v '^OCSET__DATABASE__URL=' "$WORK/a.env" >"$WORK/probe.env"
echo "OCSET__DATABASE__URL_FILE=/run/secrets/database_url" >>"$WORK/probe.env"
if pm run --rm --network=host --env-file "$WORK/probe.env" "${SECRET[@]}" "$IMAGE" check-config 2>/dev/null \
    | grep -q "${RUN_ID}_pair"; then
    for replica in a b; do
        grep -v '^OCSET__DATABASE__URL=' "$WORK/$replica.env" >"$WORK/$replica.tmp"
        echo "OCSET__DATABASE__URL_FILE=/run/secrets/database_url" >>"$WORK/$replica.tmp"
        mv "$WORK/$replica.tmp" "$WORK/$replica.env"
    done
    say "the replicas read the database URL from a secret file (OCSET__DATABASE__URL_FILE)"
else
    SECRET=()
    say "this binary does not read OCSET__*_FILE: the database URL goes in the environment"
fi
: >"$WORK/mail.jsonl"
run_image "$WORK/a.env" --rm "${SECRET[@]}" "$IMAGE" migrate >/dev/null 2>&1 || fail "the one-shot migrate failed"
TOKEN=$(run_image "$WORK/a.env" --rm "${SECRET[@]}" "$IMAGE" token create --name "ctr-pair" --role intake 2>/dev/null | tail -1)
for replica in a b; do
    CONTAINERS+=("$RUN_ID-$replica")
    run_image "$WORK/$replica.env" -d --name "$RUN_ID-$replica" "${SECRET[@]}" "$IMAGE" >/dev/null
done
wait_for "curl -sf --max-time 2 http://127.0.0.1:$PORT_A/readyz && curl -sf --max-time 2 http://127.0.0.1:$PORT_B/readyz" 60 \
    || fail "the replicas were not both ready within 60 s"
pm healthcheck run "$RUN_ID-a" && pm healthcheck run "$RUN_ID-b" || fail "a replica's HEALTHCHECK failed"

status=$(create_package "$PORT_A" "$TOKEN" 50 "CTR-PAIR-1")
[ "$status" = 201 ] || fail "creating the package on replica a answered $status"
wait_for '[ "$(mail_about CTR-PAIR-1 | cut -d" " -f2)" -ge 2 ]' 60 \
    || fail "the escalation did not arrive within 60 s: $(mail_about CTR-PAIR-1)"
# Every queued message sent, then three more safety ticks of each replica
# (1 s apart): a second delivery would come from one of them.
outbox_unsent="SELECT count(*) FROM outbox WHERE status <> 'sent'"
wait_for "[ \"\$(psql -tA '$DB_URL' -c \"$outbox_unsent\")\" = 0 ]" 60 || fail "the outbox did not empty"
sleep 3
read -r messages recipients < <(mail_about CTR-PAIR-1)
[ "$messages" = "$recipients" ] || fail "$messages messages for $recipients recipients: some were sent twice"
sent=$(psql -tA "$DB_URL" -c "SELECT count(DISTINCT outbox_id) FROM outbox_escalations")
[ "$messages" = "$sent" ] || fail "$messages messages received, $sent in the outbox"
for replica in a b; do
    pm stop -t 30 "$RUN_ID-$replica" >/dev/null
    [ "$(pm inspect --format '{{.State.ExitCode}}' "$RUN_ID-$replica")" = 0 ] || fail "replica $replica did not stop cleanly"
done
say "one escalation to $recipients recipients, each once, from two replicas"

# ---- deploy/compose.yaml ---------------------------------------------------
# Checked against the Compose Specification's JSON schema (as shipped in
# the npm package dclint 3.1.0; cached) and read by podman-compose, with
# secrets made by its own script in a copy of deploy/.
say "checking deploy/compose.yaml"
python3 -c 'import jsonschema, yaml' 2>/dev/null || timeout 300 python3 -m pip install -q jsonschema pyyaml
if [ ! -s "$CACHE/compose.schema.json" ]; then
    command -v npm >/dev/null || fail "npm is needed once, to fetch the compose schema (apt-get install npm)"
    (cd "$WORK" && timeout 120 npm pack --silent dclint@3.1.0 >/dev/null \
        && tar -xzf dclint-3.1.0.tgz package/schemas/compose.schema.json) \
        || fail "cannot fetch the compose schema (npm pack dclint@3.1.0)"
    mv "$WORK/package/schemas/compose.schema.json" "$CACHE/compose.schema.json"
fi
python3 - "$CACHE/compose.schema.json" deploy/compose.yaml <<'PY' || fail "deploy/compose.yaml does not follow the Compose Specification"
import json, sys, jsonschema, yaml
schema = json.load(open(sys.argv[1]))
compose = yaml.safe_load(open(sys.argv[2]))
errors = list(jsonschema.Draft7Validator(schema).iter_errors(compose))
for e in errors:
    print(f"  {'.'.join(map(str, e.path)) or '-'}: {e.message}", file=sys.stderr)
services = compose["services"]
assert {"postgres", "migrate", "mailpit", "scheduler-1", "scheduler-2"} <= set(services), services
for name in ("scheduler-1", "scheduler-2"):
    s = services[name]
    assert s["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
    assert s["read_only"] is True and "healthcheck" in s, name
    assert all(p.startswith("127.0.0.1:") for p in s["ports"]), name
sys.exit(1 if errors else 0)
PY
cp -r deploy "$WORK/deploy"
(cd "$WORK/deploy" && compose/init-secrets.sh >/dev/null \
    && [ "$(stat -c %a compose/secrets/database_url)" = 644 ] \
    && grep -q "^postgres://ocset:$(cat compose/secrets/postgres_password)@postgres:5432/ocset$" compose/secrets/database_url \
    && timeout 60 podman-compose -f compose.yaml config >"$WORK/compose.out" 2>&1) \
    || { cat "$WORK/compose.out" >&2 2>/dev/null; fail "deploy/compose.yaml's secrets or podman-compose config failed"; }

say "passed in $(($(date +%s) - started)) s; image $((size / 1000000)) MB"
