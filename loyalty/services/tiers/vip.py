"""Paid tiers: the fee, taken once per external id, and the end of paid periods."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from loyalty.exceptions import InvalidTime, MemberNotActive, TierNotForSale, VipFeeConflict
from loyalty.models import (
    MemberTier,
    PointsAccount,
    Program,
    Store,
    Tier,
    TierChange,
    VipFee,
)
from loyalty.months import months_shift
from loyalty.services.ledger import account_lock
from loyalty.services.program import program_get
from loyalty.services.purchases import CLOCK_SKEW, money_clean
from loyalty.services.tiers.review import _Writes
from loyalty.services.tiers.table import tier_table, tier_values_query
from members.models import Member, User

# -- paid tiers ------------------------------------------------------------------------






@dataclass(frozen=True)
class VipFeeResult:
    fee: VipFee
    change: TierChange | None  # None when the fee had been taken before
    created: bool


def vip_fee_payload_hash(*, member_id: int, tier_id: int, amount: Decimal, currency: str, store_id: int | None) -> str:
    """What makes two sends of an external id the same fee. The time is left
    out: a form sent again after a reload is the same payment."""
    payload = {"member": member_id, "tier": tier_id, "amount": str(amount), "currency": currency, "store": store_id}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _months_after(instant: dt.datetime, months: int, program: Program) -> dt.datetime:
    return months_shift(instant.astimezone(program.tz), months).astimezone(dt.UTC)


def vip_fee_record(
    *,
    member: Member,
    tier: Tier,
    external_id: str,
    amount: Decimal | str | None = None,
    paid_at: dt.datetime | None = None,
    store: Store | None = None,
    source: str,
    recorded_by: User | None = None,
    now: dt.datetime | None = None,
) -> VipFeeResult:
    """Record a paid-tier fee and grant the tier until ``valid_until``.

    ``valid_until`` is ``period_months`` calendar months (program zone) after
    the paid period of the same tier still running at ``paid_at`` (a renewal
    extends it), else after ``paid_at``. The member is put on the paid tier
    unless they hold a better qualifying tier, which they keep (the paid tier
    is then their floor until it ends). A fee for another paid tier replaces
    the running period. Writes a ``VipFee`` (revenue; never points) and a
    ``TierChange(VIP)``. Taken once per ``external_id``: sending it again
    returns the first fee (``created=False``); the same id with other data
    raises ``VipFeeConflict``. Locks the member's ``PointsAccount`` row.
    """
    now = now or timezone.now()
    paid_at = paid_at or now
    program = program_get()
    if not tier.is_paid or tier.archived or not tier.period_months:
        raise TierNotForSale(tier=tier.name)
    if member.status != Member.Status.ACTIVE:
        raise MemberNotActive(card=member.card_number)
    if not isinstance(paid_at, dt.datetime) or timezone.is_naive(paid_at) or paid_at > now + CLOCK_SKEW:
        error = InvalidTime(field="paid_at")
        error.field = "paid_at"
        raise error
    amount = money_clean(tier.fee if amount is None else amount, currency=program.currency)
    payload_hash = vip_fee_payload_hash(
        member_id=member.pk, tier_id=tier.pk, amount=amount, currency=program.currency,
        store_id=store.pk if store else None,
    )
    try:
        with transaction.atomic():
            account_lock(member_id=member.pk)
            existing = VipFee.objects.filter(external_id=external_id).first()
            if existing is None:
                return _vip_fee_create(
                    program=program, member=member, tier=tier, external_id=external_id, amount=amount,
                    paid_at=paid_at, store=store, source=source, recorded_by=recorded_by, payload_hash=payload_hash,
                )
    except IntegrityError:  # taken meanwhile for another member (whose lock we do not hold)
        existing = VipFee.objects.filter(external_id=external_id).first()
        if existing is None:
            raise
    if existing.payload_hash != payload_hash:
        raise VipFeeConflict(external_id=external_id, what="vip_fee")
    return VipFeeResult(fee=existing, change=None, created=False)


def _vip_fee_create(
    *, program: Program, member: Member, tier: Tier, external_id: str, amount: Decimal, paid_at: dt.datetime,
    store: Store | None, source: str, recorded_by: User | None, payload_hash: str,
) -> VipFeeResult:
    running = (
        VipFee.objects.filter(member=member, tier=tier, valid_until__gt=paid_at)
        .order_by("-valid_until").values_list("valid_until", flat=True).first()
    )
    valid_until = _months_after(max(running or paid_at, paid_at), tier.period_months, program)
    fee = VipFee.objects.create(
        external_id=external_id, member=member, tier=tier, amount=amount, currency=program.currency,
        paid_at=paid_at, valid_until=valid_until, store=store, source=source, recorded_by=recorded_by,
        payload_hash=payload_hash,
    )
    status = MemberTier.objects.filter(member=member).select_related("tier").first()
    current = status.tier if status is not None else None
    keeps_better = current is not None and not current.is_paid and current.rank > tier.rank
    new_tier = current if keeps_better else tier
    if status is None:
        status = MemberTier(member=member)
    from_tier_id = status.tier_id
    if new_tier.pk != from_tier_id:
        status.since = paid_at
        status.grace_until = None
    status.tier = new_tier
    status.vip_until = valid_until
    status.save(force_insert=status._state.adding)
    change = TierChange.objects.create(
        member=member, from_tier_id=from_tier_id, to_tier=new_tier, reason=TierChange.Reason.VIP, at=paid_at,
        actor=recorded_by,
    )
    return VipFeeResult(fee=fee, change=change, created=True)


@dataclass(frozen=True)
class VipExpiryResult:
    ended: int = 0  # paid periods that ended
    moved: int = 0  # members moved off their paid tier


def vip_expire_due(*, now: dt.datetime | None = None, batch_size: int = 500) -> VipExpiryResult:
    """End every paid period that ended at or before ``now``.

    A member on their paid tier falls to the tier they qualify for at ``now``
    (maybe none; ``TierChange(VIP_EXPIRED)``); one who holds a better
    qualifying tier keeps it, and their next review measures them as anyone.
    Finds due members through the ``member_tier_vip`` partial index; batches
    lock their accounts in primary-key order and re-read them under the lock.
    Idempotent: the period is cleared, so a second run finds nothing.
    """
    now = now or timezone.now()
    due = MemberTier.objects.filter(vip_until__lte=now)
    table = tier_table()
    program = program_get()
    ended = moved = 0
    last = 0
    while True:
        ids = list(
            due.filter(member_id__gt=last).order_by("member_id").values_list("member_id", flat=True)[:batch_size]
        )
        if not ids:
            break
        last = ids[-1]
        with transaction.atomic():
            list(PointsAccount.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk"))
            statuses = list(due.filter(member_id__in=ids).order_by("member_id"))  # read again under the locks
            # On the paid tier (or, oddly, on none): they move. On a better tier: only the period ends.
            on_paid = {
                status.member_id for status in statuses
                if table.get(status.tier_id) is None or table.get(status.tier_id).is_paid
            }
            values = dict(tier_values_query(member_ids=on_paid, as_of=now, program=program)) if on_paid else {}
            writes = _Writes()
            for status in statuses:
                if status.member_id in on_paid:
                    reached = table.qualified_for(Decimal(values.get(status.member_id) or 0))
                    writes.move(status, member_id=status.member_id, tier_id=reached.id if reached else None,
                                reason=TierChange.Reason.VIP_EXPIRED, at=now, count="moved", clear_vip=True)
                else:
                    status.vip_until = None
                    writes.updated.append(status)
                ended += 1
            writes.flush()
            moved += writes.counts["moved"]
    return VipExpiryResult(ended=ended, moved=moved)

