"""A hand-built history whose RFM scores and groups are worked out by hand
(test_rfm.py and test_scoring.py share it).

AS_OF is the start of 1 March 2026 in Warsaw; the window is [1 March 2025
00:00, 1 March 2026 00:00) Warsaw time. Ten members buy in the window, so
NTILE(5) puts two in each quintile before ties are evened out.

| member | last purchase (days before) | purchases | net      | R | F | M | FM | group |
| ------ | --------------------------- | --------- | -------- | - | - | - | -- | ----- |
| ann    | 2 (a later one fully refunded) | 6      | 300.00   | 5 | 5 | 4 | 4  | Champions |
| ben    | 1 (40.00, 20.00 refunded)   | 1         | 20.00    | 5 | 1 | 1 | 1  | New |
| cat    | 3                           | 2         | 50.00    | 4 | 3 | 2 | 2  | Potential loyalists |
| dan    | 10 at 12:00                 | 4         | 120.00   | 3 | 4 | 4 | 4  | Loyal |
| eve    | 10 at 09:00                 | 1         | 20.00    | 3 | 1 | 1 | 1  | About to sleep |
| fay    | 10 at 15:00                 | 2         | 60.00    | 3 | 3 | 3 | 3  | Need attention |
| gus    | 40                          | 5         | 400.00   | 2 | 5 | 5 | 5  | Can't lose them |
| hal    | 100                         | 3         | 90.00    | 2 | 4 | 3 | 3  | At risk |
| ida    | 200                         | 1         | 500.00   | 1 | 1 | 5 | 3  | At risk |
| jon    | 365 (1 March 2025 00:30)    | 1         | 10.00    | 1 | 1 | 1 | 1  | Lost |

R: ordered by the last purchase, oldest first: jon ida | hal gus | eve dan | fay
cat | ann ben -> 1 1 2 2 3 3 4 4 5 5; fay shares the day (10) of eve and dan,
so the lowest of their quintiles, 3.
F: 1 purchase: ben eve ida jon (NTILE 1 1 2 2 -> all 1) | 2: cat fay (3 3) |
3: hal (4) | 4: dan (4) | 5: gus (5) | 6: ann (5): score 2 is empty.
M: jon 10 (1) | ben 20, eve 20 (1, 2 -> 1) | cat 50 (2) | fay 60 (3) | hal 90
(3) | dan 120 (4) | ann 300 (4) | gus 400 (5) | ida 500 (5).
FM = (F + M) // 2; the group is RFM_GROUPS[(R, FM)].

Not scored: kim (deleted, bought 1000.00 in the window: would shift every
quintile), leo (last purchase 28 February 2025 23:30, just before the window),
max (only a fully refunded purchase), ned (never bought). A purchase without
a member and ben's purchase at 1 March 2026 00:30 (after AS_OF) count nowhere.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.utils import timezone

from loyalty.models import Source
from loyalty.services.purchases import purchase_record, refund_record
from members.models import Member
from tests.factories import MemberFactory, ProgramFactory, StoreFactory

WARSAW = ZoneInfo("Europe/Warsaw")
AS_OF = dt.date(2026, 3, 1)

# name: (R, F, M, group value, recency days, frequency, net)
EXPECTED = {
    "ann": (5, 5, 4, "champions", 2, 6, "300.00"),
    "ben": (5, 1, 1, "new", 1, 1, "20.00"),
    "cat": (4, 3, 2, "potential_loyalists", 3, 2, "50.00"),
    "dan": (3, 4, 4, "loyal", 10, 4, "120.00"),
    "eve": (3, 1, 1, "about_to_sleep", 10, 1, "20.00"),
    "fay": (3, 3, 3, "need_attention", 10, 2, "60.00"),
    "gus": (2, 5, 5, "cant_lose", 40, 5, "400.00"),
    "hal": (2, 4, 3, "at_risk", 100, 3, "90.00"),
    "ida": (1, 1, 5, "at_risk", 200, 1, "500.00"),
    "jon": (1, 1, 1, "lost", 365, 1, "10.00"),
}
UNSCORED = ("leo", "max", "ned")


def local(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=WARSAW)


def days_before(days: int, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(AS_OF - dt.timedelta(days=days), dt.time(hour), tzinfo=WARSAW)


def buy(member, store, at: dt.datetime, amount: str, *, refunded: str | None = None) -> None:
    purchase = purchase_record(
        external_id=f"P-{member.pk if member else 'x'}-{at.timestamp()}", store=store, member=member,
        purchased_at=at, amount=Decimal(amount), currency="PLN", source=Source.IMPORT,
        now=max(at, timezone.now()),
    ).purchase
    if refunded:
        refund_record(
            external_id=f"R-{purchase.external_id}", purchase=purchase, amount=Decimal(refunded),
            source=Source.IMPORT, refunded_at=at + dt.timedelta(hours=1),
        )


def history_build() -> dict:
    """The members above (created in alphabetical order, so ids follow it), with the store."""
    ProgramFactory(timezone="Europe/Warsaw")
    store, other = StoreFactory(code="S1"), StoreFactory(code="S2")
    names = [*EXPECTED, "kim", *UNSCORED]
    people = {
        name: MemberFactory(enrolled_at=local(2024, 6, 1), enrollment_store=other if name in ("ida", "jon") else store)
        for name in names
    }
    p = people
    for days in (2, 20, 50, 80, 120, 150):
        buy(p["ann"], store, days_before(days), "50.00")
    buy(p["ann"], store, days_before(1), "70.00", refunded="70.00")
    buy(p["ben"], store, days_before(1), "40.00", refunded="20.00")
    buy(p["ben"], store, local(2026, 3, 1, 0, 30), "99.00")
    buy(p["cat"], store, days_before(3), "25.00")
    buy(p["cat"], store, days_before(30), "25.00")
    for days in (10, 11, 60, 90):
        buy(p["dan"], store, days_before(days, 12), "30.00")
    buy(p["eve"], store, days_before(10, 9), "20.00")
    buy(p["fay"], store, days_before(10, 15), "30.00")
    buy(p["fay"], store, days_before(200), "30.00")
    for days in (40, 41, 42, 43, 44):
        buy(p["gus"], store, days_before(days), "80.00")
    for days in (100, 150, 250):
        buy(p["hal"], store, days_before(days), "30.00")
    buy(p["ida"], other, days_before(200), "500.00")
    buy(p["jon"], other, local(2025, 3, 1, 0, 30), "10.00")
    buy(p["kim"], store, days_before(5), "1000.00")
    Member.objects.filter(pk=p["kim"].pk).update(status=Member.Status.DELETED)
    buy(p["leo"], store, local(2025, 2, 28, 23, 30), "45.00")
    buy(p["max"], store, days_before(7), "60.00", refunded="60.00")
    buy(None, store, days_before(4), "99.00")
    return {**people, "store": store, "other": other}
