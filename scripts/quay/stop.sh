#!/usr/bin/env bash
# Stops what start.sh started in $QUAY_WORK, by its pid files only.
QUAY_WORK=${QUAY_WORK:?}
if [ -f "$QUAY_WORK/gunicorn.pid" ]; then
  pid=$(cat "$QUAY_WORK/gunicorn.pid")
  kill "$pid" 2>/dev/null && for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
fi
if [ -f "$QUAY_WORK/securityworker.pid" ]; then
  # It finishes a running operation on SIGTERM; a Clair call can take long.
  pid=$(cat "$QUAY_WORK/securityworker.pid")
  kill "$pid" 2>/dev/null && for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
fi
[ -f "$QUAY_WORK/redis/redis.pid" ] && kill "$(cat "$QUAY_WORK/redis/redis.pid")" 2>/dev/null
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -f "$QUAY_WORK/pg/data/postmaster.pid" ] && su postgres -c "$PGBIN/pg_ctl -D $QUAY_WORK/pg/data -m immediate stop" >/dev/null 2>&1
true
