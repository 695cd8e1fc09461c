"""Recording purchases and refunds, and the points they move.

A purchase or refund is taken once per external id: sending it again returns
the first result and changes nothing; the same id with other data is refused.
Points move through ``AccountLedger`` under the member's account lock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.utils import timezone

from loyalty.currencies import currency_quantum
from loyalty.earning import Earning, purchase_earning
from loyalty.exceptions import (
    CurrencyMismatch,
    ExternalIdConflict,
    InvalidAmount,
    InvalidTime,
    MemberNotActive,
    RefundBeforePurchase,
    RefundTooLarge,
)
from loyalty.ledger.engine import AccountLedger, EntryDraft
from loyalty.ledger.storage import (
    LedgerWriter,
    account_ledger,
    ledger_rules,
    lot_from_row,
)
from loyalty.models import LedgerEntry, PointsAccount, Program, Purchase, PurchaseLine, Refund, Store
from loyalty.services.budgets import budgets_apply
from loyalty.services.ledger import account_lock, account_lock_with_id
from loyalty.services.program import program_get
from loyalty.services.stamps import (
    stamp_card_rewards_due,
    stamp_card_rewards_issue,
    stamp_cards_fill,
    stamp_cards_refund,
)
from loyalty.services.tiers.table import tier_upgrade_if_qualified
from members.models import Member, User

# Clocks of tills and POS systems drift; a purchase a little in the future is accepted.
CLOCK_SKEW = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class LineInput:
    sku: str
    amount: Decimal
    quantity: Decimal = Decimal("1")
    category: str = ""


@dataclass(frozen=True)
class PurchaseResult:
    purchase: Purchase
    points: int
    created: bool
    account: PointsAccount | None


@dataclass(frozen=True)
class RefundResult:
    refund: Refund
    points_reversed: int
    created: bool
    account: PointsAccount | None


def money_clean(value: Decimal | str, *, currency: str, field: str = "amount") -> Decimal:
    """A positive amount with no more decimal places than ``currency`` has."""
    quantum = currency_quantum(currency)
    places = max(0, -quantum.as_tuple().exponent)
    try:
        amount = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise InvalidAmount(places=places) from None
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(quantum):
        error = InvalidAmount(places=places)
        error.field = field
        raise error
    return amount.quantize(quantum)


def _time_clean(value: dt.datetime, *, field: str, now: dt.datetime) -> dt.datetime:
    if not isinstance(value, dt.datetime) or timezone.is_naive(value) or value > now + CLOCK_SKEW:
        error = InvalidTime(field=field)
        error.field = field
        raise error
    return value


def _digest(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def purchase_payload_hash(
    *, store_id: int, member_id: int | None, purchased_at: dt.datetime, amount: Decimal,
    currency: str, lines: Sequence[LineInput],
) -> str:
    return _digest({
        "store": store_id,
        "member": member_id,
        "at": purchased_at.astimezone(dt.UTC).isoformat(),
        "amount": str(amount),
        "currency": currency,
        "lines": sorted(
            [line.sku, line.category, str(line.quantity.normalize()), str(line.amount)] for line in lines
        ),
    })


def refund_payload_hash(*, purchase_id: int, amount: Decimal, refunded_at: dt.datetime) -> str:
    return _digest({
        "purchase": purchase_id, "amount": str(amount),
        "at": refunded_at.astimezone(dt.UTC).isoformat(),
    })


def purchase_validate(
    *,
    program: Program,
    member: Member | None,
    purchased_at: dt.datetime,
    amount: Decimal | str,
    currency: str | None,
    lines: Sequence[LineInput] = (),
    now: dt.datetime,
) -> Decimal:
    """Check a purchase's data; returns the amount as a quantised ``Decimal``."""
    if currency and currency.upper() != program.currency:
        raise CurrencyMismatch(given=currency, expected=program.currency)
    amount = money_clean(amount, currency=program.currency)
    for line in lines:
        money_clean(line.amount, currency=program.currency, field="lines")
    _time_clean(purchased_at, field="purchased_at", now=now)
    if member is not None and member.status != Member.Status.ACTIVE:
        raise MemberNotActive(card=member.card_number)
    return amount


