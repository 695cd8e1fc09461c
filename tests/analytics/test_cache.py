"""analytics.cache: a figure is reused while the data is unchanged, and for a
short window after it changes; then computed afresh."""

import pytest

import analytics.cache
from analytics.cache import analytics_cached, data_version
from tests.factories import MemberFactory, ProgramFactory

pytestmark = pytest.mark.django_db


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(analytics.cache.time, "time", clock)
    return clock


@pytest.fixture
def counter():
    calls = []

    def compute():
        calls.append(1)
        return len(calls)

    compute.calls = calls
    return compute


def test_the_version_moves_with_new_rows_and_a_saved_program():
    program = ProgramFactory()
    first = data_version()
    assert data_version() == first
    MemberFactory()
    second = data_version()
    assert second != first
    program.name = "Renamed"
    program.save()
    assert data_version() != second


def test_unchanged_data_is_served_from_the_cache(clock, counter, settings):
    ProgramFactory()
    assert analytics_cached("q", (1,), counter) == 1
    clock.now += settings.ANALYTICS_CACHE_SECONDS - 1
    assert analytics_cached("q", (1,), counter) == 1
    assert analytics_cached("q", (2,), counter) == 2  # another question


def test_after_new_data_the_figure_is_reused_for_the_stale_window_only(clock, counter, settings):
    settings.ANALYTICS_STALE_SECONDS = 60
    ProgramFactory()
    assert analytics_cached("q", (1,), counter) == 1
    MemberFactory()  # the data changes
    clock.now += 59
    assert analytics_cached("q", (1,), counter) == 1  # at most a minute behind
    clock.now += 2
    assert analytics_cached("q", (1,), counter) == 2  # computed afresh, and cached at the new version
    clock.now += settings.ANALYTICS_CACHE_SECONDS - 1
    assert analytics_cached("q", (1,), counter) == 2
    clock.now += 2
    assert analytics_cached("q", (1,), counter) == 3  # never kept longer than ANALYTICS_CACHE_SECONDS


def test_a_longer_window_can_be_asked_for_and_keeps_the_figure_that_long(clock, counter):
    ProgramFactory()
    analytics_cached("fit", (), counter, stale_seconds=3600)
    MemberFactory()
    clock.now += 3000
    assert analytics_cached("fit", (), counter, stale_seconds=3600) == 1
    assert analytics_cached("fit", (), counter, stale_seconds=0) == 2
