"""Model artifacts: one pickle holding everything inference needs, a metadata JSON beside it.

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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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


def save_artifact(bundle: dict[str, Any], path: str | os.PathLike) -> tuple[str, dict]:
    """Write the bundle (must hold ``estimator``) and its metadata JSON; return (sha256, metadata)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"output {path} is a directory; give a file name such as model.pkl")
    payload = {"format_version": ARTIFACT_FORMAT_VERSION, **bundle}
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


def load_artifact(path: str | os.PathLike, *, expected_sha256: str) -> dict[str, Any]:
    """Unpickle an artifact only if its bytes hash to ``expected_sha256``."""
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
    if payload.get("format_version") != ARTIFACT_FORMAT_VERSION:
        raise IntegrityError(
            f"{path.name} has artifact format {payload.get('format_version')}, expected {ARTIFACT_FORMAT_VERSION}"
        )
    return payload