def purchase_record(
    *,
    external_id: str,
    store: Store,
    member: Member | None,
    purchased_at: dt.datetime,
    amount: Decimal | str,
    currency: str | None = None,
    lines: Sequence[LineInput] = (),
    source: str,
    recorded_by: User | None = None,
    now: dt.datetime | None = None,
) -> PurchaseResult:
    """Record a purchase and credit the points it earns.

    The points are pending until the return window ends and expire with the
    program's expiry, both counted from ``purchased_at``. Safe to retry with the
    same ``external_id``; the same id with other data raises
    ``ExternalIdConflict``. Locks the member's ``PointsAccount`` row, then, in
    the same transaction, the ``RuleUsage`` rows of capped rules that apply
    (``budgets_apply``); fills the member's stamp cards (a full card of a rule
    that names a reward gives its voucher, issued at the purchase's time and
    keyed by the purchase: a retry issues none) and moves them up a tier at
    once when the purchase reaches one (``tier_upgrade_if_qualified``).
    """
    now = now or timezone.now()
    program = program_get()
    amount = purchase_validate(
        program=program, member=member, purchased_at=purchased_at, amount=amount,
        currency=currency, lines=lines, now=now,
    )
    payload_hash = purchase_payload_hash(
        store_id=store.pk, member_id=member.pk if member else None, purchased_at=purchased_at,
        amount=amount, currency=program.currency, lines=lines,
    )
    try:
        return _purchase_create(
            program=program, external_id=external_id, store=store, member=member,
            purchased_at=purchased_at, amount=amount, lines=lines, source=source,
            recorded_by=recorded_by, payload_hash=payload_hash, now=now,
        )
    except IntegrityError:
        # The external id was taken first, possibly by a concurrent request.
        existing = Purchase.objects.filter(external_id=external_id).first()
        if existing is None:
            raise
        if existing.payload_hash != payload_hash:
            raise ExternalIdConflict(external_id=external_id, what="purchase") from None
        account = PointsAccount.objects.filter(member_id=existing.member_id).first()
        return PurchaseResult(purchase=existing, points=existing.points, created=False, account=account)


@transaction.atomic
def _purchase_create(
    *, program, external_id, store, member, purchased_at, amount, lines, source,
    recorded_by, payload_hash, now,
) -> PurchaseResult:
    account = purchase_id = None
    if member is not None:
        # On PostgreSQL the lock also takes the purchase's id, so that the
        # purchase, its lines and its ledger rows then go in one statement.
        account, purchase_id = account_lock_with_id(member_id=member.pk, model=Purchase)
    purchase = Purchase(
        pk=purchase_id, external_id=external_id, store=store, member=member, purchased_at=purchased_at,
        amount=amount, currency=program.currency, payload_hash=payload_hash, source=source,
        recorded_by=recorded_by, recorded_at=now,
    )
    line_rows = [
        PurchaseLine(sku=line.sku, category=line.category, quantity=line.quantity, amount=line.amount)
        for line in lines
    ]
    earning = purchase_earning(purchase=purchase, lines=line_rows, program=program) if member else None
    if earning is not None and earning.evaluation is not None:
        # Under the account lock: the caps count this earn before anyone else's.
        evaluation = budgets_apply(
            evaluation=earning.evaluation, rules=earning.rules, member_id=member.pk,
            purchased_at=purchased_at, program=program,
        )
        earning = replace(earning, points=evaluation.points, breakdown=evaluation.breakdown, evaluation=evaluation)
    points = earning.points if earning else 0
    purchase.points = purchase.points_kept = points
    writer = LedgerWriter(now=now)
    if purchase.pk is None:
        purchase.save(force_insert=True)  # a taken external id raises IntegrityError
    for row in line_rows:
        row.purchase = purchase
    # Written by the flush, before the ledger rows (a taken external id raises
    # IntegrityError there): on PostgreSQL all in one statement.
    writer.insert(*([purchase] if purchase._state.adding else []), *line_rows)
    if account is not None:
        ledger = account_ledger(account, ledger_rules(program))
        earning_credit(ledger, earning=earning, purchase_id=purchase.pk, purchased_at=purchased_at)
        ledger.settle(now)  # anything else that fell due meanwhile
        writer.add(account, ledger)
    writer.flush(returning=False)
    if account is not None:
        if earning.evaluation is not None:
            stamp_cards_fill(member_id=member.pk, evaluation=earning.evaluation, rules=earning.rules)
            # A full card of a rule naming a reward: its vouchers, keyed by this earn.
            stamp_card_rewards_issue(stamp_card_rewards_due(
                member_id=member.pk, evaluation=earning.evaluation, key=f"purchase:{purchase.pk}",
                at=min(purchased_at, now),
            ))
        # Upgrade at once, under the account lock, now that the earn is written.
        tier_upgrade_if_qualified(member_id=member.pk, now=now, program=program)
    return PurchaseResult(purchase=purchase, points=points, created=True, account=account)


def earning_credit(
    ledger: AccountLedger, *, earning: Earning, purchase_id: int, purchased_at: dt.datetime
) -> EntryDraft | None:
    """Credit a purchase's points as its earn entry (pending for the return window).

    A purchase that earns no points but gives stamps still gets an earn entry,
    of 0 points and no lot: its breakdown is the record of the stamps, which
    the member's history shows and a refund takes back. Shared by the live and
    the bulk paths.
    """
    if earning.points:
        return ledger.credit(
            kind=LedgerEntry.Kind.EARN, points=earning.points, effective_at=purchased_at,
            idempotency_key=f"purchase:{purchase_id}", pending=True, purchase_id=purchase_id,
            breakdown=earning.breakdown,
        )
    if earning.evaluation is not None and earning.evaluation.stamps:
        ledger.settle(purchased_at)
        draft = EntryDraft(
            kind=LedgerEntry.Kind.EARN, points=0, effective_at=purchased_at,
            idempotency_key=f"purchase:{purchase_id}", purchase_id=purchase_id, breakdown=earning.breakdown,
        )
        ledger.entries.append(draft)
        return draft
    return None


