"""The demo program's data, generated deterministically from a seed.

A Polish coffee-and-bakery chain: members with Polish names, emails and
mobile numbers, enrolled over the last two years; a year of purchases with a
weekly rhythm (weekends busier), a seasonal one (a December peak, a summer
dip) and hours of a café; members whose visit rates are skewed (a few
regulars come almost daily, most a handful of times a year); purchases
without a member; refunds, some partial. Every receipt has its lines (a
coffee and a pastry, a loaf, now and then a bag of beans or a whole cake,
see ``MENU``), and its amount is their sum, so the demo's rules on product
categories (``coffee``, ``coffee-beans``, ...) have something to match.

Everything here is pure: the same seed, size and end give the same data.
Generators yield one member (with their purchases and refunds) at a time, so
the loader writes in streaming batches whatever the size.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import random
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

from faker import Faker

from members.cards import card_number_generate

STORES = (
    # code, name, share of the traffic
    ("WAW-01", "Warszawa Śródmieście", 0.28),
    ("WAW-02", "Warszawa Mokotów", 0.20),
    ("KRK-01", "Kraków Kazimierz", 0.20),
    ("GDN-01", "Gdańsk Główne Miasto", 0.16),
    ("WRO-01", "Wrocław Rynek", 0.16),
)
WEEKDAY = (0.85, 0.85, 0.9, 0.95, 1.1, 1.45, 1.25)  # Monday first
MONTH = (0.9, 0.85, 0.95, 1.0, 1.0, 0.95, 0.7, 0.7, 0.95, 1.0, 1.1, 1.7)
HOURS = {7: 8, 8: 12, 9: 10, 10: 7, 11: 6, 12: 8, 13: 9, 14: 7, 15: 8, 16: 9, 17: 8, 18: 5, 19: 3}
PURCHASES_PER_YEAR = 16.0  # mean visit rate of a member (with non-members: about 20 per member)
RATE_SHAPE = 0.6  # gamma shape of the visit rates: lower = more skew
NON_MEMBER_SHARE = 0.30
REFUND_SHARE = 0.02
PARTIAL_REFUND_SHARE = 0.4
DOMAINS = ("example.com", "example.pl", "example.net", "example.org")
# The menu: (SKU, category, price, weight within its course). Categories are what rules name.
COFFEES = (
    ("ESP", "coffee", "8.00", 2), ("AME", "coffee", "10.00", 3), ("CAP", "coffee", "13.00", 5),
    ("LAT", "coffee", "14.50", 4), ("FLW", "coffee", "14.00", 2),
)
SIDES = (
    ("CRO", "bakery", "7.50", 4), ("DRO", "bakery", "6.00", 3), ("SER", "bakery", "12.00", 3),
    ("KAN", "food", "16.00", 3), ("TEA", "drinks", "9.00", 1),
)
BREADS = (("CHL-ZYT", "bread", "14.00", 2), ("BAG", "bread", "8.00", 1))
BEANS = (("BEANS-250", "coffee-beans", "39.00", 4), ("BEANS-1KG", "coffee-beans", "119.00", 1))
MENU = (COFFEES, SIDES, BREADS, BEANS)
CAKE = ("TORT", "cakes")  # a whole cake or a catering order, priced 85-180
LANGUAGES = (("pl", 0.94), ("en", 0.05), ("ro", 0.01))


@dataclass(frozen=True)
class DemoLine:
    sku: str
    category: str
    quantity: Decimal
    amount: Decimal


@dataclass(frozen=True)
class DemoPurchase:
    external_id: str
    store_code: str
    purchased_at: dt.datetime
    amount: Decimal
    refunds: tuple[tuple[str, dt.datetime, Decimal], ...] = ()
    lines: tuple[DemoLine, ...] = ()


@dataclass
class DemoMember:
    index: int
    card_number: str
    first_name: str
    last_name: str
    email: str
    phone: str
    birth_date: dt.date | None
    language: str
    store_code: str
    enrolled_at: dt.datetime
    marketing_consent: bool
    referred_by: int | None  # index of an earlier member
    purchases: list[DemoPurchase] = field(default_factory=list)


def ascii_name(text: str) -> str:
    text = text.replace("ł", "l").replace("Ł", "L")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower().replace(" ", "")


class DemoGenerator:
    """Members and purchases for ``[end - 365 days, end)``; see the module docstring."""

    def __init__(self, *, seed: int, members: int, end: dt.datetime, tz: ZoneInfo) -> None:
        self.seed = seed
        self.members = members
        self.tz = tz
        self.end = end
        self.start = end - dt.timedelta(days=365)
        self.rng = random.Random(seed)
        self.faker = Faker("pl_PL")
        self.faker.seed_instance(seed)
        self._receipt = 0
        start_day = self.start.astimezone(tz).date()
        self.days = [start_day + dt.timedelta(days=n) for n in range(365)]
        weights = [WEEKDAY[day.weekday()] * MONTH[day.month - 1] for day in self.days]
        self.day_weights = weights
        self._cumulative = []
        total = 0.0
        for weight in weights:
            total += weight
            self._cumulative.append(total)
        self._hours = list(HOURS)
        self._hour_cumulative = []
        total = 0.0
        for hour in self._hours:
            total += HOURS[hour]
            self._hour_cumulative.append(total)
        self._store_codes = [code for code, _name, _share in STORES]
        self._store_weights = [share for _code, _name, share in STORES]
        self._menu = [
            ([(sku, category, Decimal(price)) for sku, category, price, _weight in course],
             [weight for *_item, weight in course])
            for course in MENU
        ]

    # -- helpers -------------------------------------------------------------

    def _receipt_id(self, store: str) -> str:
        self._receipt += 1
        return f"{store}-{self._receipt:09d}"

    def _poisson(self, mean: float) -> int:
        if mean <= 0:
            return 0
        if mean > 50:
            return max(0, round(self.rng.gauss(mean, math.sqrt(mean))))
        limit, count, product = math.exp(-mean), 0, self.rng.random()
        while product > limit:
            count += 1
            product *= self.rng.random()
        return count

    def _store(self) -> str:
        return self.rng.choices(self._store_codes, self._store_weights)[0]

    def _time_on(self, day: dt.date) -> dt.datetime:
        hour = self._hours[bisect.bisect(self._hour_cumulative, self.rng.random() * self._hour_cumulative[-1])]
        local = dt.datetime(
            day.year, day.month, day.day, hour, self.rng.randrange(60), self.rng.randrange(60), tzinfo=self.tz
        )
        return local.astimezone(dt.UTC)

    def _day_between(self, first: int, last: int) -> dt.date:
        """A day index in ``[first, last)``, weighted by the weekly and seasonal rhythm."""
        low = self._cumulative[first - 1] if first else 0.0
        high = self._cumulative[last - 1]
        index = bisect.bisect(self._cumulative, low + self.rng.random() * (high - low))
        return self.days[min(max(index, first), last - 1)]

    def _basket(self) -> tuple[tuple[DemoLine, ...], Decimal]:
        """A receipt's lines and amount: mostly a coffee, often a pastry, sometimes bread,
        now and then beans or a whole cake (median about 20, mean about 24)."""
        rng = self.rng
        coffees, sides, breads, beans = self._menu
        lines = []

        def take(course: tuple[list, list], quantity: int = 1) -> None:
            sku, category, price = rng.choices(course[0], course[1])[0]
            lines.append(DemoLine(sku, category, Decimal(quantity), price * quantity))

        has_coffee = rng.random() < 0.72
        if has_coffee:
            take(coffees, 2 if rng.random() < 0.15 else 1)
        if rng.random() < (0.5 if has_coffee else 0.9):
            take(sides)
        if rng.random() < 0.12:
            take(breads)
        if rng.random() < 0.04:
            take(beans)
        if rng.random() < 0.03:
            price = Decimal(rng.randrange(85, 181))
            lines.append(DemoLine(*CAKE, Decimal(1), price))
        if not lines:
            take(sides)
        return tuple(lines), sum((line.amount for line in lines), Decimal("0.00"))

    def _refunds(self, external_id: str, at: dt.datetime, amount: Decimal) -> tuple:
        if self.rng.random() >= REFUND_SHARE:
            return ()
        when = at + dt.timedelta(minutes=self.rng.uniform(10, 20 * 24 * 60))
        if when >= self.end:
            return ()
        if self.rng.random() < PARTIAL_REFUND_SHARE and amount > Decimal("1.00"):
            part = (amount * Decimal(self.rng.uniform(0.2, 0.8))).quantize(Decimal("0.01"))
        else:
            part = amount
        return ((f"{external_id}-R", when, part),)

    # -- members -------------------------------------------------------------

    def enrollment_times(self) -> list[dt.datetime]:
        """When each member enrolled, ascending: 75% in the year before, 25% during the year."""
        before = self.start - dt.timedelta(days=365)
        span = (self.end - before).total_seconds()
        times = []
        for _ in range(self.members):
            if self.rng.random() < 0.75:
                offset = self.rng.random() * (self.start - before).total_seconds()
            else:
                offset = (self.start - before).total_seconds() + self.rng.random() * 365 * 86_400
            times.append(min(offset, span - 3600))
        times.sort()
        result = []
        for offset in times:
            instant = before + dt.timedelta(seconds=offset)
            local = instant.astimezone(self.tz)
            if not 7 <= local.hour < 20:  # enrolled at a till, in opening hours
                local = local.replace(hour=7 + self.rng.randrange(13))
            result.append(min(local.astimezone(dt.UTC), self.end - dt.timedelta(hours=1)))
        return result

    def members_iter(self) -> Iterator[DemoMember]:
        """Every member with their purchases, in enrollment order."""
        cards: set[str] = set()
        for index, enrolled_at in enumerate(self.enrollment_times()):
            yield self._member(index, enrolled_at, cards)

    def _member(self, index: int, enrolled_at: dt.datetime, cards: set[str]) -> DemoMember:
        rng, faker = self.rng, self.faker
        if rng.random() < 0.56:
            first, last = faker.first_name_female(), faker.last_name_female()
        else:
            first, last = faker.first_name_male(), faker.last_name_male()
        card = card_number_generate(rng=rng)
        while card in cards:
            card = card_number_generate(rng=rng)
        cards.add(card)
        email = f"{ascii_name(first)}.{ascii_name(last)}{index}@{rng.choice(DOMAINS)}"
        has_phone = rng.random() < 0.8
        number = (index * 3_000_017 + self.seed) % 10_000_000
        phone = f"+4860{number:07d}" if has_phone else ""
        if has_phone and rng.random() < 0.1:
            email = ""  # some members gave only a phone
        today = self.end.astimezone(self.tz).date()
        birth_date = None
        if rng.random() < 0.8:
            age_days = int(rng.triangular(18, 78, 32) * 365.25)
            birth_date = today - dt.timedelta(days=age_days)
        language = rng.choices([code for code, _ in LANGUAGES], [share for _, share in LANGUAGES])[0]
        store = self._store()
        referred_by = rng.randrange(index) if index and rng.random() < 0.06 else None
        member = DemoMember(
            index=index, card_number=card, first_name=first, last_name=last, email=email, phone=phone,
            birth_date=birth_date, language=language, store_code=store, enrolled_at=enrolled_at,
            marketing_consent=rng.random() < 0.6, referred_by=referred_by,
        )
        member.purchases = self._member_purchases(member)
        return member

    def _member_purchases(self, member: DemoMember) -> list[DemoPurchase]:
        rng = self.rng
        rate = min(rng.gammavariate(RATE_SHAPE, PURCHASES_PER_YEAR / RATE_SHAPE), 330.0)
        first_day = 0
        times: list[dt.datetime] = []
        if member.enrolled_at >= self.start:
            first_day = min((member.enrolled_at.astimezone(self.tz).date() - self.days[0]).days, 364)
            if rng.random() < 0.8:
                times.append(member.enrolled_at + dt.timedelta(minutes=1))  # enrolled while buying
        share = (self._cumulative[-1] - (self._cumulative[first_day - 1] if first_day else 0)) / self._cumulative[-1]
        for _ in range(self._poisson(rate * share)):
            at = self._time_on(self._day_between(first_day, 365))
            if member.enrolled_at < at < self.end:
                times.append(at)
        times.sort()
        purchases = []
        for at in times:
            store = member.store_code if rng.random() < 0.8 else self._store()
            external_id = self._receipt_id(store)
            lines, amount = self._basket()
            purchases.append(
                DemoPurchase(external_id, store, at, amount, self._refunds(external_id, at, amount), lines)
            )
        return purchases

    # -- purchases without a member ------------------------------------------

    def non_member_purchases(self, *, member_purchases: float) -> Iterator[DemoPurchase]:
        """About ``NON_MEMBER_SHARE`` of all purchases, day by day."""
        total = member_purchases * NON_MEMBER_SHARE / (1 - NON_MEMBER_SHARE)
        scale = total / self._cumulative[-1]
        for day, weight in zip(self.days, self.day_weights, strict=True):
            times = sorted(self._time_on(day) for _ in range(self._poisson(weight * scale)))
            for at in times:
                if at >= self.end:
                    continue
                store = self._store()
                external_id = self._receipt_id(store)
                lines, amount = self._basket()
                yield DemoPurchase(external_id, store, at, amount, self._refunds(external_id, at, amount), lines)
