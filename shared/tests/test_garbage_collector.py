"""The cycle collector's young generation waits longer while a bulk job (a projection rebuild)
runs, and goes back to what it was once no bulk job runs, however the jobs end."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from gatehouse.runtime import BULK_YOUNG_COLLECTION_EVERY, bulk_allocations


@pytest.fixture(autouse=True)
def service_threshold() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    gc.set_threshold(50_000, 10, 10)
    yield gc.get_threshold()
    gc.set_threshold(*before)


def test_a_bulk_job_collects_the_young_generation_less_often_until_it_ends(
    service_threshold: tuple[int, int, int],
) -> None:
    with bulk_allocations():
        assert gc.get_threshold() == (BULK_YOUNG_COLLECTION_EVERY, 10, 10)

    assert gc.get_threshold() == service_threshold


def test_overlapping_bulk_jobs_keep_it_until_the_last_one_ends(
    service_threshold: tuple[int, int, int],
) -> None:
    first, second = bulk_allocations(), bulk_allocations()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # the first to start ends first

    assert gc.get_threshold() == (BULK_YOUNG_COLLECTION_EVERY, 10, 10)
    second.__exit__(None, None, None)
    assert gc.get_threshold() == service_threshold


def test_a_failing_bulk_job_puts_the_threshold_back(
    service_threshold: tuple[int, int, int],
) -> None:
    with pytest.raises(RuntimeError), bulk_allocations():
        raise RuntimeError("the rebuild failed")

    assert gc.get_threshold() == service_threshold