def refund_points_kept(*, points: int, amount: Decimal, refunded: Decimal) -> int:
    """``floor(points × remaining amount / amount)``, in exact integer arithmetic."""
    scale = 10 ** max(0, -amount.as_tuple().exponent, -refunded.as_tuple().exponent)
    total = int(amount * scale)
    remaining = int((amount - refunded) * scale)
    return points * remaining // total


def refund_apply(*, purchase: Purchase, amount: Decimal, refunded_at: dt.datetime) -> tuple[Decimal, int, int]:
    """Check a refund of ``amount`` against ``purchase`` (locked by the caller).

    Returns the purchase's refunded total after it, the points the purchase
    keeps and the points to reverse. Raises ``RefundTooLarge`` above what is
    still refundable and ``RefundBeforePurchase`` for a refund dated before it.
    """
    if amount > purchase.refundable_amount:
        raise RefundTooLarge(refundable=purchase.refundable_amount)
    if refunded_at < purchase.purchased_at:
        raise RefundBeforePurchase()
    refunded = purchase.refunded_amount + amount
    kept = refund_points_kept(points=purchase.points, amount=purchase.amount, refunded=refunded)
    return refunded, kept, purchase.points_kept - kept


def refund_record(
    *,
    external_id: str,
    purchase: Purchase,
    amount: Decimal | str,
    refunded_at: dt.datetime | None = None,
    source: str,
    recorded_by: User | None = None,
    now: dt.datetime | None = None,
) -> RefundResult:
    """Record a refund of (part of) ``purchase`` and reverse the points of that share.

    After the refund the purchase keeps ``floor(points × remaining / amount)``
    points, and the stamps it gave are taken back in the same proportion
    (``stamp_cards_refund``); budgets of capped rules are not given back, nor
    are the vouchers of cards the purchase filled (a completed card stays
    completed).
    Safe to retry with the same ``external_id``. Locks the member's account,
    then the purchase row.
    """
    now = now or timezone.now()
    refunded_at = _time_clean(refunded_at or now, field="refunded_at", now=now)
    program = program_get()
    amount = money_clean(amount, currency=purchase.currency)
    payload_hash = refund_payload_hash(purchase_id=purchase.pk, amount=amount, refunded_at=refunded_at)
    try:
        return _refund_create(
            program=program, external_id=external_id, purchase_id=purchase.pk, amount=amount,
            refunded_at=refunded_at, source=source, recorded_by=recorded_by,
            payload_hash=payload_hash, now=now,
        )
    except IntegrityError:
        existing = Refund.objects.filter(external_id=external_id).select_related("purchase").first()
        if existing is None:
            raise
        if existing.payload_hash != payload_hash:
            raise ExternalIdConflict(external_id=external_id, what="refund") from None
        account = PointsAccount.objects.filter(member_id=existing.purchase.member_id).first()
        return RefundResult(
            refund=existing, points_reversed=existing.points_reversed, created=False, account=account
        )


@transaction.atomic
def _refund_create(
    *, program, external_id, purchase_id, amount, refunded_at, source, recorded_by,
    payload_hash, now,
) -> RefundResult:
    member_id = Purchase.objects.values_list("member_id", flat=True).get(pk=purchase_id)
    account = account_lock(member_id=member_id) if member_id else None
    purchase = Purchase.objects.select_for_update().get(pk=purchase_id)
    if Refund.objects.filter(external_id=external_id).exists():
        raise IntegrityError("refund external id taken")  # handled by the caller
    refunded, kept, reversed_points = refund_apply(purchase=purchase, amount=amount, refunded_at=refunded_at)
    refund = Refund.objects.create(
        external_id=external_id, purchase=purchase, amount=amount, refunded_at=refunded_at,
        points_reversed=reversed_points, payload_hash=payload_hash, source=source,
        recorded_by=recorded_by, recorded_at=now,
    )
    refunded_before = purchase.refunded_amount
    purchase.refunded_amount = refunded
    purchase.points_kept = kept
    purchase.save(update_fields=["refunded_amount", "points_kept"])
    if account is not None:
        # The earn entry: its lot (the points to reverse first) and its breakdown (the stamps given).
        earn = LedgerEntry.objects.filter(purchase_id=purchase.pk, kind=LedgerEntry.Kind.EARN).select_related(
            "lot"
        ).first()
        if earn is not None:
            stamp_cards_refund(
                member_id=member_id, breakdown=earn.breakdown, amount=purchase.amount,
                refunded_before=refunded_before, refunded_after=refunded,
            )
        ledger = account_ledger(account, ledger_rules(program))
        if reversed_points:
            lot_row = earn.lot if earn is not None else None
            ledger.reverse(
                lot=lot_from_row(lot_row) if lot_row else None, points=reversed_points,
                effective_at=refunded_at, idempotency_key=f"refund:{refund.pk}",
                purchase_id=purchase.pk, refund_id=refund.pk,
            )
        ledger.settle(now)
        writer = LedgerWriter(now=now)
        writer.add(account, ledger)
        writer.flush()
    return RefundResult(refund=refund, points_reversed=reversed_points, created=True, account=account)
