"""Newest wins: what a live viewer (or a session's publisher) has still to send.

A live session publishes a ``sample`` (the current prediction) ten or more times a second and a
``frame`` (a picture) a few times a second. Each supersedes the one before it: a viewer that falls
behind wants the latest state, not a backlog of old ones. So an :class:`Outbox` keeps at most one
pending message per conflated stage (the newest), counts the ones it replaced, and hands those
counts out with the message that replaced them (``skipped``: "n updates skipped").

Every other message (``hello``, ``started``, ``model_changed``, ``alert``, ``finished``) is a
control message: never dropped, never conflated, sent in the order it came, and before a sample
that came after it (a sample that replaces a waiting one takes its own, later, place). Pictures
go last: one is sent only when nothing else waits, so a slow link shows fewer pictures and its
predictions are never late behind them.

Pure Python with no asyncio: the caller wakes its sender when :meth:`Outbox.put` returns.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

# The channel layer alias for live sessions' messages (settings.CHANNEL_LAYERS): Redis pub/sub, or
# the SQLite layer in newest-wins mode, so no backlog builds up per viewer there either.
LIVE_LAYER = "live"

# Stages where a newer message makes an older pending one worthless; pictures (frame) also, but
# sent only when nothing else waits.
CONFLATED = ("sample", "status")
PICTURE = "frame"


@dataclass
class _Slot:
    order: int
    message: dict
    skipped: int = 0


class Outbox:
    """Pending messages of one viewer: newest wins for samples and pictures, control messages kept in order."""

    def __init__(self, *, conflate: bool = True) -> None:
        # conflate=False: every sample is kept, in order (a session reading a file faster than real
        # time, whose clients want every frame's prediction); pictures are still newest-wins.
        self.conflate = conflate
        self._order = 0
        self._control: collections.deque[tuple[int, dict]] = collections.deque()
        self._slots: dict[str, _Slot] = {}
        self.skipped = 0  # samples superseded before they were sent, in all
        self.pictures_skipped = 0
        self._carried = 0  # superseded before they reached this outbox (the channel layer), not yet told

    def __len__(self) -> int:
        return len(self._control) + len(self._slots)

    def __bool__(self) -> bool:
        return bool(self._control or self._slots)

    def put(self, message: dict) -> None:
        self._order += 1
        stage = message.get("stage")
        if stage != PICTURE and (stage not in CONFLATED or not self.conflate):
            self._control.append((self._order, message))
            return
        slot = self._slots.get(stage)
        if slot is None:
            self._slots[stage] = _Slot(self._order, message)
            return
        if stage == PICTURE:
            self.pictures_skipped += 1
        else:
            self.skipped += 1
        # The newer one goes after whatever came before it (a model_changed, say), as it would have.
        slot.order, slot.message, slot.skipped = self._order, message, slot.skipped + 1

    def add_skipped(self, count: int) -> None:
        """Samples superseded on their way here (in the channel layer): told with the next sample."""
        self.skipped += count
        self._carried += count

    def discard(self, stage: str) -> None:
        """Forget a pending conflated message (e.g. pictures turned off)."""
        self._slots.pop(stage, None)

    def pop(self) -> dict | None:
        """The next message to send (with ``skipped`` on a conflated one), or None when nothing waits."""
        candidates = [(self._control[0][0], "control")] if self._control else []
        candidates += [(slot.order, stage) for stage, slot in self._slots.items() if stage != PICTURE]
        if candidates:
            _, which = min(candidates)
            if which == "control":
                message = self._control.popleft()[1]
                if message.get("stage") in CONFLATED:  # conflate=False: a sample kept in order
                    skipped, self._carried = self._carried, 0
                    return {**message, "skipped": skipped}
                return message
            slot = self._slots.pop(which)
            skipped, self._carried = slot.skipped + self._carried, 0
            return {**slot.message, "skipped": skipped}
        slot = self._slots.pop(PICTURE, None)
        if slot is not None:
            return {**slot.message, "pictures_skipped": self.pictures_skipped}
        return None
