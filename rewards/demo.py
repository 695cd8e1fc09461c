"""The demo catalog: ``demo_data`` adds it after the demo program.

Eight rewards of the coffee-and-bakery chain, one of each kind and a few more,
named and described in English, Polish and Romanian: a free cappuccino, a
10 PLN discount (twice a month at most), 15% off whole cakes for Silver and
above (at most 30 PLN), a bag of coffee beans (40 in stock), a coffee cupping
evening for Gold and above (12 places, three weeks after the demo's day), a
donation to a city animal shelter (5 PLN per 500 points), a cinema ticket from
a partner (a pool of 50 generated codes), and a birthday cake slice given only
by campaigns. No images (upload them on the staff pages).

``demo_redemptions_load`` then redeems some of them for members who can
afford them (``demo_data`` runs it after the catalog), so wallets, the staff
voucher pages and the redemption figures have something to show.

Saved through ``rewards.services.catalog``, so each reward is checked as the
staff pages check it. Deterministic from the seed and the day; idempotent: a
reward or charity whose code exists is left as it is, and the partner codes
are drawn only into an empty pool, so running it again (with any seed)
changes nothing.
"""

from __future__ import annotations

import datetime as dt
import io
import random
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from loyalty.demo import CASHIER_STORES, LOGINS
from loyalty.models import PointsAccount, Program, Store, Tier
from members.exceptions import LoyaltyError
from members.models import Member, User
from rewards.models import Charity, Reward, Voucher
from rewards.services.catalog import charity_save, reward_save
from rewards.services.partner_codes import partner_codes_import
from rewards.services.redemption import reward_redeem
from rewards.services.vouchers import voucher_use

PARTNER_CODES = 50
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRTUVWXY"

CHARITY = {
    "code": "city-shelter",
    "name_en": "City Animal Shelter", "name_pl": "Miejskie Schronisko dla Zwierząt",
    "name_ro": "Adăpostul de Animale al Orașului",
}


def _texts(field: str, en: str, pl: str, ro: str) -> dict[str, str]:
    return {f"{field}_en": en, f"{field}_pl": pl, f"{field}_ro": ro}


def _reward(code: str, kind: str, points: int, names: tuple[str, str, str], descriptions: tuple[str, str, str],
            **fields: object) -> dict:
    return {"code": code, "kind": kind, "points_cost": points, **_texts("name", *names),
            **_texts("description", *descriptions), **fields}


