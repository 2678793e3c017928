"""Several dashboards on reporting's live stream at once: the commit that brings an event wakes
every stream waiting for it, also one that was busy reading when it landed, whatever the other
streams did meanwhile. (Missing that wake cost a stream its poll interval.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gatehouse.auth import Role
from gatehouse.testing.harness import eventually
from reporting.stream import EventFilter, LiveLog, sse_stream

from .conftest import NOW, Reporting

# Longer than the test waits: only a wake can bring the event in time.
POLL_SECONDS = 60.0


class Frames:
    """Reads a stream in the background and keeps its event frames."""

    def __init__(self, frames: AsyncIterator[str]) -> None:
        self.received: list[str] = []
        self._task = asyncio.create_task(self._read(frames))

    async def _read(self, frames: AsyncIterator[str]) -> None:
        async for frame in frames:
            if frame.startswith("id: "):
                self.received.append(frame)

    async def holds(self, count: int) -> bool:
        return len(self.received) >= count

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


def stream(live: LiveLog, after: int) -> AsyncIterator[str]:
    return sse_stream(
        live,
        after=after,
        where=EventFilter(),
        roles={Role.PMO_ADMIN},
        heartbeat_seconds=POLL_SECONDS,
        gap_grace_seconds=1.0,
        poll_seconds=POLL_SECONDS,
    )


async def test_a_commit_landing_while_a_stream_reads_wakes_it_though_another_woke_first(
    reporting: Reporting, monkeypatch: pytest.MonkeyPatch
) -> None:
    live: LiveLog = reporting.service.app.state.live_log
    head = await live.head()
    first_read_made, first_read_released = asyncio.Event(), asyncio.Event()
    reads = 0
    read_the_log = live.after

    async def after(seq: int) -> list[Any]:
        """The log as read; the very first read (the busy stream's) is held once made."""
        nonlocal reads
        reads += 1
        rows = await read_the_log(seq)
        if reads == 1:
            first_read_made.set()
            await first_read_released.wait()
        return rows

    monkeypatch.setattr(live, "after", after)
    busy = Frames(stream(live, head))
    await first_read_made.wait()  # it found nothing new, and has not waited yet
    waiting = Frames(stream(live, head))
    try:
        await eventually(lambda: _at_least(reads, 2), timeout=10, description="second read")

        await reporting.producers.request(NOW)
        await eventually(
            lambda: waiting.holds(1), timeout=30, description="the waiting stream's event"
        )
        first_read_released.set()

        await eventually(
            lambda: busy.holds(1),
            timeout=10,
            description="the busy stream's event, well before its poll",
        )
        assert busy.received == waiting.received
    finally:
        await busy.close()
        await waiting.close()


async def _at_least(value: int, wanted: int) -> bool:
    return value >= wanted
