"""The dashboard's series: each chart's numbers, which the page draws, shows
as a table beside the chart and exports as CSV, from one ``Series``.

Every figure uses the KPI definitions of ``analytics.kpis`` (its building
blocks ``counted_purchases``, ``NET_AMOUNT``, ``ledger_store_q``), over the
buckets of ``bucketing``: days for a period of up to 31 days, ISO weeks up to
26 weeks, months beyond; bucket bounds are local midnights in the program's
time zone, clipped to the period.

What each chart counts (the README says the same to staff)
---------------------------------------------------------
- ``members``: members counted in ``members_total`` at each bucket's end (the
  running total: those enrolled before the period plus those enrolled in each
  bucket), the members enrolled in the bucket (``new_members``) and the
  members with a counted purchase in the bucket (``active_members``).
- ``purchases``: counted purchases in the bucket with and without a member,
  and the AOV of each (``NET_AMOUNT`` / count, two places half up).
- ``points``: ``points_earned``, ``points_redeemed`` and ``points_expired`` of
  the bucket: the KPI's ledger kinds, by ``effective_at``, store by
  ``ledger_store_q``. The buckets add up to the period's KPIs.
- ``liability``: ``points_liability`` at each bucket's end, in points and in
  money: the balances at the period's start (one plain sum) plus each bucket's
  net change (from the period's grouped ledger query), a running total in Python.
- ``liability-ageing``: the points members hold by the month their lot
  expires (never-expiring lots in a row of their own), in points and money.
  The ledger does not record which lots a redemption took points from, so a
  lot's ``remaining`` is only known as it stands *now*: the chart shows the
  open lots (pending, or available with points left) now. When the period
  ends now or later this is the liability at ``end`` (its total equals
  ``points_liability``); for a period that ended earlier the chart is titled
  "now" and ``extra["at_end"]`` is ``False``.
- ``tiers``: the members counted in ``members_total`` by their current tier
  (``MemberTier``; members without one, or with none, in the "No tier" row):
  tiers are kept as they stand, not as a history.
- ``rfm``: the RFM grid of the last finished scoring run
  (``analytics.selectors.scores.rfm_grid``): members per R and F score, the
  named groups in ``extra``. It describes the run's ``as_of``, not the period.
- ``nps``: NPS of the feedback given in the bucket and the number of answers.
- ``comments``: the latest feedback of the period with a comment: date, score,
  comment and the member's first name only.

Store scoping is the KPIs' (``analytics.kpis`` "Store scoping"). The queries
do not depend on the number of buckets or members: ``dashboard_series`` makes
``DASHBOARD_QUERIES`` queries.
"""

from analytics.selectors.series.buckets import DAY, MONTH, WEEK, Bucket, bucket_unit, bucketing
from analytics.selectors.series.charts import (
    DASHBOARD_QUERIES,
    dashboard_series,
    liability_ageing,
    liability_series,
    members_series,
    nps_series,
    points_series,
    purchases_series,
    recent_comments,
    rfm_series,
    tier_distribution,
)
from analytics.selectors.series.shapes import Dataset, Number, Series

__all__ = [
    "DASHBOARD_QUERIES", "DAY", "MONTH", "WEEK", "Bucket", "Dataset", "Number", "Series", "bucket_unit", "bucketing",
    "dashboard_series", "liability_ageing", "liability_series", "members_series", "nps_series", "points_series",
    "purchases_series", "recent_comments", "rfm_series", "tier_distribution",
]