def demo_rewards(*, event_at: dt.datetime, tiers: dict[str, Tier], charity: Charity) -> list[dict]:
    """The demo's rewards as ``reward_save`` data, cheapest first."""
    return [
        _reward(
            "donate-shelter", Reward.Kind.DONATION, 500,
            ("Donate 5 PLN to the animal shelter", "Przekaż 5 zł schronisku", "Donează 5 lei adăpostului"),
            ("We give 5 PLN to the City Animal Shelter for every 500 points.",
             "Za każde 500 punktów przekazujemy 5 zł Miejskiemu Schronisku dla Zwierząt.",
             "Pentru fiecare 500 de puncte donăm 5 lei Adăpostului de Animale al Orașului."),
            value=Decimal("5.00"), charity=charity, voucher_valid_days=None,
        ),
        _reward(
            "discount-10", Reward.Kind.AMOUNT, 1000,
            ("10 PLN off", "10 zł zniżki", "10 lei reducere"),
            ("10 PLN off any purchase of 30 PLN or more.", "10 zł zniżki na zakupy za co najmniej 30 zł.",
             "10 lei reducere la orice cumpărătură de cel puțin 30 de lei."),
            value=Decimal("10.00"), member_limit=2, member_limit_period=Reward.LimitPeriod.MONTH,
        ),
        _reward(
            "free-cappuccino", Reward.Kind.PRODUCT, 1300,
            ("Free cappuccino", "Darmowe cappuccino", "Cappuccino gratuit"),
            ("A medium cappuccino, with any milk.", "Średnie cappuccino, z dowolnym mlekiem.",
             "Un cappuccino mediu, cu orice fel de lapte."),
            sku="CAP-M",
        ),
        _reward(
            "cakes-15", Reward.Kind.PERCENT, 1500,
            ("15% off a whole cake", "15% zniżki na cały tort", "15% reducere la un tort întreg"),
            ("15% off one whole cake, up to 30 PLN off.", "15% zniżki na jeden cały tort, do 30 zł.",
             "15% reducere la un tort întreg, până la 30 de lei."),
            value=Decimal("15"), max_discount=Decimal("30.00"), min_tier=tiers.get("silver"),
        ),
        _reward(
            "beans-250", Reward.Kind.PRODUCT, 2500,
            ("Bag of our house beans", "Paczka naszej kawy ziarnistej", "O pungă din cafeaua casei"),
            ("250 g of the house espresso blend, freshly roasted.",
             "250 g domowej mieszanki espresso, świeżo palonej.",
             "250 g din amestecul espresso al casei, proaspăt prăjit."),
            sku="BEANS-250", stock=40,
        ),
        _reward(
            "cupping-evening", Reward.Kind.EVENT, 3000,
            ("Coffee cupping evening", "Wieczór degustacji kawy", "Seară de degustare a cafelei"),
            ("Taste six single-origin coffees with our roaster. Two hours, snacks included.",
             "Degustacja sześciu kaw single origin z naszym palaczem. Dwie godziny, z przekąskami.",
             "Degustă șase cafele single-origin alături de prăjitorul nostru. Două ore, gustări incluse."),
            event_at=event_at, place="Kawa i Chleb, ul. Marszałkowska 10, Warszawa", stock=12,
            min_tier=tiers.get("gold"), member_limit=1,
        ),
        _reward(
            "cinema-ticket", Reward.Kind.PARTNER, 4000,
            ("Cinema ticket", "Bilet do kina", "Bilet la cinema"),
            ("A ticket for any 2D show at Kino Muranów; show the code at the box office.",
             "Bilet na dowolny seans 2D w Kinie Muranów; pokaż kod w kasie.",
             "Un bilet la orice film 2D la Kino Muranów; arată codul la casă."),
        ),
        _reward(
            "birthday-cake", Reward.Kind.PRODUCT, 0,
            ("Birthday cake slice", "Kawałek tortu urodzinowego", "O felie de tort aniversar"),
            ("Our gift for your birthday: a slice of any cake.", "Nasz prezent urodzinowy: kawałek dowolnego ciasta.",
             "Cadoul nostru de ziua ta: o felie din orice tort."),
            sku="CAKE-SLICE", in_catalog=False, voucher_valid_days=14,
        ),
    ]


def partner_codes_csv(*, seed: int, count: int = PARTNER_CODES) -> str:
    """``count`` cinema codes drawn from ``seed`` (the same seed, the same codes), as a codes file."""
    draw = random.Random(f"cinema-{seed}")
    codes: list[str] = []
    while len(codes) < count:
        code = "KINO-" + "".join(draw.choice(CODE_ALPHABET) for _ in range(8))
        if code not in codes:
            codes.append(code)
    return "code\n" + "\n".join(codes) + "\n"


@dataclass(frozen=True)
class DemoCatalogResult:
    rewards: int  # rewards created
    charities: int  # charities created
    codes: int  # partner codes added

    @property
    def created(self) -> bool:
        return bool(self.rewards or self.charities or self.codes)


@transaction.atomic
def demo_catalog_load(*, seed: int = 1, now: dt.datetime | None = None) -> DemoCatalogResult:
    """Add the demo catalog to the program (see the module docstring); one transaction.

    The event is three weeks after ``now``'s day, at 18:00 in the program's zone.
    """
    now = now or timezone.now()
    program = Program.objects.filter(pk=1).first()
    tz = program.tz if program is not None else ZoneInfo("Europe/Warsaw")
    event_day = now.astimezone(tz).date() + dt.timedelta(days=21)
    event_at = dt.datetime.combine(event_day, dt.time(18, 0), tzinfo=tz)
    charities = 0
    charity = Charity.objects.filter(code=CHARITY["code"]).first()
    if charity is None:
        charity = charity_save(charity=None, data=dict(CHARITY), actor=None)
        charities = 1
    tiers = {tier.code: tier for tier in Tier.objects.filter(code__in=["silver", "gold"], archived=False)}
    existing = set(Reward.objects.values_list("code", flat=True))
    rewards = 0
    for data in demo_rewards(event_at=event_at, tiers=tiers, charity=charity):
        if data["code"] not in existing:
            reward_save(reward=None, data=data, actor=None)
            rewards += 1
    codes = 0
    partner = Reward.objects.filter(code="cinema-ticket", kind=Reward.Kind.PARTNER).first()
    if partner is not None and not partner.partner_codes.exists():  # another seed later adds none
        result = partner_codes_import(reward=partner, file=io.StringIO(partner_codes_csv(seed=seed)))
        codes = result.added
    return DemoCatalogResult(rewards=rewards, charities=charities, codes=codes)


