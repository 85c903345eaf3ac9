"""Model artifacts: one pickle holding everything inference needs, a metadata JSON beside it.

The pickle holds a :class:`~taskml.pipeline.contracts.ModelBundle` as a plain dict
(``ModelBundle.to_dict()`` with a ``format_version``), so artifacts written before the bundle
was a class load as they are, and code that reads the dict keeps working.

A pickle can run code when loaded, so an artifact is only ever unpickled after its sha256
matches the checksum the caller holds from its own registry (the metadata JSON written at
save time, or the database row that recorded it).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import pickle
import platform
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .contracts import ModelBundle
from .errors import InputError, IntegrityError
from .files import atomic_path, sha256_file, write_json

ARTIFACT_FORMAT_VERSION = 1


def library_versions() -> dict[str, str]:
    import lightgbm
    import numpy
    import sklearn

    versions = {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "scikit-learn": sklearn.__version__,
        "lightgbm": lightgbm.__version__,
    }
    try:
        import torch

        versions["torch"] = torch.__version__
    except ImportError:  # pragma: no cover - torch is a requirement, but inference may not need it
        pass
    return versions


def sidecar_paths(model_path: str | os.PathLike) -> tuple[Path, Path]:
    """(metrics JSON, metadata JSON) that live beside a model file."""
    path = Path(model_path)
    return path.with_name(f"{path.stem}_metrics.json"), path.with_name(f"{path.stem}_meta.json")


def save_artifact(bundle: ModelBundle | Mapping[str, Any], path: str | os.PathLike) -> tuple[str, dict]:
    """Write a model bundle's pickle atomically, and its metadata JSON beside it.

    Parameters
    ----------
    bundle : ModelBundle or mapping
        The bundle (a mapping is read with ``ModelBundle.from_dict``: a bundle in its dict shape).
    path : path-like
        The pickle's file name; the metadata goes to ``<stem>_meta.json`` (:func:`sidecar_paths`).

    Returns
    -------
    sha256 : str
        The pickle's checksum: the only key that may unpickle it again (:func:`load_artifact`).
    metadata : dict
        What ``<stem>_meta.json`` holds: the bundle without its fitted objects, the file's name,
        checksum, size, creation time and the library versions.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"output {path} is a directory; give a file name such as model.pkl")
    if not isinstance(bundle, ModelBundle):
        bundle = ModelBundle.from_dict(bundle)
    payload = {"format_version": ARTIFACT_FORMAT_VERSION, **bundle.to_dict()}
    data = pickle.dumps(payload, protocol=5)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    digest = sha256_file(path)
    # The fitted objects (the estimator, a fitted window representation) are not metadata.
    metadata = {key: value for key, value in payload.items() if key not in ("estimator", "representation")}
    metadata.update(
        {
            "artifact": path.name,
            "sha256": digest,
            "size_bytes": len(data),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "versions": library_versions(),
        }
    )
    write_json(sidecar_paths(path)[1], metadata)
    return digest, metadata


def load_artifact(path: str | os.PathLike, *, expected_sha256: str) -> ModelBundle:
    """Unpickle a model artifact, only if its bytes hash to ``expected_sha256``.

    Parameters
    ----------
    path : path-like
        The pickle written by :func:`save_artifact` (or by code from before ModelBundle).
    expected_sha256 : str
        The checksum the caller holds from its own registry (the database row, ``_meta.json``).

    Returns
    -------
    ModelBundle

    Raises
    ------
    InputError
        The file does not exist.
    IntegrityError
        No checksum, a checksum that does not match, another artifact format, or a pickle that
        is not a model bundle.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"model file not found: {path}")
    if not expected_sha256:
        raise IntegrityError(f"no checksum on record for {path.name}; refusing to load it")
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if not hmac.compare_digest(actual, expected_sha256.lower()):
        raise IntegrityError(f"{path.name} does not match its recorded checksum; refusing to load it")
    payload = pickle.loads(data)  # noqa: S301 - checksum verified above
    version = payload.get("format_version") if isinstance(payload, dict) else None
    if version != ARTIFACT_FORMAT_VERSION:
        raise IntegrityError(f"{path.name} has artifact format {version}, expected {ARTIFACT_FORMAT_VERSION}")
    try:
        return ModelBundle.from_dict(payload)
    except InputError as exc:
        raise IntegrityError(f"{path.name}: {exc}") from None
