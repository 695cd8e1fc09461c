"""Saved segments: the condition language, its checking, and its compilation
into a member queryset.

The conditions of a ``Segment``
-------------------------------
``Segment.conditions`` is ``{"all": [<condition>, ...]}``: a member is in the
segment when every condition holds (AND). An empty list is every member.
Deleted members are never in a segment. Each condition is
``{"field": ..., "op": ..., "value": ...}`` (``{}``, the model's default, is
no condition):

- ``rfm_group`` ``in`` [group codes, e.g. "champions"]: their RFM group from
  the last scoring run is one of them (members not scored have no group).
- ``last_purchase`` ``before`` "YYYY-MM-DD": they have bought, and never on
  or after that day; ``after`` "YYYY-MM-DD": they bought on a later day;
  ``within_days`` N (>= 1): they bought in the last N x 24 hours.
- ``spend`` ``at_least`` / ``at_most`` "100.00": their lifetime net spend
  (purchase amounts less refunds).
- ``purchases`` ``at_least`` / ``at_most`` N (>= 0): their number of purchases.
- ``tier`` ``in`` [tier ids]: their current tier (``MemberTier``) is one of them.
- ``store`` ``enrolled_at`` [store ids]: they enrolled at one of the stores;
  ``bought_at`` [store ids]: they have bought at one of them.
- ``enrolled`` ``before`` / ``after`` "YYYY-MM-DD": their enrollment date.
- ``consent`` ``given`` / ``not_given`` "email" or "sms": their marketing
  consent on that channel.
- ``birthday_month`` ``in`` [months 1-12]: their birth date's month.
- ``churn`` ``at_least`` / ``at_most`` "0.7" (a fraction 0-1):
  1 - their probability of being active (CLV model, ``MemberScore``).
- ``clv`` ``at_least`` / ``at_most`` "250.00": their predicted 12-month CLV.

For example::

    {"all": [
        {"field": "rfm_group", "op": "in", "value": ["champions", "loyal"]},
        {"field": "last_purchase", "op": "before", "value": "2026-01-01"},
        {"field": "consent", "op": "given", "value": "email"},
    ]}

Purchases are counted as the KPIs count them (``analytics.kpis.counted_purchases``:
a fully refunded purchase is no purchase) and a purchase's amount is
``NET_AMOUNT``. Dates (1900-01-01 to 2999-12-31) are whole calendar days in the program's time zone:
"before 2026-01-01" ends at the first midnight of that day, "after
2026-01-01" starts at the first midnight of the next day; the day itself
is in neither. Members without a score (never bought, or not scored yet)
match no ``rfm_group``, ``churn`` or ``clv`` condition; members who never
bought match ``spend``/``purchases`` ``at_most`` (their total is 0) and no
``last_purchase`` condition.

``segment_validate`` checks a whole list and returns it cleaned (lists sorted
without repeats, amounts as strings with two places, ids and numbers as
ints); errors name each bad condition's position (from 1) and field.

Compilation
-----------
Every condition becomes one expression on the member row: a column test, an
``EXISTS`` over the member's purchases, tier or score, or ``pk IN`` a grouped
subquery for the totals (spend, number of purchases). No join multiplies rows;
the same expressions work as a ``filter`` and inside a conditional ``Count``,
so ``segment_counts`` counts a whole page of segments in one query.
"""

from analytics.segments.conditions import (
    CHANNELS,
    CHOICE_KINDS,
    FIELDS,
    FIRST_DAY,
    LAST_DAY,
    MAX_DAYS,
    MONTHS,
    OPERATORS,
    FieldSpec,
    conditions_key,
    segment_validate,
)
from analytics.segments.queries import (
    segment_count,
    segment_count_time,
    segment_counts,
    segment_members,
    segment_q,
    segment_queryset,
)

__all__ = [
    "CHANNELS", "CHOICE_KINDS", "FIELDS", "FIRST_DAY", "LAST_DAY", "MAX_DAYS", "MONTHS", "OPERATORS", "FieldSpec",
    "conditions_key", "segment_count", "segment_count_time", "segment_counts", "segment_members", "segment_q",
    "segment_queryset", "segment_validate",
]
