"""Django settings for taskml.

Everything comes from the environment through one ``env`` object (see .env.example).
With nothing configured the project runs on embedded defaults: SQLite and files under
``./data``. A required value that is missing in production fails loudly at start-up.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env(
    DEBUG=(bool, False),
    TASKML_DATA_DIR=(str, str(BASE_DIR / "data")),
    TASKML_YOLO_MODEL=(str, ""),
    TASKML_DEVICE=(str, "cpu"),
)
env_file = BASE_DIR / ".env"
if env_file.exists():
    environ.Env.read_env(str(env_file))

DEBUG = env.bool("TASKML_DEBUG", default=env("DEBUG"))  # either name; off unless set
DATA_DIR = Path(env("TASKML_DATA_DIR")).resolve()


def _secret_key() -> str:
    """SECRET_KEY from the environment; outside production a random key kept in DATA_DIR."""
    key = env("SECRET_KEY", default=None) or env("DJANGO_SECRET_KEY", default=None)
    if key:
        return key
    if env.bool("TASKML_PRODUCTION", default=False):
        raise environ.ImproperlyConfigured("SECRET_KEY (or DJANGO_SECRET_KEY) must be set when TASKML_PRODUCTION=1")
    key_file = DATA_DIR / ".secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

# Deployment security. TASKML_PRODUCTION=1 (a site served over HTTPS) requires SECRET_KEY and
# turns on HTTPS-only cookies, HSTS and the redirect to HTTPS, each overridable; `manage.py
# check --deploy` passes with it. Behind a proxy that terminates TLS, TASKML_BEHIND_PROXY=1
# trusts its X-Forwarded-Proto/-For headers (only set it when the proxy overwrites them), and
# TASKML_SSL_REDIRECT=0 leaves the redirect to the proxy. Locally (`make run`) all stay off.
PRODUCTION = env.bool("TASKML_PRODUCTION", default=False)
TASKML_BEHIND_PROXY = env.bool("TASKML_BEHIND_PROXY", default=False)
if TASKML_BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("TASKML_SSL_REDIRECT", default=PRODUCTION)
SECURE_HSTS_SECONDS = env.int("TASKML_HSTS_SECONDS", default=31536000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("TASKML_HSTS_INCLUDE_SUBDOMAINS", default=PRODUCTION)
SECURE_HSTS_PRELOAD = env.bool("TASKML_HSTS_PRELOAD", default=PRODUCTION)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("TASKML_SECURE_COOKIES", default=PRODUCTION)
SESSION_COOKIE_HTTPONLY = True
CSRF_TRUSTED_ORIGINS = env.list("TASKML_CSRF_TRUSTED_ORIGINS", default=[])  # e.g. https://taskml.example.org
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SILENCED_SYSTEM_CHECKS = []
if PRODUCTION and TASKML_BEHIND_PROXY and not SECURE_SSL_REDIRECT:
    SILENCED_SYSTEM_CHECKS.append("security.W008")  # the proxy redirects to HTTPS (TASKML_SSL_REDIRECT=0)

# Throttles (taskml/throttles.py): "N/period" (s, min, h, day) or "off". Uploads are counted per
# user; failed sign-ins (passwords on any login page, unknown API tokens) per client address and
# per username, locking further attempts out with 429 + Retry-After until old failures age out.
TASKML_THROTTLE_UPLOADS = env("TASKML_THROTTLE_UPLOADS", default="120/min")
TASKML_THROTTLE_AUTH = env("TASKML_THROTTLE_AUTH", default="20/min")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_celery_beat",
    "jobs",
    "videos",
    "datasets",
    "models_app",
    "streaming",
    "learning",
    "retraining",
    "backend",
    "lsbackend",  # the Label Studio ML backend (/ls-backend/)
    "web",
    "users",  # the admin's user pages: deleting a user deletes their objects and files (users.services)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "taskml.middleware.DatabaseUnavailableMiddleware",  # a database that went away → 503 JSON
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "taskml.throttles.LoginThrottleMiddleware",  # 429 on sign-in POSTs while locked out
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "taskml.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]
WSGI_APPLICATION = "taskml.wsgi.application"
ASGI_APPLICATION = "taskml.asgi.application"

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'taskml.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default: the web server and a worker share one file. WAL lets readers
    # go on during a write, IMMEDIATE transactions take the write lock up front (no
    # upgrade deadlocks) and the timeout makes a busy writer wait instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        }
    )
else:
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# Uploads: streamed to temporary files on disk (never held in memory beyond 2.5 MB) and
# refused once they pass TASKML_MAX_UPLOAD_MB.
FILE_UPLOAD_HANDLERS = ["videos.uploads.LimitedTemporaryFileUploadHandler"]
FILE_UPLOAD_TEMP_DIR = str(DATA_DIR / "uploads" / ".incoming")
Path(FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)
TASKML_MAX_UPLOAD_BYTES = env.int("TASKML_MAX_UPLOAD_MB", default=4096) * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024  # form fields other than files

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "taskml.throttles.ThrottledTokenAuthentication",  # DRF tokens; unknown ones count as failed sign-ins
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "taskml.filters.FilterBackend",  # django-filter; date-times turned into UTC before the query
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "taskml.api_errors.api_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["taskml.throttles.UploadThrottle"],  # rates: TASKML_THROTTLE_*
}
SPECTACULAR_SETTINGS = {
    "TITLE": "taskml API",
    "DESCRIPTION": "Videos, labels, feature files, datasets, trained models and jobs.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "jobs.models.Job.Status",
        "ArtifactStatusEnum": "jobs.models.TARGET_STATUS_CHOICES",
        "LiveSessionStatusEnum": "streaming.models.LiveSession.Status",
        "LiveSourceEnum": "streaming.models.LiveSession.Source",
        "LabelSourceEnum": "videos.models.LabelSpan.Source",
        # one window-representation choice set, shared by /api/v1/models/ and /backend/train_task_model
        "TrainRequestAggregationEnum": ["stats", "flatten", "multiscale", "minirocket", "sequence"],
    },
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "TAGS": [
        {
            "name": "backend (compatibility contract)",
            "description": "The /backend/ endpoints existing clients call (form fields or JSON, answers with "
            "`status` and, on errors, `alert`). Their field names, defaults and response keys do not change; "
            "only values that could never work are refused.",
        }
    ],
}

# Celery: Redis when REDIS_URL is set, otherwise an embedded broker in a SQLite file so a
# real worker runs with no external service. Job state lives in Job rows, not in results.
REDIS_URL = env("REDIS_URL", default="")
CELERY_BROKER_URL = (
    env("CELERY_BROKER_URL", default="") or REDIS_URL or f"sqla+sqlite:///{DATA_DIR / 'celery-broker.sqlite3'}"
)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# A redelivered message must not start a second copy of a job that is still running; the
# job row decides (see jobs.services.job_claim), so this only bounds how late a lost
# message comes back. Stale jobs are re-queued sooner by the workers' reaper.
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("TASKML_VISIBILITY_TIMEOUT", default=6 * 3600)}

# Jobs: soft time limits per queue (seconds), how long a running job may go without a
# heartbeat before a worker re-queues it, and how long /backend/ POSTs wait for their job.
TASKML_JOB_TIME_LIMITS = {
    "extraction": env.int("TASKML_EXTRACTION_TIME_LIMIT", default=4 * 3600),
    "datasets": env.int("TASKML_DATASET_TIME_LIMIT", default=3600),
    "training": env.int("TASKML_TRAINING_TIME_LIMIT", default=4 * 3600),
}
TASKML_JOB_HEARTBEAT_SECONDS = env.float("TASKML_JOB_HEARTBEAT_SECONDS", default=10.0)
TASKML_JOB_STALE_SECONDS = env.float("TASKML_JOB_STALE_SECONDS", default=120.0)
TASKML_BACKEND_WAIT_SECONDS = env.float("TASKML_BACKEND_WAIT_SECONDS", default=600.0)
TASKML_JOB_MAX_ATTEMPTS = env.int("TASKML_JOB_MAX_ATTEMPTS", default=3)  # worker deaths before a job fails

# Bounded work: what one request may ask for and one user may have (README, "Limits").
# A job may allocate this much memory in its worker process; past it the job fails as too_large
# (jobs.memory). A pool process whose memory is past it after a task is replaced (taskml.celery).
TASKML_WORKER_MAX_MEMORY_MB = env.int("TASKML_WORKER_MAX_MEMORY_MB", default=3072)
# glibc malloc arenas per worker pool process (jobs.memory.limit_malloc_arenas); 0: glibc's default.
TASKML_MALLOC_ARENAS = env.int("TASKML_MALLOC_ARENAS", default=2)
TASKML_MAX_DATASET_MB = env.int("TASKML_MAX_DATASET_MB", default=1024)  # X arrays of one dataset build
TASKML_MAX_EXTRACTION_FRAMES = env.int("TASKML_MAX_EXTRACTION_FRAMES", default=1_000_000)  # frames one extraction reads
TASKML_MAX_ACTIVE_JOBS_PER_USER = env.int("TASKML_MAX_ACTIVE_JOBS_PER_USER", default=10)  # pending + running; 0: none
TASKML_MAX_LIVE_SESSIONS_PER_USER = env.int("TASKML_MAX_LIVE_SESSIONS_PER_USER", default=4)  # pending + running
TASKML_MAX_STORAGE_MB_PER_USER = env.int("TASKML_MAX_STORAGE_MB_PER_USER", default=100 * 1024)  # 0: no limit

# Live sessions: their own queue and workers; how long one may run; viewers' queues.
TASKML_LIVE_TIME_LIMIT = env.int("TASKML_LIVE_TIME_LIMIT", default=12 * 3600)
# Pictures of a live session (the analysed frames with overlays): at most this many a second, this
# many pixels wide; TASKML_LIVE_FRAME_FPS=0 sends none.
TASKML_LIVE_FRAME_FPS = env.float("TASKML_LIVE_FRAME_FPS", default=4.0)
TASKML_LIVE_FRAME_WIDTH = env.int("TASKML_LIVE_FRAME_WIDTH", default=480)
# Keep the web process free for live fan-out (taskml.admission): uploads stored at once per server
# process (beyond: 503 with Retry-After: TASKML_ADMISSION_RETRY_AFTER s), labeller frames decoded at
# once (the next waits up to TASKML_FRAME_WAIT_SECONDS, then 503); 0: no limit.
TASKML_UPLOAD_CONCURRENCY = env.int("TASKML_UPLOAD_CONCURRENCY", default=2)
TASKML_FRAME_CONCURRENCY = env.int("TASKML_FRAME_CONCURRENCY", default=2)
TASKML_FRAME_WAIT_SECONDS = env.float("TASKML_FRAME_WAIT_SECONDS", default=10.0)
TASKML_ADMISSION_RETRY_AFTER = env.int("TASKML_ADMISSION_RETRY_AFTER", default=1)
# The web server's sys.setswitchinterval: a thread busy with a request hands the GIL back to the
# event loop (websocket sends) after this many seconds (Python's default is 0.005).
TASKML_WEB_SWITCH_INTERVAL = env.float("TASKML_WEB_SWITCH_INTERVAL", default=0.001)
# A live worker process keeps its detectors (MediaPipe graphs) between sessions instead of building
# new ones per session (streaming.detector_cache); False builds them per session.
TASKML_LIVE_DETECTOR_CACHE = env.bool("TASKML_LIVE_DETECTOR_CACHE", default=True)
# A viewer that hears nothing for this long checks whether its session ended (a lost "finished").
TASKML_VIEWER_WATCH_SECONDS = env.float("TASKML_VIEWER_WATCH_SECONDS", default=5.0)
# A live session that follows a retraining policy looks up its champion this often (seconds).
TASKML_LIVE_POLICY_CHECK_SECONDS = env.float("TASKML_LIVE_POLICY_CHECK_SECONDS", default=5.0)
TASKML_MAX_FRAME_BYTES = env.int("TASKML_MAX_FRAME_BYTES", default=4 * 1024 * 1024)
# A dotted path to ``caption(session=..., prediction=...) -> str | None`` (e.g. a call to a
# vision-language model); none by default.
TASKML_CAPTION_PROVIDER = env("TASKML_CAPTION_PROVIDER", default="")

CHANNEL_LAYERS = {
    "default": (
        {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}
        if REDIS_URL
        # Embedded default: a SQLite file shared by the web server and the workers on this machine.
        else {"BACKEND": "streaming.layers.SQLiteChannelLayer", "CONFIG": {"path": str(DATA_DIR / "channels.sqlite3")}}
    ),
    # Live sessions' predictions (streaming.conflation.LIVE_LAYER): newest wins, no backlog per viewer.
    # Redis pub/sub keeps no per-channel list that a busy web process would read seconds late, and
    # in the web process a newer sample replaces one still waiting for a viewer; the SQLite layer
    # replaces a viewer's pending sample with the newer one instead of appending it.
    "live": (
        {"BACKEND": "streaming.layers.NewestWinsPubSubChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}
        if REDIS_URL
        else {
            "BACKEND": "streaming.layers.SQLiteChannelLayer",
            "CONFIG": {"path": str(DATA_DIR / "channels-live.sqlite3"), "newest_wins": True},
        }
    ),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("TASKML_LOG_LEVEL", default="INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}

# Pipeline settings shared by the CLI, workers and live sessions.
# The object detector: YOLO weights/config or a .tflite SSD; unset: the pretrained COCO SSD that
# scripts/fetch_models.sh installs into TASKML_MODELS_DIR (taskml/pipeline/objects.py).
TASKML_YOLO_MODEL = env("TASKML_YOLO_MODEL")
TASKML_MODELS_DIR = Path(env("TASKML_MODELS_DIR", default=str(BASE_DIR / "data" / "models"))).resolve()
TASKML_DEVICE = env("TASKML_DEVICE")
# Extraction speed (measured by bench/extraction.py; see README *Benchmarks*). The object detector
# runs on every k-th frame and its boxes are carried between (k=2: object agreement 0.95+ with
# every frame); MediaPipe's model complexities (pose 0/1/2, hands 0/1). Live sessions use the same.
TASKML_OBJECT_EVERY_K = env.int("TASKML_OBJECT_EVERY_K", default=2)
TASKML_POSE_COMPLEXITY = env.int("TASKML_POSE_COMPLEXITY", default=1)
TASKML_HANDS_COMPLEXITY = env.int("TASKML_HANDS_COMPLEXITY", default=1)
# A video longer than TASKML_CHUNK_SECONDS is extracted in chunks of that length by every worker
# on the extraction queue (0: never chunk); each chunk starts TASKML_CHUNK_OVERLAP_SECONDS early so
# MediaPipe's tracking settles before its first kept frame.
TASKML_CHUNK_SECONDS = env.float("TASKML_CHUNK_SECONDS", default=120.0)
TASKML_CHUNK_OVERLAP_SECONDS = env.float("TASKML_CHUNK_OVERLAP_SECONDS", default=1.0)
