"""``months_shift`` moves by calendar months exactly as ``relativedelta`` does."""

import datetime as dt
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from hypothesis import given
from hypothesis import strategies as st

from loyalty.months import months_shift

ZONES = [ZoneInfo("Europe/Warsaw"), ZoneInfo("America/New_York"), dt.UTC]


@given(
    moment=st.datetimes(min_value=dt.datetime(1950, 1, 1), max_value=dt.datetime(2100, 12, 31)),
    zone=st.sampled_from(ZONES),
    months=st.integers(min_value=-240, max_value=240),
)
def test_months_shift_is_relativedelta(moment, zone, months):
    local = moment.replace(tzinfo=zone)
    assert months_shift(local, months) == local + relativedelta(months=months)
    assert months_shift(local, months).utcoffset() == (local + relativedelta(months=months)).utcoffset()


def test_the_day_is_clamped_to_a_shorter_month():
    assert months_shift(dt.datetime(2024, 1, 31, 10, tzinfo=dt.UTC), 1) == dt.datetime(2024, 2, 29, 10, tzinfo=dt.UTC)
    assert months_shift(dt.datetime(2025, 3, 31, tzinfo=dt.UTC), -1) == dt.datetime(2025, 2, 28, tzinfo=dt.UTC)
