"""Registries: how a lower app learns what the apps above it add, without importing them.

The apps form layers (README, Architecture): an app imports only the apps below it. Where a
lower app must act on something a higher app owns (run its kind of job, ask whether a row of
its own is in use up there, let the reaper check its rows), the lower app offers a
:class:`Registry` and the higher app fills it in its ``AppConfig.ready()``, which Django calls
for every installed app before a request is served or a task runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries, in the order they were registered; a name is registered once."""

    def __init__(self, what: str):
        self.what = what
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise ValueError(f"{self.what}: {name!r} is registered already")
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(self._entries) or "none"
            raise LookupError(f"{self.what}: nothing registered as {name!r} (registered: {known})") from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def items(self) -> list[tuple[str, T]]:
        return list(self._entries.items())

    def values(self) -> list[T]:
        return list(self._entries.values())
