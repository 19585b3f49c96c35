#!/usr/bin/env bash
# Makes the secrets deploy/compose.yaml reads from files: a random password
# for PostgreSQL and the database URL holding it, each mode 0600 in
# deploy/compose/secrets/ (ignored by git). Keeps a file that already
# exists, so running it again changes nothing. Needs: bash, od (coreutils).
# Usage: deploy/compose/init-secrets.sh
set -euo pipefail
dir="$(cd "$(dirname "$0")" && pwd)/secrets"
umask 077
mkdir -p "$dir"
# Only the owner reaches the files from the host; the containers see them
# through their own mounts.
chmod 0700 "$dir"
if [ ! -s "$dir/postgres_password" ]; then
    # 24 random bytes as hex: nothing a URL would need to escape.
    od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$dir/postgres_password"
fi
if [ ! -s "$dir/database_url" ]; then
    printf 'postgres://ocset:%s@postgres:5432/ocset' "$(cat "$dir/postgres_password")" >"$dir/database_url"
fi
# The containers read these as uid 10001 (the service) and 999 (postgres):
# compose mounts the files as they are, so they must be readable.
chmod 0644 "$dir/postgres_password" "$dir/database_url"
echo "secrets in $dir: postgres_password, database_url"
