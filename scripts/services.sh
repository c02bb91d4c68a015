#!/usr/bin/env bash
# Starts the local services the tests use (Redis, NATS with JetStream, PostgreSQL) when
# they are not already running. Idempotent; safe to run before every test run.
set -uo pipefail
up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if ! up 6379 && command -v redis-server >/dev/null; then
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || redis-server --daemonize yes --port 6379 --save ""
fi
if ! up 4222 && command -v nats-server >/dev/null; then
  mkdir -p /var/lib/nats-server 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec "$(command -v nats-server)" -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log || true
fi
if ! up 5432 && command -v pg_ctlcluster >/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi
for port in 6379 4222; do
  for _ in $(seq 1 50); do up $port && break; sleep 0.1; done
  up $port || echo "warning: nothing listens on 127.0.0.1:$port" >&2
done
