"""Where the service keeps its files, under ``settings.DATA_DIR``.

The layout is the one existing users know::

    uploads/<owner id>/            uploaded videos (uploads/.incoming holds uploads in flight)
    processed/features/<owner id>/ per-frame feature Parquet files
    processed/datasets/dataset_<id>/
    mlruns/models/task_classifier_<type>_<id>.pkl (+ _metrics.json, _meta.json)

Rows store paths relative to DATA_DIR; nothing here ever joins a caller-supplied string into
a path except through :func:`safe_name`, which refuses separators and ``..``.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from django.conf import settings
from django.db import transaction

from taskml.domain import ValidationFailed

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def data_dir() -> Path:
    return Path(settings.DATA_DIR)


def uploads_dir(owner_id: int) -> Path:
    return data_dir() / "uploads" / str(owner_id)


def features_dir(owner_id: int) -> Path:
    return data_dir() / "processed" / "features" / str(owner_id)


def datasets_dir() -> Path:
    return data_dir() / "processed" / "datasets"


def models_dir() -> Path:
    return data_dir() / "mlruns" / "models"


def relative(path: Path) -> str:
    return str(Path(path).resolve().relative_to(data_dir()))


def absolute(relative_path: str) -> Path:
    """The file a row points at; refuses anything that would leave DATA_DIR."""
    root = data_dir()
    path = (root / relative_path).resolve()
    if not path.is_relative_to(root):
        raise ValueError(f"stored path {relative_path!r} leaves the data directory")
    return path


def check_name(value: str, *, field: str) -> str:
    """A caller-supplied object name: refused when it could address a path."""
    value = (value or "").strip()
    if not value:
        raise ValidationFailed(field, "may not be blank")
    if "/" in value or "\\" in value or ".." in value or "\x00" in value:
        raise ValidationFailed(field, f"{value!r} is a name, not a path: no '/', '\\' or '..'")
    return value


def safe_name(value: str, *, default: str = "file") -> str:
    """A file-name fragment derived from user text: letters, digits, '.', '_' and '-' only."""
    cleaned = _UNSAFE.sub("_", value).strip("._")[:80]
    return cleaned or default


def remove(relative_path: str) -> None:
    """Remove a stored file or directory and its sidecars; missing is fine."""
    if not relative_path:
        return
    path = absolute(relative_path)
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def remove_on_commit(*relative_paths: str) -> None:
    """Remove stored files or directories once the surrounding transaction commits (never, if it
    rolls back): a deleted row's files go only when the row is gone for good."""
    paths = [path for path in relative_paths if path]

    def remove_all() -> None:
        for path in paths:
            remove(path)

    transaction.on_commit(remove_all)
