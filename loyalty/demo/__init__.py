"""The demo program: ``python manage.py demo_data [--members N] [--seed S]``.

``demo_data_load`` creates (if there is none) a program for a Polish
coffee-and-bakery chain with its stores, tiers, earning rules and action
bonuses (``program.demo_program_file``, applied through ``program_import``),
demo logins for each role and a member, and ``N`` members with a year of
purchases from ``generator.DemoGenerator``. Members are written in batches
(COPY on PostgreSQL) and their purchases (with their lines) and refunds go
through ``BulkLedger``, so the rules are evaluated and the ledger is the one
live use would have produced. Then the tier review (``tiers_review``) puts each
member on the tier their year of spend reaches, a few set-based queries per
batch of members. Idempotent: when the demo is already there it changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from allauth.account.models import EmailAddress
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.ledger.bulk import BulkLedger
from loyalty.models import MemberTier, Program, Purchase, Source, Store, Tier
from loyalty.services.program import program_get
from loyalty.services.program_io import program_export, program_import
from loyalty.services.purchases import LineInput
from loyalty.services.tiers import tiers_review
from members.exceptions import LoyaltyError
from members.models import ConsentChange, Member, Role, User
from members.services.staff import staff_user_create_or_update

from .generator import DemoGenerator, DemoMember, DemoPurchase
from .program import TIMEZONE, demo_program_file

MEMBER_BATCH = 1000
# Rows per write batch: as fast as BulkLedger's default at 2,000 members, less memory, and its
# first-purchase check (which looks through the purchases still queued) stays short.
WRITE_BATCH = 2000
REVIEW_BATCH = 2000  # members per query of the tier review (all in the demo's one transaction)


@dataclass(frozen=True)
class DemoLogin:
    email: str
    password: str
    role: str
    what: str


LOGINS = (
    DemoLogin("owner@demo.example", "kawa-owner-demo", Role.OWNER, _("owner: everything, incl. staff accounts")),
    DemoLogin("manager@demo.example", "kawa-manager-demo", Role.MANAGER, _("manager: program, members, KPIs")),
    DemoLogin("marketing@demo.example", "kawa-marketing-demo", Role.MARKETING, _("marketing: segments, KPIs")),
    DemoLogin("cashier@demo.example", "kawa-cashier-demo", Role.CASHIER, _("cashier: the till of WAW-01 and WAW-02")),
    DemoLogin("member@demo.example", "kawa-member-demo", "", _("member: the member portal")),
)
CASHIER_STORES = ("WAW-01", "WAW-02")


class DemoNotPossible(LoyaltyError):
    code = "demo_not_possible"
    status = 409
    template = _(
        "The database already holds a program with %(members)d members and %(purchases)d purchases; "
        "demo_data only fills an empty one."
    )


@dataclass(frozen=True)
class DemoResult:
    created: bool
    members: int = 0
    purchases: int = 0
    refunds: int = 0
    entries: int = 0
    points_earned: int = 0
    tiers: dict[str, int] = field(default_factory=dict)  # members by tier code, after the review


def demo_exists() -> bool:
    return User.objects.filter(email=LOGINS[0].email).exists()


def _configure(*, end: dt.datetime, fresh: bool) -> None:
    """Apply the demo's program file; to a program already there (with no members),
    add the demo's stores, and its tiers, rules and bonuses where it has none."""
    demo = demo_program_file(end=end)
    if not fresh:
        data = program_export()
        codes = {store["code"] for store in data["stores"]}
        data["stores"] += [store for store in demo["stores"] if store["code"] not in codes]
        for section in ("tiers", "rules", "bonuses"):
            data[section] = data[section] or demo[section]
        demo = data
    program_import(data=demo)


