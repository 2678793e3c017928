"""A test's teardown that does not end fails, naming the asyncio tasks still running.

Loaded with ``-p gatehouse.testing.watchdog``. When a test's event loop closes it cancels the
tasks left behind and waits for them; one that never finishes would hang the whole run with
nothing to show for it. After ``TEARDOWN_SECONDS`` the watchdog (SIGALRM, main thread) raises in
the teardown with every pending task's stack, and the run goes on. The ini option
``teardown_timeout`` sets another limit.
"""

from __future__ import annotations

import asyncio
import io
import signal
from collections.abc import Generator
from types import FrameType
from typing import Any

import pytest

__all__ = ["TEARDOWN_SECONDS", "TeardownHung"]

TEARDOWN_SECONDS = 120
_INI = "teardown_timeout"


class TeardownHung(Exception):
    pass


def _pending_tasks() -> str:
    try:
        tasks = asyncio.all_tasks()
    except RuntimeError:
        return "no event loop is running"
    report = io.StringIO()
    for task in tasks:
        print(f"--- {task!r}", file=report)
        task.print_stack(file=report)
    return report.getvalue() or "no pending tasks"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        _INI,
        f"seconds a test's teardown may take (default {TEARDOWN_SECONDS})",
        default=str(TEARDOWN_SECONDS),
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, Any, None]:
    if not hasattr(signal, "SIGALRM"):
        yield
        return
    seconds = int(item.config.getini(_INI))

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise TeardownHung(
            f"teardown still running after {seconds} s; pending tasks:\n{_pending_tasks()}"
        )

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
