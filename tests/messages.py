"""Checking the exact text of an error: the message is part of the contract (CLI, API, websockets)."""

from __future__ import annotations

import re


def exactly(message: str) -> str:
    """A ``pytest.raises(match=...)`` pattern that only the whole of ``message`` matches."""
    return f"^{re.escape(message)}$"
