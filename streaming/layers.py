"""A channel layer in a SQLite file: the embedded default when no Redis is configured.

The web server (uvicorn) and the workers are separate processes on one machine; they share
one SQLite file in WAL mode. The semantics follow channels_redis for what consumers use:
``send`` raises ``ChannelFull`` at ``capacity`` undelivered messages, ``group_send`` skips
full channels silently, messages older than ``expiry`` are never delivered, memberships
lapse after ``group_expiry``, each message goes to exactly one receiver, in order per channel.

How receiving works, and why:
- All SQLite work runs on one thread per layer instance (its own connection), so no event
  loop ever blocks on the disk and any loop — the web server's, or the short-lived ones
  ``async_to_sync`` makes in a Celery worker — may call any method.
- ``receive()`` registers a future; one poller task per event loop fetches messages for every
  channel that loop's receivers wait on in one ``DELETE … RETURNING`` (atomic, so two
  processes never both get a message), then hands them out. Fifty viewers cost one query.
- Between fetches the poller only reads ``PRAGMA data_version`` (changes when another
  connection commits) and re-queries when something may have arrived; when idle it backs
  off from ``poll_interval`` to ``max_poll_interval``, which bounds the added latency.
- A process-specific channel (``specific.<client>!<id>``, from ``new_channel``) has one
  reader, so its messages are fetched in batches into a buffer held by the layer (not by a
  loop, so a message survives the loop that fetched it). A general channel may have
  readers in several processes, so only as many messages are taken as there are waiting
  receivers, and one whose receiver was cancelled meanwhile goes back to the table with
  its original id (and so its place in the order).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import msgpack
from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer
from channels_redis.utils import _wrap_close

from streaming.conflation import CONFLATED, PICTURE

log = logging.getLogger(__name__)
T = TypeVar("T")

SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS channel_messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: ids never reused, so a message
        channel TEXT NOT NULL,                 -- given back keeps its place in the order
        expires REAL NOT NULL,
        body BLOB NOT NULL,
        conflate TEXT                          -- newest_wins: what a newer message replaces
    )
    """,
    "CREATE INDEX IF NOT EXISTS channel_messages_channel ON channel_messages (channel, id)",
    "CREATE INDEX IF NOT EXISTS channel_messages_expires ON channel_messages (expires)",
    """
    CREATE TABLE IF NOT EXISTS channel_groups (
        grp TEXT NOT NULL,
        channel TEXT NOT NULL,
        joined REAL NOT NULL,
        PRIMARY KEY (grp, channel)
    ) WITHOUT ROWID
    """,
)

# Takes up to n unexpired messages from each wanted channel ({"channel": n} as JSON), oldest first.
FETCH = """
    WITH want(channel, n) AS (SELECT key, value FROM json_each(?1))
    DELETE FROM channel_messages WHERE id IN (
        SELECT id FROM (
            SELECT m.id AS id, want.n AS n, row_number() OVER (PARTITION BY m.channel ORDER BY m.id) AS rn
            FROM want JOIN channel_messages AS m ON m.channel = want.channel
            WHERE m.expires > ?2
        ) WHERE rn <= n
    )
    RETURNING id, channel, expires, body
"""
COUNT = """
    SELECT channel, count(*) FROM channel_messages
    WHERE channel IN (SELECT value FROM json_each(?)) GROUP BY channel
"""
INSERT = "INSERT INTO channel_messages (channel, expires, body) VALUES (?, ?, ?)"
INSERT_CONFLATED = "INSERT INTO channel_messages (channel, expires, body, conflate) VALUES (?, ?, ?, ?)"
# newest_wins: a channel's pending message of the same kind gives way to the newer one.
SUPERSEDE = "DELETE FROM channel_messages WHERE conflate = ?1 AND channel IN (SELECT value FROM json_each(?2))"
REINSERT = "INSERT OR IGNORE INTO channel_messages (id, channel, expires, body) VALUES (?, ?, ?, ?)"

# A connection left behind by fork(): never used and never closed in the child (closing it
# there could disturb the parent's locks), only kept referenced.
_INHERITED: list[sqlite3.Connection] = []


