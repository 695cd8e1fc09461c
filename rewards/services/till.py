"""Voucher actions at the till: the service call and its ``TillAction`` in one transaction."""

from __future__ import annotations

from django.db import transaction

from loyalty.models import Store, TillAction
from loyalty.services.till import till_action_log
from members.models import Member, User
from rewards.models import Reward, Voucher
from rewards.services.redemption import Redemption, reward_redeem
from rewards.services.throttle import VoucherThrottle
from rewards.services.vouchers import VoucherUse, voucher_use


def till_voucher_use(*, code: str, user: User, store: Store, receipt: str) -> VoucherUse:
    """``voucher_use`` by a cashier (throttled per cashier), logged as a
    ``TillAction(VOUCHER_USE)`` in the same transaction; nothing more is logged
    when the service returns an earlier use of the same receipt. The voucher's
    row lock is held until the log entry is written."""
    with transaction.atomic():
        use = voucher_use(
            code=code, channel=Voucher.Channel.TILL, store=store, user=user, receipt=receipt,
            throttle=VoucherThrottle.for_user(user),
        )
        if use.created:
            till_action_log(
                kind=TillAction.Kind.VOUCHER_USE, user=user, store=store, member=use.voucher.member,
                voucher=use.voucher, at=use.voucher.used_at,
            )
    return use


def till_reward_redeem(
    *, member: Member, reward: Reward, idempotency_key: str, user: User, store: Store
) -> Redemption:
    """``reward_redeem`` at the till, logged as a ``TillAction(REDEEM)`` in the same
    transaction; a retried confirmation (same key) returns the first voucher and
    logs nothing more. Locks as ``reward_redeem`` does."""
    with transaction.atomic():
        result = reward_redeem(
            member=member, reward=reward, idempotency_key=idempotency_key, channel=Voucher.Channel.TILL,
            store=store, actor=user,
        )
        if result.created:
            till_action_log(
                kind=TillAction.Kind.REDEEM, user=user, store=store, member=member, voucher=result.voucher,
                at=result.voucher.issued_at,
            )
    return result