DEMO_REDEMPTIONS = 400  # at most, whatever the number of members
DEMO_KEY = "demo-redeem"


@dataclass(frozen=True)
class DemoRedemptionsResult:
    vouchers: int  # redeemed now
    used: int  # of which used at a till


def demo_redemptions_load(
    *, seed: int = 1, now: dt.datetime | None = None, limit: int = DEMO_REDEMPTIONS
) -> DemoRedemptionsResult:
    """Redeem catalog rewards for a sample of members who can afford them, as of
    ``now``, through ``reward_redeem`` (so the ledger, stock and limits are as in
    live use), and use about half of the vouchers at the demo cashier's stores.

    The demo member (``member@demo.example``) is always among them when they can
    afford a reward, so their wallet is not empty. At most ``limit`` redemptions,
    so that a demo of 100,000 members spends seconds here. Deterministic from the
    seed; runs once (a second run, with any seed, finds the demo's vouchers and
    does nothing). Each redemption is its own transaction.
    """
    if Voucher.objects.filter(idempotency_key__startswith=f"{DEMO_KEY}:").exists():
        return DemoRedemptionsResult(vouchers=0, used=0)
    now = now or timezone.now()
    catalog = list(
        Reward.objects.filter(status=Reward.Status.ACTIVE, in_catalog=True, points_cost__gt=0)
        .exclude(kind__in=[Reward.Kind.EVENT, Reward.Kind.DONATION])  # places and gifts stay for people to try
        .order_by("points_cost", "pk")
    )
    if not catalog:
        return DemoRedemptionsResult(vouchers=0, used=0)
    draw = random.Random(f"redeem-{seed}")
    cheapest = catalog[0].points_cost
    rich = list(
        PointsAccount.objects.filter(available__gte=cheapest, member__status=Member.Status.ACTIVE)
        .order_by("member_id")
        .values_list("member_id", "available")
    )
    chosen = draw.sample(rich, min(limit, len(rich)))
    demo_member = Member.objects.filter(user__email=LOGINS[-1].email).values_list("pk", flat=True).first()
    chosen_ids = {member_id for member_id, _available in chosen}
    if demo_member is not None and demo_member not in chosen_ids:
        account = next((row for row in rich if row[0] == demo_member), None)
        if account is not None:
            chosen = [account, *chosen[: max(limit - 1, 0)]]
    stores = list(Store.objects.filter(code__in=CASHIER_STORES).order_by("code"))
    cashier = User.objects.filter(email=LOGINS[3].email).first()
    members = Member.objects.in_bulk([member_id for member_id, _available in chosen])
    vouchers = used = 0
    for member_id, available in sorted(chosen):
        affordable = [reward for reward in catalog if reward.points_cost <= available]
        reward = draw.choice(affordable)
        try:
            voucher = reward_redeem(
                member=members[member_id], reward=reward, idempotency_key=f"{DEMO_KEY}:{member_id}",
                channel=draw.choice([Voucher.Channel.PORTAL, Voucher.Channel.TILL]), now=now,
            ).voucher
        except LoyaltyError:  # a limit, a tier, the stock: this member redeems nothing
            continue
        vouchers += 1
        if stores and member_id != demo_member and draw.random() < 0.5:
            voucher_use(
                code=voucher.code, channel=Voucher.Channel.TILL, store=draw.choice(stores), user=cashier,
                receipt=f"DEMO-V{voucher.pk}", now=now,
            )
            used += 1
    return DemoRedemptionsResult(vouchers=vouchers, used=used)
