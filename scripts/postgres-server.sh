#!/usr/bin/env bash
# Test-only: make sure the PostgreSQL 15 server binaries (initdb, pg_ctl, postgres) are on this
# machine, for the storage tests that run against a real server (bench/pgserver.py starts a
# throwaway one per test session, on a Unix socket in a temporary folder, as user postgres).
#
#   bash scripts/postgres-server.sh    # installs postgresql-15 with apt-get when it is missing
#
# Idempotent. The last line on stdout is the folder with the binaries.
set -euo pipefail

bindir="${THREADWISE_PG_BINDIR:-/usr/lib/postgresql/15/bin}"
if [ ! -x "$bindir/initdb" ] || [ ! -x "$bindir/pg_ctl" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "postgres-server: $bindir/initdb is missing; install postgresql-15 (as root)" >&2
        exit 1
    fi
    echo "postgres-server: installing postgresql-15 with apt-get (once)" >&2
    # No cluster of its own and no service started: the tests run their own server.
    mkdir -p /etc/postgresql-common
    if [ ! -f /etc/postgresql-common/createcluster.conf ]; then
        echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends postgresql-15 postgresql-client-15 >&2
fi
if ! id postgres >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
fi
echo "$bindir"
