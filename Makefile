# Jobsprint: `make run` and `make test` work on a fresh machine.
# Bring your own PostgreSQL with DATABASE_URL; otherwise scripts/services.sh
# installs (apt) and starts the local cluster and creates the database.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
DATA_DIR ?= .data
SERVICES = eval "$$(scripts/services.sh)"
SECRET_KEY = $(DATA_DIR)/secret.key
CARGO ?= cargo

.PHONY: run services build migrate test check fmt lint bench secret-key

## run: start what is needed, build, migrate and serve on 127.0.0.1:8080
run: secret-key
	@$(SERVICES); \
	$(CARGO) build --release --bin jobsprint; \
	export JOBSPRINT_SECRET_KEY_FILE="$${JOBSPRINT_SECRET_KEY_FILE:-$(SECRET_KEY)}"; \
	./target/release/jobsprint migrate; \
	exec ./target/release/jobsprint serve

## services: make sure PostgreSQL is running and the database exists
services:
	@$(SERVICES) >/dev/null && echo "services: ready"

## migrate: apply database migrations
migrate:
	@$(SERVICES); $(CARGO) run --quiet --bin jobsprint -- migrate

## test: formatting, lints and every test against the real database
test: fmt lint
	@$(SERVICES); $(CARGO) test --workspace --all-targets --locked

fmt:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

## bench: benchmark scenarios against the real services, one table
bench:
	@$(SERVICES); $(CARGO) run --release --locked --bin jobsprint-bench -- $(BENCH_ARGS)

# A development key for sealing integration credentials, made once. Production
# sets JOBSPRINT_SECRET_KEY (or _FILE) itself.
secret-key:
	@if [ -z "$${JOBSPRINT_SECRET_KEY:-}$${JOBSPRINT_SECRET_KEY_FILE:-}" ] && [ ! -s $(SECRET_KEY) ]; then \
		mkdir -p $(DATA_DIR) && umask 077 && head -c 32 /dev/urandom | base64 > $(SECRET_KEY); \
		echo "made a development secret key in $(SECRET_KEY)"; \
	fi
