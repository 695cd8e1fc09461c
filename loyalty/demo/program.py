"""The demo program's configuration, as a program file (``import_program``'s format).

A Polish coffee-and-bakery chain: five stores; three tiers reached by spend
over 12 months (Silver 400 PLN, Gold 1,000 PLN, Platinum 2,000 PLN: about a
quarter, a tenth and one member in seventy of the demo's members) and a paid
VIP tier (199 PLN a year); six earning rules (double points at weekends,
3x on coffee beans, +50 on a first purchase, a coffee stamp card where nine
coffees earn the tenth, a Christmas bonus on cakes, and a paused afternoon
happy hour); and every action bonus. Names and benefits are in English, Polish
and Romanian. The file is applied through ``program_import``, so it is
checked as any program file is, and applying it again changes nothing.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from .generator import STORES

TIMEZONE = "Europe/Warsaw"

PROGRAM = {
    "name": "Kawa i Chleb", "currency": "PLN", "country": "PL", "timezone": TIMEZONE,
    "earn_rate": "1.00", "point_value": "0.01", "return_window_days": 14, "expiry_months": 12,
    "allow_debt": True, "tier_metric": "spend", "tier_window_months": 12, "tier_grace_days": 30,
}


def _tier(code: str, rank: int, names: tuple[str, str, str], benefits: tuple[list, list, list], **values) -> dict:
    return {
        "code": code, "rank": rank, "name": dict(zip(("en", "pl", "ro"), names, strict=True)),
        "benefits": dict(zip(("en", "pl", "ro"), benefits, strict=True)),
        "threshold": None, "multiplier": "1.00", "is_paid": False, "fee": None, "period_months": None,
        "archived": False, **values,
    }


TIERS = [
    _tier(
        "silver", 1, ("Silver", "Srebrny", "Argint"),
        (
            ["1.1x points on every purchase", "A free extra shot in any coffee"],
            ["1,1x punktów za każdy zakup", "Darmowe dodatkowe espresso do każdej kawy"],
            ["1,1x puncte la fiecare cumpărătură", "Un shot de espresso în plus, gratuit"],
        ),
        threshold="400.00", multiplier="1.10",
    ),
    _tier(
        "gold", 2, ("Gold", "Złoty", "Aur"),
        (
            ["1.25x points on every purchase", "Free refills of filter coffee", "A birthday cake slice"],
            ["1,25x punktów za każdy zakup", "Darmowa dolewka kawy przelewowej", "Kawałek ciasta w urodziny"],
            ["1,25x puncte la fiecare cumpărătură", "Cafea la filtru din nou, gratuit",
             "O felie de tort de ziua ta"],
        ),
        threshold="1000.00", multiplier="1.25",
    ),
    _tier(
        "platinum", 3, ("Platinum", "Platynowy", "Platină"),
        (
            ["1.5x points on every purchase", "A free coffee every month", "Cakes to order without a queue"],
            ["1,5x punktów za każdy zakup", "Darmowa kawa co miesiąc", "Torty na zamówienie bez kolejki"],
            ["1,5x puncte la fiecare cumpărătură", "O cafea gratuită în fiecare lună",
             "Torturi la comandă fără așteptare"],
        ),
        threshold="2000.00", multiplier="1.50",
    ),
    _tier(
        "vip", 4, ("VIP Club", "Klub VIP", "Club VIP"),
        (
            ["2x points on every purchase", "A free coffee every week", "10% off whole cakes",
             "Invitations to cuppings"],
            ["2x punktów za każdy zakup", "Darmowa kawa co tydzień", "10% zniżki na całe torty",
             "Zaproszenia na degustacje kawy"],
            ["2x puncte la fiecare cumpărătură", "O cafea gratuită în fiecare săptămână",
             "10% reducere la torturi întregi", "Invitații la degustări de cafea"],
        ),
        multiplier="2.00", is_paid=True, fee="199.00", period_months=12,
    ),
]


def _rule(key: str, kind: str, value: str, **values) -> dict:
    return {
        "key": key, "name": key, "status": "active", "kind": kind, "value": value, "stamps_needed": None,
        "starts_at": None, "ends_at": None, "weekdays": [], "hours_start": None, "hours_end": None,
        "stores": [], "tiers": [], "segments": [], "categories": [], "skus": [], "min_spend": None,
        "first_purchase_only": False, "birthday_week": False, "priority": 0, "mode": "stack", "group": "",
        "member_cap": None, "member_cap_period": "rule", "budget": None, **values,
    }


def _christmas(end: dt.datetime) -> tuple[str, str]:
    """1-24 December (program time) of the last December that began before ``end``."""
    tz = ZoneInfo(TIMEZONE)
    local = end.astimezone(tz)
    year = local.year if local >= dt.datetime(local.year, 12, 1, tzinfo=tz) else local.year - 1
    return (
        dt.datetime(year, 12, 1, tzinfo=tz).isoformat(),
        dt.datetime(year, 12, 25, tzinfo=tz).isoformat(),
    )


def demo_rules(end: dt.datetime) -> list[dict]:
    starts_at, ends_at = _christmas(end)
    return [
        _rule("Double points weekend", "multiplier", "2.00", weekdays=[5, 6], priority=10),
        _rule("3x on coffee beans", "multiplier", "3.00", categories=["coffee-beans"], priority=5),
        _rule("+50 on first purchase", "fixed", "50.00", first_purchase_only=True),
        # Nine coffees fill the card; the full card gives the points of a cappuccino.
        _rule("Coffee stamp card", "stamps", "1300.00", stamps_needed=9, categories=["coffee"]),
        _rule(
            "Christmas cakes: +100 points", "fixed", "100.00", categories=["cakes"], min_spend="100.00",
            starts_at=starts_at, ends_at=ends_at, budget=50_000,
        ),
        _rule(
            "Afternoon happy hour", "percent", "10.00", status="paused", weekdays=[0, 1, 2, 3],
            hours_start="14:00", hours_end="16:00", member_cap=100, member_cap_period="week",
        ),
    ]


BONUSES = [
    {"kind": "signup", "points": 50, "active": True},
    {"kind": "profile", "points": 30, "active": True},
    {"kind": "referrer", "points": 200, "active": True},
    {"kind": "referred", "points": 100, "active": True},
    {"kind": "review", "points": 20, "active": True},
    {"kind": "birthday", "points": 100, "active": True},
    {"kind": "anniversary", "points": 150, "active": True},
]


def demo_program_file(*, end: dt.datetime) -> dict:
    """The whole demo configuration; ``end`` (the end of the demo's year) dates the Christmas rule."""
    return {
        **PROGRAM,
        "stores": [{"code": code, "name": name, "timezone": TIMEZONE} for code, name, _share in STORES],
        "tiers": TIERS,
        "rules": demo_rules(end),
        "bonuses": BONUSES,
    }
