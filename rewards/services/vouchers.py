"""A voucher's life after issue: checked, used once, cancelled or expired.

``voucher_check`` reads; ``voucher_use`` and ``voucher_cancel`` lock the
voucher's row (``voucher_cancel`` the member's account first, the app's lock
order), so a code is used at most once however many tills and API clients
send it at the same moment. Codes are checked for form and check character
before any lookup (``rewards.codes``); callers that take codes from people
pass a ``throttle`` scope (``rewards.services.throttle``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from loyalty.exceptions import NotAllowed
from loyalty.models import LedgerEntry, Store
from loyalty.services.ledger import ADJUSTING_ROLES, account_lock, points_credit
from loyalty.services.program import program_get
from members.models import Member, User
from rewards.codes import voucher_code_check
from rewards.exceptions import (
    CancelReasonRequired,
    InvalidVoucherCode,
    VoucherNotCancellable,
    VoucherNotFound,
    VoucherNotUsable,
)
from rewards.models import Reward, Voucher
from rewards.services.issue import when_text
from rewards.services.redemption import reward_stock_return
from rewards.services.throttle import VoucherThrottle

VOUCHER_CANCEL_ROLES = ADJUSTING_ROLES


@dataclass(frozen=True)
class VoucherCheck:
    """What a cashier or a POS learns from a code: the voucher, and whether it
    can be used now (``problem`` says exactly why not)."""

    voucher: Voucher
    problem: VoucherNotUsable | None

    @property
    def usable(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class VoucherUse:
    voucher: Voucher
    created: bool  # False: this receipt had used it already (a retried request)


def voucher_state_problem(voucher: Voucher, *, now: dt.datetime, error: type[VoucherNotUsable] = VoucherNotUsable):
    """Why ``voucher`` cannot be used (or cancelled) at ``now``, as an error, or ``None``."""
    tz = program_get().tz
    status = voucher.status
    if status == Voucher.Status.USED:
        if voucher.reward.kind == Reward.Kind.DONATION and error is VoucherNotCancellable:
            return error(reason="donation")
        if voucher.used_store_id is None:
            return error(reason="used_online", date=when_text(voucher.used_at, tz=tz))
        return error(reason="used", date=when_text(voucher.used_at, tz=tz), store=voucher.used_store.name)
    if status == Voucher.Status.CANCELLED:
        return error(reason="cancelled", date=when_text(voucher.cancelled_at, tz=tz))
    if status == Voucher.Status.EXPIRED or (voucher.valid_until is not None and now >= voucher.valid_until):
        return error(reason="expired", date=when_text(voucher.valid_until or now, tz=tz))
    if error is VoucherNotUsable:
        if now < voucher.valid_from:
            return error(reason="not_yet", date=when_text(voucher.valid_from, tz=tz))
        if voucher.member.status != Member.Status.ACTIVE:
            return error(reason="member_inactive")
    return None


def _find(code: str, *, throttle: VoucherThrottle | None, lock: bool = False) -> Voucher:
    if throttle is not None:
        throttle.check()
    try:
        normalised = voucher_code_check(code)
        vouchers = Voucher.objects.select_related("reward", "member")
        # Locked, not joined to the store: after waiting for the lock, PostgreSQL
        # re-reads the voucher's row but not a joined row, which would be the store
        # of before a use that committed meanwhile (none).
        vouchers = vouchers.select_for_update(of=("self",)) if lock else vouchers.select_related("used_store")
        voucher = vouchers.filter(code=normalised).first()
        if voucher is None:
            raise VoucherNotFound()
    except InvalidVoucherCode:
        if throttle is not None:
            throttle.failed()
        raise
    return voucher


def voucher_check(
    *, code: str, throttle: VoucherThrottle | None = None, now: dt.datetime | None = None
) -> VoucherCheck:
    """Look a typed or scanned code up, read-only.

    Raises ``InvalidVoucherCode`` (a subclass saying what is wrong with the
    text) or ``VoucherNotFound``; with ``throttle``, each of those counts as a
    wrong code and a burst of them raises ``VoucherChecksThrottled`` for every
    code, existing or not. Otherwise returns the voucher and, when it cannot
    be used now, the exact reason.
    """
    voucher = _find(code, throttle=throttle)
    return VoucherCheck(voucher=voucher, problem=voucher_state_problem(voucher, now=now or timezone.now()))


def voucher_use(
    *,
    code: str,
    channel: str,
    store: Store | None = None,
    user: User | None = None,
    client: str = "",
    receipt: str = "",
    throttle: VoucherThrottle | None = None,
    now: dt.datetime | None = None,
) -> VoucherUse:
    """Use a voucher, once: record when, where, by whom (a cashier, or an API
    ``client``) and on which ``receipt``.

    Locks the voucher's row, so of simultaneous uses exactly one succeeds and
    the others see it used. Sending the same ``receipt`` from the same store
    again returns the first use (``created=False``): a POS may retry. Raises
    ``VoucherNotUsable`` saying why (used, when and where; cancelled;
    expired; not yet valid), or the errors of ``voucher_check``.
    """
    now = now or timezone.now()
    with transaction.atomic():
        voucher = _find(code, throttle=throttle, lock=True)
        if (
            voucher.status == Voucher.Status.USED and receipt and voucher.used_receipt == receipt
            and voucher.used_store_id == (store.pk if store else None) and voucher.used_client == client
        ):
            return VoucherUse(voucher=voucher, created=False)
        problem = voucher_state_problem(voucher, now=now)
        if problem is not None:
            raise problem
        voucher.status, voucher.used_at, voucher.used_via = Voucher.Status.USED, now, channel
        voucher.used_store, voucher.used_by, voucher.used_client, voucher.used_receipt = store, user, client, receipt
        voucher.save(update_fields=[
            "status", "used_at", "used_via", "used_store", "used_by", "used_client", "used_receipt",
        ])
    return VoucherUse(voucher=voucher, created=True)


def voucher_cancel(*, voucher: Voucher, actor: User, reason: str, now: dt.datetime | None = None) -> Voucher:
    """Cancel an unused, unexpired voucher with a reason: its points come back
    as a new lot dated now (a ``redeem_cancel`` entry, which expires like
    earned points), its unit of stock is returned, and an event's freed place
    goes to its waitlist after commit.

    An expired voucher cannot be cancelled and its points are not returned
    (the program keeps them, as breakage); a used one cannot either. Locks
    the member's account, then the voucher's row. Only owners and managers
    cancel (``VOUCHER_CANCEL_ROLES``): it returns points, an adjustment that
    marketing may not make. Cancelling twice raises
    ``VoucherNotCancellable`` the second time, and the points come back once
    (the return's ledger key is the voucher's).
    """
    if actor.role not in VOUCHER_CANCEL_ROLES:
        raise NotAllowed(action="cancel vouchers")
    reason = (reason or "").strip()
    if not reason:
        raise CancelReasonRequired()
    now = now or timezone.now()
    with transaction.atomic():
        account_lock(member_id=voucher.member_id)
        voucher = Voucher.objects.select_for_update(of=("self",)).select_related("reward", "member").get(
            pk=voucher.pk
        )
        problem = voucher_state_problem(voucher, now=now, error=VoucherNotCancellable)
        if problem is not None:
            raise problem
        entry: LedgerEntry | None = None
        if voucher.points:
            entry = points_credit(
                member=voucher.member, points=voucher.points, kind=LedgerEntry.Kind.REDEEM_CANCEL,
                idempotency_key=f"voucher-cancel:{voucher.code}", reason=reason[:255], actor=actor, now=now,
            )
        if voucher.origin == Voucher.Origin.REDEMPTION:
            reward_stock_return(reward=voucher.reward)
        voucher.status, voucher.cancelled_at, voucher.cancelled_by = Voucher.Status.CANCELLED, now, actor
        voucher.cancel_reason, voucher.return_entry = reason[:255], entry
        voucher.save(update_fields=["status", "cancelled_at", "cancelled_by", "cancel_reason", "return_entry"])
        if voucher.reward.kind == Reward.Kind.EVENT and voucher.origin == Voucher.Origin.REDEMPTION:
            from rewards.tasks import promote_event_waitlist

            reward_id = voucher.reward_id
            transaction.on_commit(lambda: promote_event_waitlist.delay(reward_id=reward_id))
    return voucher


def vouchers_expire_due(*, now: dt.datetime | None = None, batch_size: int = 1000) -> int:
    """Mark issued vouchers whose validity ended as expired; returns how many.

    Their points are not returned. A conditional update per batch (``status =
    issued``), so it never overwrites a use or a cancel that won the race, and
    running it again, or concurrently, changes nothing more.
    """
    now = now or timezone.now()
    done = 0
    while True:
        ids = list(
            Voucher.objects.filter(status=Voucher.Status.ISSUED, valid_until__lte=now)
            .order_by("valid_until")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return done
        done += Voucher.objects.filter(pk__in=ids, status=Voucher.Status.ISSUED).update(
            status=Voucher.Status.EXPIRED
        )
