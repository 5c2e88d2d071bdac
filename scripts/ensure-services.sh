#!/usr/bin/env bash
# Starts what the tests need if it is not running: PostgreSQL on 127.0.0.1:5432 and NATS with
# JetStream on 127.0.0.1:4222 (`quanzu ingest nats`).
set -euo pipefail
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if ! command -v pg_ctlcluster >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  version=$(ls /etc/postgresql | sort -V | tail -n1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432

nats_up() { (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; }
if ! nats_up; then
  if ! command -v nats-server >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
  fi
  store=${QUANZU_NATS_STORE:-/tmp/quanzu-nats}
  mkdir -p "$store"
  nohup nats-server -a 127.0.0.1 -p 4222 -js -sd "$store" -l "$store/nats-server.log" >/dev/null 2>&1 &
  for _ in $(seq 1 30); do nats_up && break; sleep 0.5; done
fi
nats_up && echo "127.0.0.1:4222 - NATS accepting connections"
