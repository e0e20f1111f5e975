# cxpulse: the one entry point for people and CI. `make help` lists every target.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := clickhouse-server clickhouse-client prometheus prometheus-alertmanager mosquitto fonts-dejavu-core libpango-1.0-0 libpangoft2-1.0-0
CLUSTER_APT_PACKAGES := zookeeper
TEST_APT_PACKAGES := chromium chromium-driver zookeeper redis-server poppler-utils
CXPULSE := $(BIN)/cxpulse
COMPOSE_VENV := .venv-compose
# docker-compose 1.29.2 pins old libraries (PyYAML 5, whose sdist needs Cython < 3 to build): its own venv
COMPOSE_PINS := docker-compose==1.29.2 pyyaml==5.4.1
# Bytewax and Quix Streams, the peers `make bench` measures beside our worker: benchmark tools in a venv
# of their own (every package pinned in bench/peers/requirements.txt), never dependencies of ours
PEERS_VENV := .venv-peers

.DEFAULT_GOAL := help
.PHONY: help setup system-packages test-packages demo up down status test lint unit integration dashboards cluster-sql cluster-up cluster-down cluster-status cluster-test compose-venv peers-venv bench bench-soak bench-fcr bench-lookup bench-fcr-read bench-ingest bench-alerts chaos

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

# apt-get what is missing of $(1) (root, or through sudo); idempotent.
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if ! $(PYTHON) -c 'import venv, ensurepip' >/dev/null 2>&1; then missing="$$missing python3-venv"; fi; \
	if [ -n "$$missing" ]; then \
		echo "installing system packages:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
endef

system-packages: ## apt-get the servers the stack runs (ClickHouse, Prometheus, Alertmanager, Mosquitto)
	$(call apt_install,$(APT_PACKAGES))

test-packages: ## apt-get what only the tests need (Chromium and its driver, ZooKeeper, Redis)
	$(call apt_install,$(TEST_APT_PACKAGES))

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

setup: system-packages $(VENV)/.installed ## install everything (system packages and .venv/); idempotent

$(COMPOSE_VENV)/.installed: Makefile
	@test -x $(COMPOSE_VENV)/bin/python || $(PYTHON) -m venv $(COMPOSE_VENV)
	$(COMPOSE_VENV)/bin/pip install -q --upgrade pip "cython<3" wheel "setuptools<70"
	$(COMPOSE_VENV)/bin/pip install -q --no-build-isolation $(COMPOSE_PINS)
	@touch $@

compose-venv: $(COMPOSE_VENV)/.installed ## docker-compose (validates infra/compose) in its own venv

up: setup ## start the local stack (broker, MQTT, ClickHouse, Prometheus, Alertmanager, webhook, ingest API, worker), wait until healthy
	$(CXPULSE) stack up

down: ## stop everything `make up` / `make demo` started
	@if [ -x $(CXPULSE) ]; then $(CXPULSE) stack down; else echo "nothing to stop"; fi

status: ## each component, its port, pid and health
	$(CXPULSE) stack status

demo: setup ## the whole stack, simulated traffic, and a live view of the figures (Ctrl-C to leave)
	$(CXPULSE) demo

lint: $(VENV)/.installed ## ruff, mypy --strict, the dashboard and cluster-SQL drift checks
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m dashboards.build --check
	$(BIN)/python -m sql.clustering --check

unit: $(VENV)/.installed $(COMPOSE_VENV)/.installed ## fast tests, no servers
	$(BIN)/pytest -q tests/unit tests/contract

test: setup test-packages lint $(COMPOSE_VENV)/.installed ## everything CI runs: lint, unit, contract and integration tests on the real components
	$(BIN)/pytest -q tests

cluster-sql: $(VENV)/.installed ## regenerate sql/cluster/ (each migration's ReplicatedMergeTree + Distributed form)
	$(BIN)/python -m sql.clustering

cluster-up: setup ## a local ClickHouse cluster (2 shards x 2 replicas, ZooKeeper) in .run/cluster/
	$(call apt_install,$(CLUSTER_APT_PACKAGES))
	$(CXPULSE) cluster up

cluster-down: ## stop the local cluster
	@if [ -x $(CXPULSE) ]; then $(CXPULSE) cluster down; else echo "nothing to stop"; fi

cluster-status: ## each cluster process, its port, pid and health
	$(CXPULSE) cluster status

cluster-test: setup test-packages ## the cluster test alone (its own 2x2 cluster, ~45 s; `make test` runs it too)
	$(BIN)/pytest -q tests/integration/test_cluster.py

dashboards: $(VENV)/.installed ## regenerate dashboards/generated/*.json from the boards as code
	$(BIN)/python -m dashboards.build

$(PEERS_VENV)/.installed: bench/peers/requirements.txt
	@test -x $(PEERS_VENV)/bin/python || $(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/pip install -q --upgrade pip
	$(PEERS_VENV)/bin/pip install -q -r bench/peers/requirements.txt
	@touch $@

peers-venv: $(PEERS_VENV)/.installed ## Bytewax and Quix Streams for `make bench`, in .venv-peers (not our dependencies)

bench: setup peers-venv ## one workload, one broker: R, Bytewax, Quix Streams, our worker x1 and x2, latency at half load (~10 min)
	$(BIN)/python -m bench.side_by_side --events 100000

bench-soak: setup ## 30 minutes at half of one worker's events/s: worker RSS sampled (flat or not), latency
	$(BIN)/python -m bench.soak --minutes 30

bench-fcr: setup ## FCR benchmark: contacts/s through the FCR agent and worker RSS with 1M keys (~12 min)
	$(BIN)/python -m bench.fcr --contacts 1000000

bench-lookup: setup ## dedupe look-up of a batch as touchpoint_events grows to 1M, 4M, 8M events: whole column vs the worker's index (~3 min)
	$(BIN)/python -m bench.lookup

bench-fcr-read: setup ## FCR history read of 200 and 2,000 keys as fcr_contacts grows to 1M, 3M, 6M rows: IN vs GLOBAL IN, rows read (~3 min)
	$(BIN)/python -m bench.fcr_read

bench-ingest: setup ## HTTP ingest: signed requests/s, events/s and latency to the Kafka ack, batches of 1, 20, 200
	$(BIN)/python -m bench.ingest

bench-alerts: setup ## alert quality: false alarms on stable traffic, detection/resolution delays of incidents
	$(BIN)/python -m bench.alerts

chaos: setup ## fault matrix on the real stack: kills, outages, redelivery, backfill, poison (~15 min)
	$(BIN)/python -m tests.chaos
