"""Proof that the cached balances equal the ledger: the ``verify_ledger`` check.

One set-based pass: the entries and the lots are each summed per account in a
single grouped scan, joined to the accounts, and only the accounts whose
figures disagree come back. The query count does not depend on the number of
members, and the database does the work (a hash aggregate per table on
PostgreSQL), so it stays fast at millions of entries.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.db import connection

from loyalty.ledger.engine import AVAILABLE, PENDING
from loyalty.models import LedgerEntry, PointsAccount, PointsLot
from members.models import Member


@dataclass(frozen=True)
class AccountFigures:
    """One account's cached balances next to what the ledger and its lots say.

    ``closed_lots_remaining`` is what expired or voided lots still hold (always 0).
    """

    member_id: int
    card_number: str
    available: int
    pending: int
    debt: int
    entries_available: int
    entries_pending: int
    entries_debt: int
    lots_available: int
    lots_pending: int
    closed_lots_remaining: int

    @property
    def problems(self) -> list[str]:
        found = []
        for name in ("available", "pending", "debt"):
            cached, ledger = getattr(self, name), getattr(self, f"entries_{name}")
            if cached != ledger:
                found.append(f"{name} {cached} != ledger {ledger}")
            if cached < 0:
                found.append(f"{name} {cached} < 0")
        for name in ("available", "pending"):
            cached, lots = getattr(self, name), getattr(self, f"lots_{name}")
            if cached != lots:
                found.append(f"{name} {cached} != lots {lots}")
        if self.closed_lots_remaining:
            found.append(f"expired/voided lots hold {self.closed_lots_remaining}")
        return found


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _offenders_sql() -> str:
    account, entry, lot, member = (_table(m) for m in (PointsAccount, LedgerEntry, PointsLot, Member))
    return f"""
        SELECT a.member_id, m.card_number, a.available, a.pending, a.debt,
               COALESCE(e.available, 0), COALESCE(e.pending, 0), COALESCE(e.debt, 0),
               COALESCE(l.available, 0), COALESCE(l.pending, 0), COALESCE(l.closed, 0)
        FROM {account} a
        JOIN {member} m ON m.id = a.member_id
        LEFT JOIN (
            SELECT account_id, SUM(available_delta) AS available,
                   SUM(pending_delta) AS pending, SUM(debt_delta) AS debt
            FROM {entry} GROUP BY account_id
        ) e ON e.account_id = a.member_id
        LEFT JOIN (
            SELECT account_id,
                   SUM(CASE WHEN status = %s THEN remaining ELSE 0 END) AS available,
                   SUM(CASE WHEN status = %s THEN remaining ELSE 0 END) AS pending,
                   SUM(CASE WHEN status NOT IN (%s, %s) THEN remaining ELSE 0 END) AS closed
            FROM {lot} GROUP BY account_id
        ) l ON l.account_id = a.member_id
        WHERE a.available <> COALESCE(e.available, 0)
           OR a.pending <> COALESCE(e.pending, 0)
           OR a.debt <> COALESCE(e.debt, 0)
           OR a.available <> COALESCE(l.available, 0)
           OR a.pending <> COALESCE(l.pending, 0)
           OR COALESCE(l.closed, 0) <> 0
           OR a.available < 0 OR a.pending < 0 OR a.debt < 0
        ORDER BY a.member_id
    """  # noqa: S608 -- table names come from the models, values are parameters


def ledger_offenders(*, chunk_size: int = 1000) -> Iterator[AccountFigures]:
    """Every account whose cached balances disagree with its entries or its lots,
    or are negative, in member id order. One query."""
    with connection.cursor() as cursor:
        cursor.execute(_offenders_sql(), [AVAILABLE, PENDING, AVAILABLE, PENDING])
        while rows := cursor.fetchmany(chunk_size):
            for row in rows:
                yield AccountFigures(*row)


def ledger_account_count() -> int:
    return PointsAccount.objects.count()