class _Entry(NamedTuple):
    id: int
    expires: float
    message: dict


class _LoopState:
    """What one event loop's receivers wait on; every asyncio object here belongs to that loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.waiters: dict[str, collections.deque[asyncio.Future]] = {}
        self.wakeup = asyncio.Event()
        self.task: asyncio.Task | None = None
        # Touched only on the layer's database thread: the channels found empty as of `marker`
        # (connection, data_version, own writes), so an unchanged database is not queried again.
        self.marker: tuple[int, int, int] | None = None
        self.drained: set[str] = set()

    def live(self, channel: str) -> int:
        return sum(1 for future in self.waiters.get(channel, ()) if not future.done())


def conflation_key(event: dict) -> str | None:
    """The kind of message a newer one of the same kind supersedes (a live session's sample or
    picture), or None: everything else always arrives. A publisher that wants every sample kept
    (a video read faster than real time) sends ``"conflate": False`` beside the message."""
    inner = event.get("message")
    if event.get("type") != "live.message" or not isinstance(inner, dict) or event.get("conflate") is False:
        return None
    stage = inner.get("stage")
    return stage if stage in CONFLATED or stage == PICTURE else None


def _is_specific(channel: str) -> bool:
    return "!" in channel


class SQLiteChannelLayer(BaseChannelLayer):
    """Channel layer for processes on one machine sharing a SQLite file (see the module docstring).

    CONFIG: ``path`` (required; the file every process opens), ``expiry`` (s a message waits,
    60), ``group_expiry`` (s a membership lasts, 86400), ``capacity`` (undelivered messages per
    channel, 100), ``channel_capacity`` (glob or regex → capacity, as in channels_redis),
    ``poll_interval`` / ``max_poll_interval`` (s between looks while receivers wait: the
    first after a delivery, the most when idle, 0.01 / 0.04), ``timeout`` (s a write waits
    for another process's lock, 10), ``newest_wins`` (False; True for the ``live`` alias: a
    ``group_send`` of a live session's sample or picture replaces the one still waiting for
    each member channel instead of queueing behind it, so a slow reader gets the newest).
    """

    extensions = ["groups", "flush"]

    def __init__(
        self,
        path: str | os.PathLike,
        expiry: float = 60,
        group_expiry: float = 86400,
        capacity: int = 100,
        channel_capacity: dict | None = None,
        poll_interval: float = 0.01,
        max_poll_interval: float = 0.04,
        timeout: float = 10.0,
        newest_wins: bool = False,
    ):
        super().__init__(expiry=expiry, capacity=capacity)
        self.newest_wins = newest_wins
        if not path:
            raise ValueError("SQLiteChannelLayer needs CONFIG['path'], the SQLite file all processes share")
        self.path = Path(path)
        self.group_expiry = group_expiry
        self.channel_capacity = self.compile_capacities(channel_capacity or {})
        self.poll_interval = poll_interval
        self.max_poll_interval = max(max_poll_interval, poll_interval)
        self.timeout = timeout  # SQLite busy timeout: how long a write waits for another process's lock
        self._start()

    def _start(self) -> None:
        """Per-process state; run again in a forked child, which inherits none of it usefully."""
        self._pid = os.getpid()
        self.client_prefix = uuid.uuid4().hex
        self._lock = threading.Lock()  # guards _buffers and _states across loops' threads
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-channel-layer")
        self._conn: sqlite3.Connection | None = None
        self._generation = 0  # connections opened; data_version is per connection
        self._own_writes = 0  # commits on our connection, which data_version does not count
        self._groups_purged = 0.0
        self._buffers_purged = 0.0  # expired messages of specific channels nobody reads any more
        self._buffers: dict[str, collections.deque[_Entry]] = {}
        self._states: dict[asyncio.AbstractEventLoop, _LoopState] = {}

    def _check_fork(self) -> None:
        if self._pid != os.getpid():
            if self._conn is not None:
                _INHERITED.append(self._conn)
            self._start()

    def __str__(self) -> str:
        return f"{type(self).__name__}(path={str(self.path)!r})"

    # ------------------------------------------------------------ channel layer API

    async def send(self, channel: str, message: dict) -> None:
        """Send a message onto a (general or specific) channel; ChannelFull at capacity."""
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_channel_name(channel)
        assert "__asgi_channel__" not in message
        await self._call(self._send_sync, channel, self.serialize(message))
        self._wake_all()

    async def receive(self, channel: str) -> dict:
        """The next message on the channel; waits until one arrives. Safe to cancel."""
        self._check_fork()
        self.require_valid_channel_name(channel)
        entry = self._take_buffered(channel)
        if entry is not None:
            return entry.message
        loop = asyncio.get_running_loop()
        state = self._state_for(loop)
        future = loop.create_future()
        state.waiters.setdefault(channel, collections.deque()).append(future)
        state.wakeup.set()
        try:
            entry = await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._give_back(state, channel, future.result())  # handed over as we were cancelled
            raise
        finally:
            waiters = state.waiters.get(channel)
            if waiters is not None:
                with contextlib.suppress(ValueError):
                    waiters.remove(future)
                if not waiters:
                    del state.waiters[channel]
        return entry.message

    async def new_channel(self, prefix: str = "specific") -> str:
        """A channel name only this process reads (its messages are fetched in batches)."""
        self._check_fork()
        return f"{prefix}.{self.client_prefix}!{uuid.uuid4().hex}"

    async def flush(self) -> None:
        """Delete every message and group membership, in the file and in this process's buffers."""
        await self._call(self._flush_sync)

    async def close(self) -> None:
        """Stop this event loop's poller (its pending receives are cancelled) and close the connection.

        Other loops' receivers go on; the connection reopens on the next call.
        """
        self._check_fork()
        loop = asyncio.get_running_loop()
        with self._lock:
            state = self._states.pop(loop, None)
        if state is not None and state.task is not None and not state.task.done():
            state.task.cancel()
            await asyncio.wait([state.task])
        await self._call(self._close_sync)

    # Groups extension

    async def group_add(self, group: str, channel: str) -> None:
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        await self._call(self._group_add_sync, group, channel)

    async def group_discard(self, group: str, channel: str) -> None:
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        await self._call(self._group_discard_sync, group, channel)

    async def group_send(self, group: str, message: dict) -> None:
        """Send to every member channel; members at capacity are skipped (as channels_redis does)."""
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_group_name(group)
        if await self._call(self._group_send_sync, group, self.serialize(message), self._conflation_key(message)):
            self._wake_all()

    def _conflation_key(self, message: dict) -> str | None:
        """newest_wins: the kind of a superseded message (a live sample or picture), else None."""
        return conflation_key(message) if self.newest_wins else None

    # ------------------------------------------------------------ serialization

    def serialize(self, message: dict) -> bytes:
        return msgpack.packb(message, use_bin_type=True)

    def deserialize(self, body: bytes) -> dict:
        return msgpack.unpackb(body, raw=False, strict_map_key=False)

    # ------------------------------------------------------------ receiving (event-loop side)

    def _state_for(self, loop: asyncio.AbstractEventLoop) -> _LoopState:
        with self._lock:
            for old in [other for other in self._states if other.is_closed()]:
                del self._states[old]
            state = self._states.get(loop)
            if state is None:
                state = self._states[loop] = _LoopState(loop)
        if state.task is None or state.task.done():
            state.task = loop.create_task(self._poll(state), name="sqlite-channel-layer-poller")
        return state

    def _take_buffered(self, channel: str) -> _Entry | None:
        now = time.time()
        with self._lock:
            buffer = self._buffers.get(channel)
            while buffer:
                entry = buffer.popleft()
                if entry.expires > now:
                    if not buffer:
                        del self._buffers[channel]
                    return entry
            self._buffers.pop(channel, None)
        return None

    def _wake_all(self) -> None:
        """After a send: receivers in this process need not wait for their poller's next tick."""
        with self._lock:
            loops = list(self._states.items())
        for loop, state in loops:
            with contextlib.suppress(RuntimeError):  # that loop has just closed
                loop.call_soon_threadsafe(state.wakeup.set)

    def _give_back(self, state: _LoopState, channel: str, entry: _Entry) -> None:
        if _is_specific(channel):
            with self._lock:
                self._buffers.setdefault(channel, collections.deque()).appendleft(entry)
            state.wakeup.set()
        else:  # other processes may be waiting on it: back to the table, in its old place
            self._executor.submit(self._reinsert_sync, [(channel, entry)])

    async def _poll(self, state: _LoopState) -> None:
        loop = state.loop
        interval = self.poll_interval
        try:
            while True:
                state.wakeup.clear()
                self._serve(state)
                want = self._wanted(state)
                if not want:
                    await state.wakeup.wait()
                    continue
                try:
                    fetched = await loop.run_in_executor(self._executor, self._fetch_sync, state, want)
                except Exception:
                    log.exception("channel layer %s: fetching messages failed", self)
                    fetched = 0
                    await asyncio.sleep(1)  # a broken database must not make this loop spin
                self._serve(state)
                self._return_general(state)
                if fetched:
                    interval = self.poll_interval
                    await asyncio.sleep(0)  # let receivers run, then look again: more may be waiting
                    continue
                try:
                    async with asyncio.timeout(interval):
                        await state.wakeup.wait()
                except TimeoutError:
                    interval = min(interval * 1.5, self.max_poll_interval)
        finally:
            with self._lock:
                if self._states.get(loop) is state:
                    del self._states[loop]
            # Nothing serves these receivers any more (close(), or the loop is ending).
            for waiters in state.waiters.values():
                for future in waiters:
                    future.cancel()
            # Queued behind a fetch that may still be running on the database thread.
            self._executor.submit(self._return_general_sync)

    def _serve(self, state: _LoopState) -> None:
        """Hand buffered messages to this loop's waiting receivers, oldest first."""
        now = time.time()
        with self._lock:
            if now - self._buffers_purged > 1:
                self._buffers_purged = now
                for channel in list(self._buffers):
                    kept = collections.deque(e for e in self._buffers[channel] if e.expires > now)
                    if kept:
                        self._buffers[channel] = kept
                    else:
                        del self._buffers[channel]
            for channel, waiters in state.waiters.items():
                buffer = self._buffers.get(channel)
                while buffer and waiters:
                    if waiters[0].done():
                        waiters.popleft()
                        continue
                    entry = buffer.popleft()
                    if entry.expires > now:
                        waiters.popleft().set_result(entry)
                if buffer is not None and not buffer:
                    del self._buffers[channel]

    def _wanted(self, state: _LoopState) -> dict[str, int]:
        """How many messages to take per channel: a batch for specific ones, one per receiver otherwise."""
        want = {}
        with self._lock:
            for channel in state.waiters:
                live = state.live(channel)
                if not live:
                    continue
                if _is_specific(channel):
                    want[channel] = max(1, self.get_capacity(channel) - len(self._buffers.get(channel, ())))
                else:
                    want[channel] = live
        return want

    def _return_general(self, state: _LoopState) -> None:
        """General-channel messages nobody here waits for any more go back to the table."""
        stranded = self._strand(lambda channel: state.live(channel) > 0)
        if stranded:
            self._executor.submit(self._reinsert_sync, stranded)

    def _strand(self, keep: Callable[[str], bool]) -> list[tuple[str, _Entry]]:
        with self._lock:
            channels = [c for c in self._buffers if not _is_specific(c) and not keep(c)]
            return [(channel, entry) for channel in channels for entry in self._buffers.pop(channel)]

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        self._check_fork()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args))

    # ------------------------------------------------------------ database (the layer's thread only)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            (mode,) = conn.execute("PRAGMA journal_mode=WAL").fetchone()
            if mode.lower() != "wal":  # e.g. a network file system: works, but writers block readers
                log.warning("channel layer %s: SQLite journal mode is %s, not WAL", self, mode)
            conn.execute("PRAGMA synchronous=NORMAL")  # messages are ephemeral; no fsync per commit
            with self._transaction(conn):
                for statement in SCHEMA:
                    conn.execute(statement)
                columns = {row[1] for row in conn.execute("PRAGMA table_info(channel_messages)")}
                if "conflate" not in columns:  # a file made before newest_wins
                    conn.execute("ALTER TABLE channel_messages ADD COLUMN conflate TEXT")
            self._conn = conn
            self._generation += 1
        return self._conn

    @contextlib.contextmanager
    def _transaction(self, conn: sqlite3.Connection) -> Iterator[None]:
        # IMMEDIATE takes the write lock up front (the busy timeout applies), never an upgrade.
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _purge(self, conn: sqlite3.Connection, now: float) -> None:
        conn.execute("DELETE FROM channel_messages WHERE expires <= ?", (now,))
        if now - self._groups_purged > 60:  # memberships of groups nobody sends to any more
            self._groups_purged = now
            conn.execute("DELETE FROM channel_groups WHERE joined < ?", (now - self.group_expiry,))

    def _send_sync(self, channel: str, body: bytes) -> None:
        conn = self._connection()
        now = time.time()
        with self._transaction(conn):
            self._purge(conn, now)
            (count,) = conn.execute("SELECT count(*) FROM channel_messages WHERE channel = ?", (channel,)).fetchone()
            if count >= self.get_capacity(channel):
                raise ChannelFull(channel)
            conn.execute(INSERT, (channel, now + self.expiry, body))
        self._own_writes += 1

    def _group_send_sync(self, group: str, body: bytes, conflate: str | None = None) -> int:
        conn = self._connection()
        now = time.time()
        with self._transaction(conn):
            self._purge(conn, now)
            conn.execute("DELETE FROM channel_groups WHERE grp = ? AND joined < ?", (group, now - self.group_expiry))
            channels = [row[0] for row in conn.execute("SELECT channel FROM channel_groups WHERE grp = ?", (group,))]
            if not channels:
                return 0
            if conflate is not None:
                conn.execute(SUPERSEDE, (conflate, json.dumps(channels)))
            counts = dict(conn.execute(COUNT, (json.dumps(channels),)).fetchall())
            rows = [(c, now + self.expiry, body) for c in channels if counts.get(c, 0) < self.get_capacity(c)]
            if conflate is None:
                conn.executemany(INSERT, rows)
            else:
                conn.executemany(INSERT_CONFLATED, [(*row, conflate) for row in rows])
        if rows:
            self._own_writes += 1
        if len(rows) < len(channels):
            log.debug("%s of %s channels over capacity in group %s", len(channels) - len(rows), len(channels), group)
        return len(rows)

    def _group_add_sync(self, group: str, channel: str) -> None:
        conn = self._connection()
        now = time.time()
        with self._transaction(conn):
            conn.execute(
                "INSERT INTO channel_groups (grp, channel, joined) VALUES (?, ?, ?)"
                " ON CONFLICT (grp, channel) DO UPDATE SET joined = excluded.joined",
                (group, channel, now),
            )

    def _group_discard_sync(self, group: str, channel: str) -> None:
        conn = self._connection()
        with self._transaction(conn):
            conn.execute("DELETE FROM channel_groups WHERE grp = ? AND channel = ?", (group, channel))

    def _flush_sync(self) -> None:
        conn = self._connection()
        with self._transaction(conn):
            conn.execute("DELETE FROM channel_messages")
            conn.execute("DELETE FROM channel_groups")
        self._own_writes += 1
        with self._lock:
            self._buffers.clear()

    def _close_sync(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _return_general_sync(self) -> None:
        stranded = self._strand(lambda channel: False)
        if stranded:
            self._reinsert_sync(stranded)

    def _reinsert_sync(self, entries: list[tuple[str, _Entry]]) -> None:
        try:
            conn = self._connection()
            with self._transaction(conn):
                conn.executemany(
                    REINSERT, [(e.id, channel, e.expires, self.serialize(e.message)) for channel, e in entries]
                )
            self._own_writes += 1
        except Exception:
            log.exception("channel layer %s: %s message(s) given back were lost", self, len(entries))

    def _fetch_rows(self, conn: sqlite3.Connection, want: dict[str, int], now: float) -> list[tuple]:
        with self._transaction(conn):
            return conn.execute(FETCH, (json.dumps(want), now)).fetchall()

    def _fetch_sync(self, state: _LoopState, want: dict[str, int]) -> int:
        """Move waiting messages of the wanted channels into the buffers; how many were taken."""
        conn = self._connection()
        (version,) = conn.execute("PRAGMA data_version").fetchone()
        marker = (self._generation, version, self._own_writes)
        if marker != state.marker:
            state.marker, state.drained = marker, set()
        todo = {channel: n for channel, n in want.items() if channel not in state.drained}
        if not todo:
            return 0
        rows = sorted(self._fetch_rows(conn, todo, time.time()))  # RETURNING has no order; ids do
        taken = collections.Counter(row[1] for row in rows)
        state.drained.update(channel for channel, n in todo.items() if taken[channel] < n)
        entries = []
        for id_, channel, expires, body in rows:
            try:
                entries.append((channel, _Entry(id_, expires, self.deserialize(body))))
            except Exception:
                log.exception("channel layer %s: dropped a message on %s that could not be decoded", self, channel)
        with self._lock:
            for channel, entry in entries:
                self._buffers.setdefault(channel, collections.deque()).append(entry)
        return len(rows)


# ---------------------------------------------------------------- Redis pub/sub, newest wins


class _Tagged(bytes):
    """A serialized message with what it supersedes (``conflate``), tagged once per Redis message."""

    conflate: str | None = None


class _NewestWinsQueue(asyncio.Queue):
    """A receiving channel's queue in the web process: a sample waiting here is replaced by a newer
    one of the same session (counted in ``replaced``) instead of queueing behind it."""

    def __init__(self) -> None:
        super().__init__()
        self.replaced = 0

    def offer(self, data: bytes, key: str | None) -> None:
        if key is not None:
            pending = self._queue  # asyncio.Queue's deque; short, since samples never pile up here
            for index in range(len(pending) - 1, -1, -1):
                if getattr(pending[index], "conflate", None) == key:
                    del pending[index]
                    self.replaced += not key.endswith(f"|{PICTURE}")  # samples; pictures count apart
                    break
        self.put_nowait(data)


class _NewestWinsLoopLayer(RedisPubSubLoopLayer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for shard in self._shards:
            shard._receive_message = functools.partial(self._deliver, shard)

    async def _subscribe_to_channel(self, channel):
        self.channels[channel] = _NewestWinsQueue()
        await self._get_shard(channel).subscribe(channel)

    def _deliver(self, shard, message) -> None:
        """channels_redis' delivery to the channels in this process, with newest wins."""
        if message is None:
            return
        name, data = message["channel"], message["data"]
        if isinstance(name, bytes):
            name = name.decode()
        targets = [name] if name in self.channels else list(self.groups.get(name, ()))
        if not targets:
            return
        key = None
        try:
            key = conflation_key(self.channel_layer.deserialize(data))
        except Exception:
            log.debug("a message on %s could not be read for conflation", name)
        if key is not None:
            data = _Tagged(data)
            data.conflate = f"{name}|{key}"
        for channel in targets:
            queue_ = self.channels.get(channel)
            if queue_ is not None:
                queue_.offer(data, data.conflate if key is not None else None)

    def take_replaced(self, channel: str) -> int:
        """Messages replaced on ``channel`` since the last call (the consumer reports them as skipped)."""
        queue_ = self.channels.get(channel)
        if not isinstance(queue_, _NewestWinsQueue):
            return 0
        replaced, queue_.replaced = queue_.replaced, 0
        return replaced


class NewestWinsPubSubChannelLayer(RedisPubSubChannelLayer):
    """channels_redis' pub/sub layer (no per-channel list in Redis) whose in-process queues let a
    newer live sample replace one still waiting: when the web server falls behind, a viewer's
    consumer gets the newest sample next, not seconds of old ones."""

    def _get_layer(self):
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = self._layers[loop] = _NewestWinsLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            _wrap_close(self, loop)
        return layer
