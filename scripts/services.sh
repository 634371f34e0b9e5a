#!/usr/bin/env bash
# Makes sure the services Jobsprint needs are running, idempotently, and
# prints the environment to use them (`eval "$(scripts/services.sh)"`).
#
# - DATABASE_URL set: that database is used as it is (checked, never started).
# - otherwise: the local PostgreSQL cluster is installed with apt when
#   missing, started when down, and a `jobsprint` role and database are made.
# - KAFKA_BROKERS set: that Kafka-protocol broker is used as it is.
# - otherwise: tansu (a Kafka-protocol broker in Rust) is installed with
#   `cargo install` when missing (about 15 minutes, once per machine),
#   started on 127.0.0.1:${JOBSPRINT_KAFKA_PORT:-9092} with its durable
#   SQLite storage under the data directory, and the events topic is made.
#   JOBSPRINT_KAFKA_STORAGE=memory starts a throwaway in-memory broker
#   instead (`make test` does, on its own port; see docs/adr/0008), and
#   JOBSPRINT_KAFKA_FRESH=1 with it replaces the one this script started
#   on that port by an empty one (`make bench` does: tansu's memory engine
#   gets slower with every batch it holds, so each run starts the same).
# - JOBSPRINT_BUS=store and no KAFKA_BROKERS: no broker at all.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA_DIR=${DATA_DIR:-$ROOT/.data}
case "$DATA_DIR" in /*) ;; *) DATA_DIR="$ROOT/$DATA_DIR" ;; esac
KAFKA_PORT=${JOBSPRINT_KAFKA_PORT:-9092}
KAFKA_TOPIC=${JOBSPRINT_KAFKA_TOPIC:-jobsprint.events}
KAFKA_PARTITIONS=${JOBSPRINT_KAFKA_PARTITIONS:-3}
KAFKA_STORAGE=${JOBSPRINT_KAFKA_STORAGE:-sqlite}

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

ensure_tansu_installed() {
  export PATH="$HOME/.cargo/bin:$PATH"
  if command -v tansu >/dev/null 2>&1; then
    return
  fi
  log "tansu (the local Kafka-protocol broker) is not installed: building it with cargo (about 15 minutes, once)"
  cargo install tansu --locked --features libsql,dynostore >&2
}

broker_listening() {
  (exec 3<>"/dev/tcp/127.0.0.1/$KAFKA_PORT") 2>/dev/null
}

ensure_broker_running() {
  local dir="$DATA_DIR/kafka-$KAFKA_PORT" storage
  if broker_listening; then
    return
  fi
  mkdir -p "$dir"
  case "$KAFKA_STORAGE" in
    sqlite) storage="sqlite://tansu.db" ;;
    memory) storage="memory://tansu/" ;;
    *) log "JOBSPRINT_KAFKA_STORAGE must be sqlite or memory, not '$KAFKA_STORAGE'"; exit 1 ;;
  esac
  log "starting tansu on 127.0.0.1:$KAFKA_PORT ($KAFKA_STORAGE storage, files in $dir)"
  # Started in its own session so it outlives this script; the storage path
  # is relative to its working directory.
  (cd "$dir" && exec setsid nohup tansu broker \
      --listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
      --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
      --storage-engine "$storage" >>"$dir/tansu.log" 2>&1 </dev/null &
   echo $! >"$dir/tansu.pid")
  for _ in $(seq 1 60); do
    if broker_listening; then
      return
    fi
    sleep 0.5
  done
  log "tansu did not start listening on port $KAFKA_PORT; see $dir/tansu.log"
  tail -n 20 "$dir/tansu.log" >&2 || true
  exit 1
}

stop_memory_broker() {
  local dir="$DATA_DIR/kafka-$KAFKA_PORT" pid
  if [ "$KAFKA_STORAGE" != memory ]; then
    log "JOBSPRINT_KAFKA_FRESH=1 only replaces an in-memory broker (JOBSPRINT_KAFKA_STORAGE=memory)"
    exit 1
  fi
  pid=$(cat "$dir/tansu.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && grep -qa tansu "/proc/$pid/cmdline" 2>/dev/null; then
    log "stopping the in-memory broker on port $KAFKA_PORT (pid $pid) for an empty one"
    kill "$pid"
    for _ in $(seq 1 40); do
      broker_listening || return 0
      sleep 0.25
    done
    log "the broker on port $KAFKA_PORT did not stop"
    exit 1
  elif broker_listening; then
    log "a broker this script did not start listens on port $KAFKA_PORT: using it as it is"
  fi
}

topic_exists() {
  # `tansu topic list` prints the topics' metadata as JSON.
  tansu topic list --broker "tcp://127.0.0.1:$KAFKA_PORT" 2>/dev/null |
    grep -qF "\"name\":\"$KAFKA_TOPIC\""
}

ensure_topic() {
  if topic_exists; then
    return
  fi
  log "creating the topic $KAFKA_TOPIC ($KAFKA_PARTITIONS partitions)"
  tansu topic create "$KAFKA_TOPIC" --partitions "$KAFKA_PARTITIONS" \
    --broker "tcp://127.0.0.1:$KAFKA_PORT" >/dev/null 2>&1 || topic_exists
}

if [ -n "${DATABASE_URL:-}" ]; then
  log "using DATABASE_URL from the environment"
else
  ensure_postgres_installed
  ensure_postgres_running
  ensure_database
  log "PostgreSQL ready at ${DATABASE_URL%%@*}@…"
fi

if [ -n "${KAFKA_BROKERS:-}" ]; then
  log "using KAFKA_BROKERS from the environment"
elif [ "${JOBSPRINT_BUS:-kafka}" = "store" ]; then
  log "JOBSPRINT_BUS=store: no broker needed"
else
  ensure_tansu_installed
  if [ "${JOBSPRINT_KAFKA_FRESH:-}" = 1 ]; then
    stop_memory_broker
  fi
  ensure_broker_running
  ensure_topic
  KAFKA_BROKERS="127.0.0.1:$KAFKA_PORT"
  log "Kafka-protocol broker ready at $KAFKA_BROKERS (topic $KAFKA_TOPIC)"
fi

printf 'export DATABASE_URL=%q\n' "$DATABASE_URL"
if [ -n "${KAFKA_BROKERS:-}" ]; then
  printf 'export KAFKA_BROKERS=%q\n' "$KAFKA_BROKERS"
fi
