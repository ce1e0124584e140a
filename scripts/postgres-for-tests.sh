#!/usr/bin/env bash
# A throwaway PostgreSQL 15 for the tests: made in a temporary folder with initdb, started with
# pg_ctl on 127.0.0.1 (no system service), as the unprivileged `postgres` user when run as root.
#   scripts/postgres-for-tests.sh start   # prints the URL to export as NIGHTSHIFT_TEST_POSTGRES
#   scripts/postgres-for-tests.sh stop
# Trust authentication on loopback, for this test server only (but for the role
# nightshift_password, password the-right-password, for the tests of a wrong one); nothing is kept.
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
dir=${NIGHTSHIFT_PG_DIR:-${TMPDIR:-/tmp}/nightshift-test-postgres}
port=${NIGHTSHIFT_PG_PORT:-55432}
# More addresses to listen on, beside 127.0.0.1 (their /24 trusted): the multi-host test's veth ends.
extra=${NIGHTSHIFT_PG_LISTEN:-}
as=()
if [ "$(id -u)" -eq 0 ]; then as=(setpriv --reuid=postgres --regid=postgres --init-groups); fi

case "${1:-start}" in
start)
  [ -n "$bin" ] || { echo "postgres-for-tests: PostgreSQL is not installed (apt-get install postgresql-15)" >&2; exit 1; }
  if [ -f "$dir/data/postmaster.pid" ]; then "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; fi
  rm -rf "$dir"
  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$dir"; fi
  "${as[@]}" "$bin/initdb" -D "$dir/data" -U nightshift --auth=trust -E UTF8 --no-instructions >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  # Trust on loopback, except one role that must give its password (the tests of a wrong one).
  printf '%s\n' 'local all all trust' 'host all nightshift_password 127.0.0.1/32 scram-sha-256' \
    'host all all 127.0.0.1/32 trust' >"$dir/data/pg_hba.conf"
  listen=127.0.0.1
  for a in ${extra//,/ }; do
    echo "host all all ${a%.*}.0/24 trust" >>"$dir/data/pg_hba.conf"
    listen="$listen,$a"
  done
  "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=$listen -p $port -k $dir -c max_connections=600" start >/dev/null \
    || { cat "$dir/server.log" >&2; exit 1; }
  "$bin/psql" -q -h 127.0.0.1 -p "$port" -U nightshift -d postgres \
    -c "CREATE ROLE nightshift_password LOGIN CREATEDB PASSWORD 'the-right-password'" >/dev/null
  echo "postgres://nightshift@127.0.0.1:$port/postgres"
  ;;
restart)
  # Fast: the server stops its connections, as a failover or an upgrade would.
  "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 restart >/dev/null
  ;;
stop)
  if [ -n "$bin" ] && [ -d "$dir/data" ]; then "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null || true; fi
  rm -rf "$dir"
  ;;
*)
  echo "usage: $0 start|restart|stop" >&2
  exit 64
  ;;
esac
