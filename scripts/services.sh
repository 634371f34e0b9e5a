#!/usr/bin/env bash
# Makes sure the services Jobsprint needs are running, idempotently, and
# prints the environment to use them (`eval "$(scripts/services.sh)"`).
#
# - DATABASE_URL set: that database is used as it is (checked, never started).
# - otherwise: the local PostgreSQL cluster is installed with apt when
#   missing, started when down, and a `jobsprint` role and database are made.
set -euo pipefail

log() { printf 'services: %s\n' "$*" >&2; }

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

ensure_postgres_installed() {
  if command -v pg_lsclusters >/dev/null 2>&1 && ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    return
  fi
  log "PostgreSQL is not installed: installing it with apt"
  as_root apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql >&2
}

ensure_postgres_running() {
  local version cluster port status
  if [ -z "$(pg_lsclusters -h)" ]; then
    version=$(ls /usr/lib/postgresql | sort -V | tail -n1)
    log "no PostgreSQL cluster: creating $version/main"
    as_root pg_createcluster "$version" main >&2
  fi
  read -r version cluster port status _ < <(pg_lsclusters -h | head -n1)
  if [ "$status" != "online" ]; then
    log "starting PostgreSQL $version/$cluster"
    as_root pg_ctlcluster "$version" "$cluster" start >&2
  fi
  for _ in $(seq 1 30); do
    if as_postgres pg_isready -q -p "$port"; then
      PGPORT=$port
      return
    fi
    sleep 1
  done
  log "PostgreSQL did not become ready on port $port"
  exit 1
}

ensure_database() {
  local user=jobsprint db=jobsprint password=jobsprint
  as_postgres psql -q -p "$PGPORT" -v ON_ERROR_STOP=1 >/dev/null <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$user') THEN
    CREATE ROLE $user LOGIN PASSWORD '$password' CREATEDB;
  ELSE
    ALTER ROLE $user LOGIN PASSWORD '$password' CREATEDB;
  END IF;
END
\$\$;
SQL
  if ! as_postgres psql -p "$PGPORT" -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
    as_postgres createdb -p "$PGPORT" -O "$user" "$db"
  fi
  DATABASE_URL="postgres://$user:$password@127.0.0.1:$PGPORT/$db"
}

if [ -n "${DATABASE_URL:-}" ]; then
  log "using DATABASE_URL from the environment"
else
  ensure_postgres_installed
  ensure_postgres_running
  ensure_database
  log "PostgreSQL ready at ${DATABASE_URL%%@*}@…"
fi

printf 'export DATABASE_URL=%q\n' "$DATABASE_URL"
