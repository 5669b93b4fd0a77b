#!/usr/bin/env bash
# Starts a fresh PostgreSQL, Redis and Quay (one gunicorn app: web, API,
# registry, secscan; and Quay's security worker, which asks the Clair v4
# endpoint at $CLAIR_PORT) on 127.0.0.1 in $QUAY_WORK, creates the first user
# (admin / password123) and writes its OAuth token to $QUAY_WORK/init.json.
# Every process's PID is in a pid file under $QUAY_WORK; stop.sh ends them.
# With $QUAY_WATCH_PID, a watchdog runs stop.sh and removes $QUAY_WORK as
# soon as that process (the test binary) is gone, however it ended.
#   QUAY_PORT PG_PORT REDIS_PORT CLAIR_PORT  free loopback ports (required)
#   QUAY_SECURITY_WORKER                     0: no security worker (default 1)
#   QUAY_PUBLIC_PORT                         the port clients reach Quay on, when a
#                                            proxy stands in front (SERVER_HOSTNAME:
#                                            token realm, upload locations; default QUAY_PORT)
#   QUAYSIDE_QUAY_HOME                       as for setup.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
home=${QUAYSIDE_QUAY_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/quayside/quay-3.18.0}
src=$home/src venv=$home/venv
: "${QUAY_WORK:?}" "${QUAY_PORT:?}" "${PG_PORT:?}" "${REDIS_PORT:?}" "${CLAIR_PORT:?}"
[ -x "$venv/bin/gunicorn" ] || { echo "quay: no venv at $venv: run scripts/quay/setup.sh" >&2; exit 3; }
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)

mkdir -p "$QUAY_WORK"/{pg,redis,storage}
chmod 755 "$QUAY_WORK"
chown postgres "$QUAY_WORK/pg"
if [ -n "${QUAY_WATCH_PID:-}" ]; then
  # Detached, so that it outlives this script; it ends only what we started.
  setsid nohup bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; QUAY_WORK="$2" "$3/stop.sh"; rm -rf "$2"' \
    quay-watchdog "$QUAY_WATCH_PID" "$QUAY_WORK" "$here" >/dev/null 2>&1 &
  echo $! > "$QUAY_WORK/watchdog.pid"
fi

su postgres -c "$PGBIN/initdb -D $QUAY_WORK/pg/data -U postgres --auth=trust -E UTF8" >"$QUAY_WORK/initdb.log" 2>&1
su postgres -c "$PGBIN/pg_ctl -D $QUAY_WORK/pg/data -l $QUAY_WORK/pg/log -w -o '-c listen_addresses=127.0.0.1 -p $PG_PORT -k $QUAY_WORK/pg -c fsync=off' start" >/dev/null
psql -qh 127.0.0.1 -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -c "CREATE USER quay PASSWORD 'quay' SUPERUSER" -c "CREATE DATABASE quay OWNER quay"
psql -qh 127.0.0.1 -p "$PG_PORT" -U postgres -d quay -c "CREATE EXTENSION pg_trgm"
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes --pidfile "$QUAY_WORK/redis/redis.pid" \
  --dir "$QUAY_WORK/redis" --logfile "$QUAY_WORK/redis/log" --save ''

# Quay reads its config from $QUAYCONF/stack/config.yaml and writes its service key into $QUAYCONF.
cp -r "$src/conf" "$QUAY_WORK/conf"; mkdir -p "$QUAY_WORK/conf/stack"
sed -e "s#@QUAY_PORT@#${QUAY_PUBLIC_PORT:-$QUAY_PORT}#g" -e "s#@PG_PORT@#$PG_PORT#g" -e "s#@REDIS_PORT@#$REDIS_PORT#g" -e "s#@CLAIR_PORT@#$CLAIR_PORT#g" \
    -e "s#@STORAGE@#$QUAY_WORK/storage#g" "$here/config.yaml" > "$QUAY_WORK/conf/stack/config.yaml"
cp "$here/allinone.py" "$QUAY_WORK/allinone.py"
export QUAYCONF=$QUAY_WORK/conf PYTHONPATH=$src:$QUAY_WORK PATH=$venv/bin:$PATH QUAY_SRC=$src
cd "$src"
alembic upgrade head >"$QUAY_WORK/alembic.log" 2>&1
python boot.py >"$QUAY_WORK/boot.log" 2>&1   # the instance service key (expires after 120 min)
# No --preload, unlike Quay's own gunicorn configs: app.py connects the Redis
# client of its blob lock (GlobalLock, single_connection_client) at import, so
# preloaded workers share one Redis socket, read each other's answers ("Timeout
# reading from socket") and stall concurrent blob uploads for 5 to 60 s each
# (measured; see tests/all/quay_flows.rs). Each worker loads the app itself.
setsid nohup gunicorn --bind "127.0.0.1:$QUAY_PORT" --workers "${QUAY_WORKERS:-2}" --worker-class gevent \
  --worker-connections 50 --timeout 600 --pythonpath "$src:$QUAY_WORK" \
  --pid "$QUAY_WORK/gunicorn.pid" --access-logfile "$QUAY_WORK/access.log" --access-logformat "%(t)s %(p)s %(m)s %(U)s %(s)s %(L)s" allinone:application >"$QUAY_WORK/gunicorn.log" 2>&1 &
for _ in $(seq 1 600); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$QUAY_PORT/v2/")" = 401 ] && break
  sleep 0.1
done
# Quay's own security worker (workers/securityworker): indexes every pushed
# manifest by calling Clair v4's indexer and matcher at $CLAIR_PORT (a
# stand-in the test harness serves) every SECURITY_SCANNER_INDEXING_INTERVAL
# seconds. Started once the app answers, so that its import (~5 s of CPU)
# does not delay the app's start. QUAY_SECURITY_WORKER=0 leaves it out (with
# nothing at $CLAIR_PORT it only logs a connection error every second).
if [ "${QUAY_SECURITY_WORKER:-1}" != 0 ]; then
  setsid nohup python -m workers.securityworker.securityworker >"$QUAY_WORK/securityworker.log" 2>&1 &
  echo $! > "$QUAY_WORK/securityworker.pid"
fi
curl -sf -X POST "http://127.0.0.1:$QUAY_PORT/api/v1/user/initialize" -H 'Content-Type: application/json' \
  -d '{"username":"admin","password":"password123","email":"admin@example.com","access_token":true}' >"$QUAY_WORK/init.json"
echo "quay: http://127.0.0.1:$QUAY_PORT"
