"""Tiers: the table every earn reads, qualification, upgrades, reviews and paid tiers.

``tier_table()`` is on the path of every earn: the non-archived tiers as
immutable ``TierSnapshot`` objects, kept in process memory (``ProcessCache``)
and cleared by ``tier_save``. With no tiers configured an earn reads nothing
more.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal

from loyalty.models import Tier
from loyalty.process_cache import ProcessCache

TIERS_CACHE_KEY = "loyalty:tiers:v1"


@dataclass(frozen=True)
class TierSnapshot:
    id: int
    code: str
    rank: int
    threshold: Decimal | None  # None: a paid tier
    multiplier: Decimal
    is_paid: bool


@dataclass(frozen=True)
class TierTable:
    tiers: tuple[TierSnapshot, ...]  # by rank, lowest first

    @property
    def qualifying(self) -> tuple[TierSnapshot, ...]:
        return tuple(tier for tier in self.tiers if not tier.is_paid and tier.threshold is not None)

    def get(self, tier_id: int | None) -> TierSnapshot | None:
        return next((tier for tier in self.tiers if tier.id == tier_id), None)

    def qualified_for(self, value: Decimal) -> TierSnapshot | None:
        """The highest qualifying tier whose threshold ``value`` reaches."""
        reached = [tier for tier in self.qualifying if value >= tier.threshold]
        return reached[-1] if reached else None


def _load() -> tuple[str, TierTable]:
    rows = list(Tier.objects.filter(archived=False).order_by("rank"))
    digest = hashlib.sha1(
        ";".join(f"{row.pk}@{row.updated_at.isoformat()}" for row in rows).encode(), usedforsecurity=False
    ).hexdigest()
    return digest, TierTable(tiers=tuple(
        TierSnapshot(
            id=row.pk, code=row.code, rank=row.rank, threshold=row.threshold,
            multiplier=row.multiplier, is_paid=row.is_paid,
        )
        for row in rows
    ))


_tiers = ProcessCache(key=TIERS_CACHE_KEY, load=_load)


def tier_table() -> TierTable:
    """The non-archived tiers, read once per process while the cache vouches for them."""
    return _tiers.get()


def tiers_cache_clear() -> None:
    _tiers.clear()
