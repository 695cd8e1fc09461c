"""Calendar-month arithmetic, as ``dateutil.relativedelta(months=n)`` does it but
cheaper: the bulk loads add months to every lot's earn time (expiry) and
subtract them from every purchase's time (tier windows).

The day is kept and clamped to the end of a shorter month (31 January plus one
month is 28 or 29 February); the wall-clock time and the time zone are kept.
"""

from __future__ import annotations

import calendar
import datetime as dt
from functools import lru_cache


@lru_cache(maxsize=8192)
def _shifted(year: int, month: int, day: int, months: int) -> tuple[int, int, int]:
    year, index = divmod(year * 12 + month - 1 + months, 12)
    month = index + 1
    return year, month, min(day, calendar.monthrange(year, month)[1])


def months_shift(moment: dt.datetime, months: int) -> dt.datetime:
    """``moment`` moved by ``months`` calendar months (negative: earlier), in its own zone."""
    year, month, day = _shifted(moment.year, moment.month, moment.day, months)
    return moment.replace(year=year, month=month, day=day)