def demo_data_load(
    *,
    members: int = 300,
    seed: int = 1,
    now: dt.datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> DemoResult:
    """Fill an empty database with the demo program, or change nothing if the demo is there.

    Deterministic: the same seed, size and day give the same data. The year
    of purchases ends at the start of today in the program's time zone; the
    ledger is settled to ``now``. One transaction; members and purchases are
    written in streaming batches, so memory stays flat with size (the set of
    card numbers drawn is kept to keep them unique).
    """
    if demo_exists():
        return DemoResult(created=False)
    now = now or timezone.now()
    say = progress or (lambda message: None)
    with transaction.atomic():
        program = Program.objects.filter(pk=1).first()
        if program is not None:
            counts = {"members": Member.objects.count(), "purchases": Purchase.objects.count()}
            if any(counts.values()):
                raise DemoNotPossible(**counts)
        tz = program.tz if program is not None else ZoneInfo(TIMEZONE)
        end = now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0).astimezone(dt.UTC)
        _configure(end=end, fresh=program is None)
        program = program_get()
        stores = dict(Store.objects.values_list("code", "pk"))
        _logins(stores)
        generator = DemoGenerator(seed=seed, members=members, end=end, tz=program.tz)
        by_index: list[int] = []  # member id by generation index, for referrals
        member_user = User.objects.get(email=LOGINS[-1].email)
        batch: list[DemoMember] = []
        member_purchases = 0
        with BulkLedger(program=program, source=Source.DEMO, now=now, batch_size=WRITE_BATCH) as bulk:
            member_ids = bulk.id_pool(Member)
            for member in generator.members_iter():
                if member.index == 0:
                    member.email = member_user.email
                by_index.append(member_ids.take())
                batch.append(member)
                member_purchases += len(member.purchases)
                if len(batch) == MEMBER_BATCH:
                    _write_members(batch, by_index, stores, bulk, user_id=member_user.pk)
                    say(f"{member.index + 1} members, {bulk.stats.purchases} purchases")
                    batch = []
            _write_members(batch, by_index, stores, bulk, user_id=member_user.pk)
            for purchase in generator.non_member_purchases(member_purchases=member_purchases):
                _add_purchase(bulk, purchase, stores, member_id=None)
            stats = bulk.finish()
        say(f"{members} members, {stats.purchases} purchases, {stats.refunds} refunds, {stats.entries} entries")
        tiers_review(now=now, batch_size=REVIEW_BATCH)
        held = Counter(dict(
            MemberTier.objects.filter(tier__isnull=False).values("tier__code").annotate(n=Count("pk"))
            .values_list("tier__code", "n")
        ))
        ranked = Tier.objects.order_by("rank").values_list("code", flat=True)
        tiers = {code: held[code] for code in ranked if held[code]}
    return DemoResult(
        created=True, members=members, purchases=stats.purchases, refunds=stats.refunds,
        entries=stats.entries, points_earned=stats.points_earned, tiers=tiers,
    )


def _logins(stores: dict[str, int]) -> None:
    for login in LOGINS:
        if login.role:
            store_ids = [stores[code] for code in CASHIER_STORES] if login.role == Role.CASHIER else None
            staff_user_create_or_update(
                email=login.email, role=login.role, store_ids=store_ids, password=login.password
            )
        elif not User.objects.filter(email=login.email).exists():
            user = User.objects.create_user(email=login.email, password=login.password)
            EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)


MEMBER_FIELDS = (
    "id", "card_number", "first_name", "last_name", "email", "phone", "birth_date", "language",
    "enrollment_store_id", "enrolled_at", "status", "marketing_consent", "referred_by_id", "user_id",
)
CONSENT_FIELDS = ("member_id", "channel", "given", "at", "source")


def _write_members(
    batch: list[DemoMember], by_index: list[int], stores: dict[str, int], bulk: BulkLedger, *, user_id: int
) -> None:
    if not batch:
        return
    bulk.rows_insert(Member, MEMBER_FIELDS, [
        (
            by_index[member.index], member.card_number, member.first_name, member.last_name, member.email,
            member.phone, member.birth_date, member.language, stores[member.store_code], member.enrolled_at,
            Member.Status.ACTIVE, member.marketing_consent,
            by_index[member.referred_by] if member.referred_by is not None else None,
            user_id if member.index == 0 else None,
        )
        for member in batch
    ])
    bulk.rows_insert(ConsentChange, CONSENT_FIELDS, [
        (by_index[member.index], ConsentChange.Channel.EMAIL, True, member.enrolled_at, ConsentChange.Source.SIGNUP)
        for member in batch if member.marketing_consent
    ])
    bulk.accounts_prepare((by_index[member.index] for member in batch), new=True)
    for member in batch:
        member_id = by_index[member.index]
        events = []
        for purchase in member.purchases:
            events.append((purchase.purchased_at, 0, purchase))
            events.extend((refund[1], 1, (purchase, refund)) for refund in purchase.refunds)
        events.sort(key=lambda event: (event[0], event[1]))
        added = {}
        for _at, kind, item in events:
            if kind == 0:
                added[item.external_id] = _add_purchase(bulk, item, stores, member_id=member_id, refunds=False)
            else:
                purchase, (external_id, refunded_at, amount) = item
                bulk.refund_add(
                    external_id=external_id, purchase=added[purchase.external_id], amount=amount,
                    refunded_at=refunded_at,
                )
        bulk.account_close(member_id)


def _add_purchase(
    bulk: BulkLedger, purchase: DemoPurchase, stores: dict[str, int], *, member_id: int | None, refunds: bool = True
):
    added = bulk.purchase_add(
        external_id=purchase.external_id, store_id=stores[purchase.store_code], member_id=member_id,
        purchased_at=purchase.purchased_at, amount=purchase.amount,
        lines=[
            LineInput(sku=line.sku, amount=line.amount, quantity=line.quantity, category=line.category)
            for line in purchase.lines
        ],
    )
    if refunds:
        for external_id, refunded_at, amount in purchase.refunds:
            bulk.refund_add(external_id=external_id, purchase=added, amount=amount, refunded_at=refunded_at)
    return added
