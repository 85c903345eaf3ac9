#!/usr/bin/env bash
# `make run`: the whole product on one machine. With nothing configured it uses SQLite and an
# embedded Celery broker (a SQLite file) under $TASKML_DATA_DIR (./data); with DATABASE_URL and
# REDIS_URL it uses PostgreSQL and Redis. Starts one Celery worker and the web server
# (daphne, HTTP + websockets) on $TASKML_HOST:$TASKML_PORT (127.0.0.1:8001). Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
HOST=${TASKML_HOST:-127.0.0.1}
PORT=${TASKML_PORT:-8001}
DATA=${TASKML_DATA_DIR:-data}
mkdir -p "$DATA/logs"

# YOLO weights come from the internet on first use. Offline, with no weights on disk, fall back
# to the untrained network built from its config so every detector runs (objects are then noise).
if [ -z "${TASKML_YOLO_MODEL:-}" ] && [ ! -f yolov8n.pt ] && ! timeout 3 getent hosts github.com >/dev/null 2>&1; then
  export TASKML_YOLO_MODEL=yolov8n.yaml
  echo "note: offline and no yolov8n.pt here: YOLO runs untrained (yolov8n.yaml); set TASKML_YOLO_MODEL to real weights"
fi

$PY manage.py migrate --noinput -v0
$PY manage.py collectstatic --noinput -v0
$PY manage.py ensure_admin

$PY -m celery -A taskml.celery worker -Q default,extraction,datasets,training -c "${TASKML_WORKER_CONCURRENCY:-1}" \
  -l info -n "embedded-$$@%h" >>"$DATA/logs/worker.log" 2>&1 &
WORKER=$!
trap 'kill $WORKER 2>/dev/null; wait $WORKER 2>/dev/null || true' EXIT INT TERM

echo "worker         pid $WORKER, log $DATA/logs/worker.log"
echo "serving        http://$HOST:$PORT/  (admin /admin/, API /api/v1/, docs /api/v1/docs/, /backend/)"
$PY -m daphne -b "$HOST" -p "$PORT" taskml.asgi:application
