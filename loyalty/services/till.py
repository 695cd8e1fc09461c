"""What a cashier does at the till, each action written to the till's audit log.

Every function here writes a ``TillAction`` (cashier, store, member, what was
touched) in the same transaction as the action itself, so the log never
misses an action that happened nor holds one that was rolled back. Views call
these, never the underlying services directly.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from loyalty.exceptions import (
    ActionNotUndoable,
    NothingLeftToUndo,
    NothingToUndo,
    UndoNotLast,
    UndoTooLate,
)
from loyalty.models import Purchase, Refund, Source, Store, Tier, TillAction, VipFee
from loyalty.services.purchases import PurchaseResult, RefundResult, purchase_record, refund_record
from loyalty.services.tiers import VipFeeResult, vip_fee_record
from members.models import ConsentChange, Delivery, Member, User
from members.services.claims import member_claim_invite_send
from members.services.enrollment import member_card_attach, member_enroll

UNDOABLE = frozenset({TillAction.Kind.PURCHASE})
EXTERNAL_ID_MAX = 64


def till_action_log(
    *,
    kind: str,
    user: User,
    store: Store,
    member: Member | None = None,
    purchase: Purchase | None = None,
    refund: Refund | None = None,
    vip_fee: VipFee | None = None,
    voucher: Model | None = None,
    undo_of: TillAction | None = None,
    at: dt.datetime | None = None,
) -> TillAction:
    """Append one entry to the till's audit log (``voucher``: a ``rewards.Voucher``
    redeemed or taken). Call it inside the action's transaction; it takes no lock."""
    return TillAction.objects.create(
        kind=kind, user=user, store=store, member=member, purchase=purchase, refund=refund, vip_fee=vip_fee,
        voucher=voucher, undo_of=undo_of, at=at or timezone.now(),
    )


# -- enrollment --------------------------------------------------------------------


@dataclass(frozen=True)
class TillEnrollment:
    member: Member
    delivery: Delivery


@transaction.atomic
def till_member_enroll(
    *,
    user: User,
    store: Store,
    first_name: str,
    last_name: str = "",
    email: str = "",
    phone: str = "",
    marketing_consent: bool = False,
    sms_consent: bool = False,
    birth_date: dt.date | None = None,
    language: str = Member.Language.EN,
    card_number: str = "",
) -> TillEnrollment:
    """Enroll a customer at ``store`` and send them the link to claim their account.

    The consents given are recorded with the till as their source and the
    cashier as actor. A scanned physical card is attached (``card_number``),
    else a number is issued. One transaction: the member, their consents, the
    claim message (logged, sent after commit) and the audit entries (enroll,
    card attached, claim sent) exist together or not at all. Refuses a
    duplicate (``DuplicateMember``) like ``member_enroll``; takes no lock.
    """
    member = member_enroll(
        first_name=first_name, last_name=last_name, email=email, phone=phone, birth_date=birth_date,
        language=language, enrollment_store_id=store.pk, card_number=card_number,
        marketing_consent=marketing_consent, sms_consent=sms_consent,
        consent_source=ConsentChange.Source.TILL, consent_actor=user,
    )
    till_action_log(kind=TillAction.Kind.ENROLL, user=user, store=store, member=member)
    if card_number:
        till_action_log(kind=TillAction.Kind.CARD_ATTACH, user=user, store=store, member=member)
    delivery = till_claim_send(user=user, store=store, member=member)
    return TillEnrollment(member=member, delivery=delivery)


@transaction.atomic
def till_claim_send(*, user: User, store: Store, member: Member) -> Delivery:
    """Send ``member`` the account-claim link again (email, else SMS) and log it.
    Not idempotent: each call sends a new link."""
    delivery = member_claim_invite_send(member=member, actor=user)
    till_action_log(kind=TillAction.Kind.CLAIM_SENT, user=user, store=store, member=member)
    return delivery


@transaction.atomic
def till_card_attach(*, user: User, store: Store, member: Member, card_number: str) -> tuple[Member, bool]:
    """Attach a scanned physical card to ``member`` (``member_card_attach``) and
    log it when the number changed. Locks the member row; attaching the same
    card again changes and logs nothing."""
    member, changed = member_card_attach(member_id=member.pk, card_number=card_number)
    if changed:
        till_action_log(kind=TillAction.Kind.CARD_ATTACH, user=user, store=store, member=member)
    return member, changed


# -- purchases and refunds ---------------------------------------------------------


@transaction.atomic
def till_purchase_record(
    *, user: User, store: Store, member: Member, external_id: str, amount: Decimal, purchased_at: dt.datetime,
) -> PurchaseResult:
    """Record a purchase at the till (``purchase_record``) and log it.

    Safe to retry with the same ``external_id``: a purchase taken already is
    neither recorded nor logged again. Locks the member's points account.
    """
    result = purchase_record(
        external_id=external_id, store=store, member=member, purchased_at=purchased_at, amount=amount,
        source=Source.TILL, recorded_by=user,
    )
    if result.created:
        till_action_log(
            kind=TillAction.Kind.PURCHASE, user=user, store=store, member=member, purchase=result.purchase,
        )
    return result


