"""The only code that moves points.

Every function here locks the member's ``PointsAccount`` row (creating the
account on first use), settles what fell due, applies one rule of
``loyalty.ledger.engine`` and writes the entries, lots and cached balances in
the same transaction. Purchases and refunds, which also move points, live in
``loyalty.services.purchases`` and use the same helpers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from loyalty.exceptions import IdempotencyKeyReused, InvalidPoints, NotAllowed, ReasonRequired
from loyalty.ledger.engine import AVAILABLE, PENDING, AccountLedger
from loyalty.ledger.storage import (
    LedgerWriter,
    account_ledger,
    account_select_for_update,
    account_select_for_update_with_id,
    ledger_rules,
    lot_from_row,
    open_lots_query,
)
from loyalty.models import LedgerEntry, PointsAccount, PointsLot
from loyalty.services.program import program_get
from members.models import Member, Role, User

ADJUSTING_ROLES = frozenset({Role.OWNER, Role.MANAGER})


def account_lock(*, member_id: int) -> PointsAccount:
    """Lock and return the member's account row, creating it on first use.

    Must run inside a transaction.
    """
    account = account_select_for_update(member_id)
    if account is None:
        PointsAccount.objects.bulk_create([PointsAccount(member_id=member_id)], ignore_conflicts=True)
        account = account_select_for_update(member_id)
    return account


def account_lock_with_id(*, member_id: int, model: type[Model]) -> tuple[PointsAccount, int | None]:
    """``account_lock`` that also takes the next id of ``model`` in the same
    statement, for a row the caller inserts under the lock with the ledger rows
    (``LedgerWriter.insert``). The id is ``None`` where that is not done (not
    PostgreSQL) and when the account is created just now.

    Must run inside a transaction.
    """
    account, next_id = account_select_for_update_with_id(member_id, model)
    if account is None:
        return account_lock(member_id=member_id), None
    return account, next_id


def _previous_entry(account: PointsAccount, key: str, *, kind: str, points: int) -> LedgerEntry | None:
    previous = account.entries.filter(idempotency_key=key).first()
    if previous is not None and (previous.kind, previous.points) != (kind, points):
        raise IdempotencyKeyReused()
    return previous


@transaction.atomic
def points_redeem(
    *,
    member: Member,
    points: int,
    idempotency_key: str,
    reason: str,
    now: dt.datetime | None = None,
) -> LedgerEntry:
    """Take points from the available balance, oldest lots first.

    Raises ``InsufficientPoints`` rather than overdraw. Safe to retry with the
    same key. Locks the member's ``PointsAccount`` row.
    """
    if points <= 0:
        raise InvalidPoints()
    now = now or timezone.now()
    account = account_lock(member_id=member.pk)
    previous = _previous_entry(account, idempotency_key, kind=LedgerEntry.Kind.REDEEM, points=-points)
    if previous is not None:
        return previous
    ledger = account_ledger(account, ledger_rules(program_get()))
    ledger.debit(
        kind=LedgerEntry.Kind.REDEEM, points=points, effective_at=now,
        idempotency_key=idempotency_key, reason=reason,
    )
    return _save(account, ledger, now=now)[-1]


@transaction.atomic
def points_credit(
    *,
    member: Member,
    points: int,
    kind: str,
    idempotency_key: str,
    reason: str = "",
    actor: User | None = None,
    now: dt.datetime | None = None,
    breakdown: list | None = None,
    effective_at: dt.datetime | None = None,
) -> LedgerEntry:
    """Add an available lot of ``points`` (a bonus, a returned redemption),
    with an optional ``breakdown`` stored on the entry (what it is for).

    ``effective_at`` (default ``now``) is the business time of the credit,
    for a bonus whose occasion came before the run that grants it; the entry
    is recorded at ``now``. Repays a debt first. Safe to retry with the same
    key. Locks the account.
    """
    if points <= 0:
        raise InvalidPoints()
    now = now or timezone.now()
    account = account_lock(member_id=member.pk)
    previous = _previous_entry(account, idempotency_key, kind=kind, points=points)
    if previous is not None:
        return previous
    ledger = account_ledger(account, ledger_rules(program_get()))
    ledger.credit(
        kind=kind, points=points, effective_at=effective_at or now, idempotency_key=idempotency_key,
        reason=reason, actor_id=actor.pk if actor else None, breakdown=breakdown,
    )
    return _save(account, ledger, now=now)[-1]


@transaction.atomic
def points_adjust(
    *,
    member: Member,
    points: int,
    reason: str,
    actor: User,
    idempotency_key: str,
    now: dt.datetime | None = None,
) -> LedgerEntry:
    """A manual correction by an owner or a manager, with a reason.

    A positive adjustment adds an available lot (expiring like earned points);
    a negative one takes from the oldest lots and never overdraws. Safe to
    retry with the same key (forms send one with each rendering). Locks the
    account.
    """
    if actor.role not in ADJUSTING_ROLES:
        raise NotAllowed(action="adjust points")
    if not points:
        raise InvalidPoints()
    if not reason.strip():
        raise ReasonRequired()
    now = now or timezone.now()
    account = account_lock(member_id=member.pk)
    previous = _previous_entry(account, idempotency_key, kind=LedgerEntry.Kind.ADJUST, points=points)
    if previous is not None:
        return previous
    ledger = account_ledger(account, ledger_rules(program_get()))
    operation = ledger.credit if points > 0 else ledger.debit
    operation(
        kind=LedgerEntry.Kind.ADJUST, points=abs(points), effective_at=now,
        idempotency_key=idempotency_key, reason=reason.strip(), actor_id=actor.pk,
    )
    return _save(account, ledger, now=now)[-1]


def _save(account: PointsAccount, ledger: AccountLedger, *, now: dt.datetime) -> list[LedgerEntry]:
    writer = LedgerWriter(now=now)
    writer.add(account, ledger)
    return writer.flush()


# -- time-driven jobs ----------------------------------------------------------


@dataclass(frozen=True)
class SettleResult:
    accounts: int
    entries: int
    points: int


def points_release_due(*, as_of: dt.datetime | None = None, batch_size: int = 500) -> SettleResult:
    """Release every pending lot whose return window ended at or before ``as_of``.

    Each release is dated when it fell due and repays a debt first. Works in
    batches of accounts, each batch one transaction holding the batch's account
    locks (taken in primary-key order). Running it again, or concurrently,
    finds nothing left to do: the same ledger results.
    """
    as_of = as_of or timezone.now()
    due = PointsLot.objects.filter(status=PENDING, available_at__lte=as_of)
    return _settle_accounts(due, as_of=as_of, release=True, expire=False, batch_size=batch_size)


def points_expire_due(*, as_of: dt.datetime | None = None, batch_size: int = 500) -> SettleResult:
    """Expire what remains of every available lot that expired at or before ``as_of``.

    Dated when each lot expired; batches, locks and idempotency as
    ``points_release_due``.
    """
    as_of = as_of or timezone.now()
    due = PointsLot.objects.filter(status=AVAILABLE, remaining__gt=0, expires_at__lte=as_of)
    return _settle_accounts(due, as_of=as_of, release=False, expire=True, batch_size=batch_size)


def _account_id_batches(lots, batch_size: int) -> Iterator[list[int]]:
    last = 0
    while True:
        ids = list(
            lots.filter(account_id__gt=last)
            .order_by("account_id")
            .values_list("account_id", flat=True)
            .distinct()[:batch_size]
        )
        if not ids:
            return
        yield ids
        last = ids[-1]


def _settle_accounts(lots, *, as_of, release: bool, expire: bool, batch_size: int) -> SettleResult:
    rules = ledger_rules(program_get())
    now = timezone.now()
    accounts = entries = points = 0
    for ids in _account_id_batches(lots, batch_size):
        with transaction.atomic():
            locked = list(PointsAccount.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
            by_account: dict[int, list] = {account.pk: [] for account in locked}
            for row in open_lots_query(by_account):
                by_account[row.account_id].append(lot_from_row(row))
            writer = LedgerWriter(now=now)
            for account in locked:
                ledger = account_ledger(account, rules, lots=by_account[account.pk])
                done = ledger.settle(as_of, release=release, expire=expire)
                if done:
                    accounts += 1
                    entries += len(done)
                    points += sum(abs(entry.points) for entry in done)
                    writer.add(account, ledger)
            writer.flush()
    return SettleResult(accounts=accounts, entries=entries, points=points)

