"""Background workers (relay, consumers, the keys follower) that outlive broker and database
outages: each runs its work again after a failure, waiting longer each time, until cancelled."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

__all__ = ["FIRST_WAIT_SECONDS", "LONGEST_WAIT_SECONDS", "run_restarting"]

log = logging.getLogger(__name__)

FIRST_WAIT_SECONDS = 0.2
LONGEST_WAIT_SECONDS = 5.0


async def run_restarting(
    attempt: Callable[[], Awaitable[None]],
    *,
    what: str,
    extra: Mapping[str, Any] | None = None,
    after_failure: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Run ``attempt`` again and again until cancelled. A failure is logged (as ``what``
    failing), ``after_failure`` cleans up, and the next attempt waits 0.2 s, then twice as long
    each time, up to 5 s."""
    wait = FIRST_WAIT_SECONDS
    while True:
        try:
            await attempt()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception(f"{what} failed; restarting", extra={**(extra or {}), "backoff_s": wait})
            if after_failure is not None:
                await after_failure()
            await asyncio.sleep(wait)
            wait = min(wait * 2, LONGEST_WAIT_SECONDS)