@transaction.atomic
def till_refund_record(
    *, user: User, store: Store, purchase: Purchase, external_id: str, amount: Decimal, refunded_at: dt.datetime,
) -> RefundResult:
    """Record a refund at the till (``refund_record``) and log it; safe to retry
    with the same ``external_id``. Locks the member's account, then the purchase."""
    result = refund_record(
        external_id=external_id, purchase=purchase, amount=amount, refunded_at=refunded_at,
        source=Source.TILL, recorded_by=user,
    )
    if result.created:
        till_action_log(
            kind=TillAction.Kind.REFUND, user=user, store=store, member=purchase.member,
            purchase=purchase, refund=result.refund,
        )
    return result


@transaction.atomic
def till_vip_fee_record(*, user: User, store: Store, member: Member, tier: Tier, external_id: str) -> VipFeeResult:
    """Take a paid-tier fee at the till (``vip_fee_record``, the tier's fee, paid
    now) and log it (``TillAction.Kind.VIP_FEE``) in the same transaction.

    Safe to retry with the same ``external_id`` (the receipt number): a fee
    taken already is neither recorded nor logged again. Locks the member's
    points account.
    """
    result = vip_fee_record(
        member=member, tier=tier, external_id=external_id, store=store, source=Source.TILL, recorded_by=user,
    )
    if result.created:
        till_action_log(kind=TillAction.Kind.VIP_FEE, user=user, store=store, member=member, vip_fee=result.fee)
    return result


# -- undo --------------------------------------------------------------------------


def till_action_last(*, user: User, store: Store) -> TillAction | None:
    """The cashier's own last action at this store (undos aside: after an undo,
    the last action is the one undone), with what it touched."""
    return (
        TillAction.objects.filter(user=user, store=store)
        .exclude(kind=TillAction.Kind.UNDO)
        .select_related("member", "purchase", "refund", "undone_by")
        .order_by("-at", "-pk")
        .first()
    )


def till_undo_check(*, action: TillAction | None, now: dt.datetime | None = None) -> None:
    """Raise the reason ``action`` cannot be undone now, if there is one.
    An action already undone passes: undoing it again returns the same undo."""
    if action is None:
        raise NothingToUndo()
    if action.kind not in UNDOABLE:
        raise ActionNotUndoable(kind=action.kind)
    if _undo_of(action) is not None:
        return
    window = dt.timedelta(seconds=settings.TILL_UNDO_SECONDS)
    if (now or timezone.now()) - action.at > window:
        raise UndoTooLate(minutes=max(1, round(window.total_seconds() / 60)))


def _undo_of(action: TillAction) -> TillAction | None:
    try:
        return action.undone_by
    except TillAction.DoesNotExist:
        return None


@dataclass(frozen=True)
class TillUndo:
    action: TillAction  # the undo
    undone: TillAction
    refund_result: RefundResult | None
    created: bool


def undo_external_id(purchase: Purchase) -> str:
    """The refund that undoes a purchase: ``undo-<its external id>``, or a hash
    of it when that would not fit."""
    external_id = f"undo-{purchase.external_id}"
    if len(external_id) > EXTERNAL_ID_MAX:
        external_id = "undo-" + hashlib.sha256(purchase.external_id.encode()).hexdigest()[:40]
    return external_id


@transaction.atomic
def till_undo_last(*, user: User, store: Store, action_id: int, now: dt.datetime | None = None) -> TillUndo:
    """Undo the cashier's last action at ``store``, the one they confirmed (``action_id``).

    Only a purchase can be undone, within ``TILL_UNDO_SECONDS``: what remains
    of it is refunded through ``refund_record`` (external id
    ``undo-<purchase external id>``, source till) and an ``UNDO`` entry is
    logged. Locks the ``TillAction`` row first (then the member's account and
    the purchase, through the refund), so two undos at once refund once; an
    action already undone returns its undo with ``created=False``
    (``TillAction.undo_of`` is unique as well).
    """
    now = now or timezone.now()
    action = (
        TillAction.objects.select_for_update()
        .filter(pk=action_id, user=user, store=store)
        .exclude(kind=TillAction.Kind.UNDO)
        .first()
    )
    if action is None:
        raise NothingToUndo()
    earlier = TillAction.objects.filter(undo_of=action).first()  # read after the lock: sees a finished undo
    if earlier is not None:
        return TillUndo(action=earlier, undone=action, refund_result=None, created=False)
    last = till_action_last(user=user, store=store)
    if last is None or last.pk != action.pk:
        raise UndoNotLast()
    till_undo_check(action=action, now=now)
    purchase = Purchase.objects.get(pk=action.purchase_id)
    if purchase.refundable_amount <= 0:
        raise NothingLeftToUndo()
    result = refund_record(
        external_id=undo_external_id(purchase), purchase=purchase, amount=purchase.refundable_amount,
        refunded_at=now, source=Source.TILL, recorded_by=user, now=now,
    )
    undo = till_action_log(
        kind=TillAction.Kind.UNDO, user=user, store=store, member=action.member, purchase=purchase,
        refund=result.refund, undo_of=action, at=now,
    )
    return TillUndo(action=undo, undone=action, refund_result=result, created=True)
