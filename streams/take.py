"""Faust's ``take_events``, except that no batch waits ``within`` for records that were already there.

Faust yields a batch when it is full or ``within`` seconds after it started waiting. Draining a
backlog, every batch is full but the last, which then waited the whole ``within`` (0.25 s) for records
that were not coming, and its offsets waited for the next periodic commit: both showed as the tail of
every drain (``cxpulse drain``, a restart's catch-up). Here, while the previous batch was full (and at
start-up, when a backlog may be waiting), a batch is also yielded once no record arrived for ``idle``
seconds; and the offsets of every batch are committed as soon as it is acknowledged.

Catching up, a batch also goes as soon as its records reach the end of what the broker holds for
each of their partitions (the highwater of the consumer's last fetch): the last batch of a backlog
then goes at once, not ``idle`` later.

In steady traffic a batch goes once its first record is ``within`` old, counted from when that record
reached the stream. Faust counts from when it starts waiting, after the last batch was written: the
records that came meanwhile waited the whole write and then ``within`` again, so a loaded worker's
cycle was write + 0.25 s, and at 13k events/s its p99 went past 2 s. Here a batch written in longer
than ``within`` is followed at once by the records that came during it. ``within`` still bounds the
inserts a second whatever the rate.

What Faust guarantees is kept: a batch is acknowledged only when the loop body that received it ends
(``streams.app`` relies on that), and no record is added to a batch while it is being consumed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable
from typing import Any

import faust
from faust import streams as faust_streams
from mode import want_seconds
from mode.utils.aiter import aiter
from mode.utils.futures import notify

log = logging.getLogger(__name__)
_tracks = getattr(faust_streams, "_tracks_buffer_agen", lambda fun: fun)
"""Faust's registry of buffering generators (closed when the stream stops), where it has one."""


def batch_ready(buffered: int, max_: int, catching_up: bool, since_first: float, since_last: float,
                within: float, idle: float, at_end: bool = False) -> bool:
    """Whether the buffered records are yielded on this wake-up.

    ``since_first`` / ``since_last``: seconds since the batch's first record reached the stream and
    since its last one was buffered. The wait is ``idle`` at a time; the batch goes once it is full
    or its first record is ``within`` old, and, catching up (``catching_up``), once ``idle`` passed
    without a record or the records reached the end of their partitions (``at_end``).
    """
    if not buffered:
        return False
    if buffered >= max_ or since_first >= within:
        return True
    return catching_up and (at_end or since_last >= idle)


def at_highwater(last_offsets: dict[Any, int], highwater: Callable[[Any], int | None]) -> bool:
    """Whether each partition's last buffered offset is the last the broker held at the last fetch.

    ``highwater(tp)``: the consumer's (the offset after the partition's last record); a partition
    it cannot tell about (not fetched yet, no longer assigned) is not at its end.
    """
    for tp, offset in last_offsets.items():
        try:
            end = highwater(tp)
        except (AssertionError, AttributeError, KeyError):
            # aiokafka asserts the partition is assigned; under -O it fails on the missing state
            return False
        if end is None or offset + 1 < end:
            return False
    return bool(last_offsets)


def _committed(running: set[asyncio.Task[Any]]) -> Any:
    def done(task: asyncio.Task[Any]) -> None:
        running.discard(task)
        if not task.cancelled() and task.exception() is not None:  # the periodic commit follows
            log.warning("offset commit after a batch failed: %r", task.exception())
    return done


class CxStream(faust.Stream):  # type: ignore[misc]
    """The app's stream class (``faust.App(Stream=...)``)."""

    @_tracks  # type: ignore[untyped-decorator]
    async def take_batches(self, max_: int, within: float, idle: float
                           ) -> AsyncGenerator[list[Any], None]:
        """Lists of at most ``max_`` events: full, ``within`` s old, or idle ``idle`` s after a full one."""
        loop = asyncio.get_running_loop()
        events: list[Any] = []
        buffer_full = asyncio.Event()
        buffer_consumed = asyncio.Event()
        timeout = want_seconds(within)
        stream_enable_acks: bool = self.enable_acks  # type: ignore[has-type]
        buffer_consuming: asyncio.Future[None] | None = None
        first_at = last_at = 0.0
        catching_up = True
        last_offsets: dict[Any, int] = {}  # of the buffered records, by partition
        highwater = self.app.consumer.highwater
        committing: set[asyncio.Task[Any]] = set()
        channel_it = aiter(self.channel)

        async def add_to_buffer(value: Any) -> Any:
            nonlocal buffer_consuming, first_at, last_at
            arrived = loop.time()  # before waiting out a batch being consumed
            try:
                if buffer_consuming is not None:
                    try:
                        await buffer_consuming
                    finally:
                        buffer_consuming = None
                last_at = loop.time()
                if not events:
                    first_at = arrived
                event = self.current_event
                if event is None:
                    raise RuntimeError("Take buffer found current_event is None")
                events.append(event)
                last_offsets[event.message.tp] = event.message.offset
                if catching_up and len(events) < max_ and at_highwater(last_offsets, highwater):
                    buffer_full.set()  # wakes the loop: nothing else is waiting at the broker
                if len(events) >= max_:
                    buffer_full.set()
                    buffer_consumed.clear()  # never more than max_ values in a batch
                    await self.wait(buffer_consumed)
            except asyncio.CancelledError:  # pragma: no cover
                raise
            except Exception as exc:
                self.log.exception("Error adding to take buffer: %r", exc)
                await self.crash(exc)
            return value

        self.enable_acks = False  # this generator acks each batch once its loop body ended
        self.add_processor(add_to_buffer)
        self._enable_passive(channel_it)
        try:
            while not self.should_stop:
                await self.wait_for_stopped(buffer_full, timeout=idle)
                now = loop.time()
                if not batch_ready(len(events), max_, catching_up, now - first_at, now - last_at,
                                   timeout, idle, catching_up and at_highwater(last_offsets, highwater)):
                    buffer_full.clear()
                    continue
                catching_up = len(events) >= max_
                buffer_consuming = loop.create_future()
                try:
                    yield list(events)
                finally:
                    for event in events:
                        await self.ack(event)
                    events.clear()
                    last_offsets.clear()
                    notify(buffer_consuming)
                    buffer_full.clear()
                    buffer_consumed.set()
                    task = loop.create_task(self.app.consumer.commit())
                    committing.add(task)
                    task.add_done_callback(_committed(committing))
        finally:
            self.enable_acks = stream_enable_acks
            self._processors.remove(add_to_buffer)
