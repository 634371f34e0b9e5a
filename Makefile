# Jobsprint: `make run` and `make test` work on a fresh machine.
# Bring your own PostgreSQL with DATABASE_URL; otherwise scripts/services.sh
# installs (apt) and starts the local cluster and creates the database.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
DATA_DIR ?= .data
SERVICES = eval "$$(scripts/services.sh)"
SECRET_KEY = $(DATA_DIR)/secret.key
JWT_KEY = $(DATA_DIR)/jwt.key
CARGO ?= cargo

.PHONY: run services build migrate test check fmt lint bench secret-key bootstrap

## run: start what is needed, build, migrate and serve on 127.0.0.1:8080
run: secret-key
	@$(SERVICES); \
	$(CARGO) build --release --bin jobsprint; \
	if [ -z "$${JOBSPRINT_MASTER_KEYS:-}" ]; then \
		export JOBSPRINT_SECRET_KEY_FILE="$${JOBSPRINT_SECRET_KEY_FILE:-$(SECRET_KEY)}"; \
	fi; \
	if [ -z "$${JOBSPRINT_JWT_KEYS:-}" ]; then \
		export JOBSPRINT_JWT_KEY_FILE="$${JOBSPRINT_JWT_KEY_FILE:-$(JWT_KEY)}"; \
	fi; \
	./target/release/jobsprint migrate; \
	exec ./target/release/jobsprint serve

## services: make sure PostgreSQL is running and the database exists
services:
	@$(SERVICES) >/dev/null && echo "services: ready"

## migrate: apply database migrations
migrate:
	@$(SERVICES); $(CARGO) run --quiet --bin jobsprint -- migrate

## test: formatting, lints and every test against the real database and a
## throwaway in-memory broker on its own port (not the `make run` one)
test: fmt lint
	@export JOBSPRINT_KAFKA_STORAGE=memory JOBSPRINT_KAFKA_PORT=$${JOBSPRINT_TEST_KAFKA_PORT:-9192}; \
	$(SERVICES); $(CARGO) test --workspace --all-targets --locked

fmt:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

## bench: benchmark scenarios against the real services, one table
## (the Kafka lag scenario uses an in-memory broker of its own, emptied at
## every run so that each run measures the same broker)
bench:
	@export JOBSPRINT_KAFKA_STORAGE=memory JOBSPRINT_KAFKA_FRESH=1 \
		JOBSPRINT_KAFKA_PORT=$${JOBSPRINT_BENCH_KAFKA_PORT:-9193}; \
	$(SERVICES); $(CARGO) build --release --locked --bin jobsprint && \
	$(CARGO) run --release --locked --bin jobsprint-bench -- $(BENCH_ARGS)

## bootstrap: the first tenant and admin of a fresh installation (EMAIL=..., TENANT=...)
bootstrap:
	@$(SERVICES); $(CARGO) run --quiet --release --bin jobsprint -- admin bootstrap \
		--tenant-name "$${TENANT:-My company}" --email "$${EMAIL:?set EMAIL=you@example.com}"

# Development keys, made once: one seals integration credentials (the master
# key), one signs access tokens. Production sets JOBSPRINT_MASTER_KEYS and
# JOBSPRINT_JWT_KEYS itself.
secret-key:
	@mkdir -p $(DATA_DIR)
	@if [ -z "$${JOBSPRINT_MASTER_KEYS:-}$${JOBSPRINT_SECRET_KEY:-}$${JOBSPRINT_SECRET_KEY_FILE:-}" ] && [ ! -s $(SECRET_KEY) ]; then \
		(umask 077 && head -c 32 /dev/urandom | base64 > $(SECRET_KEY)); \
		echo "made a development master key in $(SECRET_KEY)"; \
	fi
	@if [ -z "$${JOBSPRINT_JWT_KEYS:-}$${JOBSPRINT_JWT_KEY_FILE:-}" ] && [ ! -s $(JWT_KEY) ]; then \
		(umask 077 && head -c 48 /dev/urandom | base64 | tr -d '\n' > $(JWT_KEY)); \
		echo "made a development token-signing key in $(JWT_KEY)"; \
	fi
