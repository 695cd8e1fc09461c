"""``bench/bench_analytics.py`` in miniature: its measuring children on a small demo program."""

import datetime as dt

import pytest
from django.core.management import call_command

from bench.bench_analytics import TARGETS, _percentile, _timed_row, export, last_month, pages

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(db):
    call_command("demo_data", "--members", "40", "--seed", "1")


def test_the_month_is_the_last_whole_one_before_the_programs_today(demo):
    month = last_month()
    start, end = dt.date.fromisoformat(month["start"]), dt.date.fromisoformat(month["end"])
    assert start.day == end.day == 1
    assert 28 <= (end - start).days <= 31


def test_pages_time_the_dashboard_and_the_segment_previews(demo):
    month = last_month()
    rows = pages(month["start"], month["end"])["rows"]
    dashboard, *segments = rows
    assert dashboard["unit"] == "ms p95" and dashboard["value"] > 0 and dashboard["requests"] >= 5
    assert segments and all(row["unit"] == "ms (median)" and row["value"] > 0 for row in segments)
    assert all(isinstance(row["count"], int) for row in segments)


def test_the_export_streams_every_member_and_reports_its_memory(demo):
    from members.models import Member

    row = export()["row"]
    assert row["rows"] == Member.objects.exclude(status=Member.Status.DELETED).count() > 0
    assert row["rss_peak_mib"] >= row["rss_before_mib"] > 0
    assert row["bytes"] > 100 * row["rows"]


def test_a_timed_row_flags_a_missed_target():
    fast = _timed_row("x", [10.0, 20.0], TARGETS["dashboard"])
    slow = _timed_row("x", [10.0, 2000.0], TARGETS["dashboard"], queries="3-4")
    assert "ABOVE" not in fast["detail"] and "ABOVE the 1000 ms target" in slow["detail"]
    assert "queries 3-4" in slow["detail"]
    assert _percentile([float(n) for n in range(1, 21)], 0.95) == 19.0
