from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.factories import tiny_video


@pytest.fixture
def tiny_avi(tmp_path) -> Path:
    return tiny_video(tmp_path / "tiny.avi")


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file()) if path.exists() else []
