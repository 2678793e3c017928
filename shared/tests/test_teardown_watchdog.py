"""A teardown that never ends fails the test, naming the task that would not stop."""

from __future__ import annotations

import pytest


def test_a_task_that_will_not_stop_fails_the_teardown_with_its_stack_and_the_run_goes_on(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makeini("[pytest]\nteardown_timeout = 1\nasyncio_mode = auto\n")
    pytester.makepyfile(
        test_stubborn="""
        import asyncio

        import pytest


        async def ignore_cancellation():
            while True:
                try:
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    pass


        @pytest.fixture
        async def stubborn_task():
            yield asyncio.create_task(ignore_cancellation(), name="stubborn")


        async def test_leaves_a_stubborn_task(stubborn_task):
            pass


        def test_after_it():
            pass
    """
    )

    result = pytester.runpytest_subprocess(
        "-p", "pytest_asyncio.plugin", "-p", "gatehouse.testing.watchdog", "-p", "no:cacheprovider"
    )

    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*TeardownHung: teardown still running after 1 s*",
            "*name='stubborn'*",
            "*in ignore_cancellation*",
        ]
    )
