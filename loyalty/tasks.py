"""Celery entry points of the ledger's time-driven jobs (scheduled by beat, see
``CELERY_BEAT_SCHEDULE``). Each is a thin wrapper over an idempotent service:
running it again, late or concurrently yields the same ledger."""

from __future__ import annotations

import dataclasses
import datetime as dt

from celery import shared_task

from loyalty.services.bonuses import bonuses_grant_due, referral_bonuses_grant_due
from loyalty.services.ledger import points_expire_due, points_release_due
from loyalty.services.tiers import tiers_review, vip_expire_due


def _instant(as_of: str | None) -> dt.datetime | None:
    if as_of is None:
        return None
    instant = dt.datetime.fromisoformat(as_of)
    if instant.tzinfo is None:
        raise ValueError("as_of needs a UTC offset")
    return instant


@shared_task(acks_late=True)
def release_pending_points(*, as_of: str | None = None) -> dict[str, int]:
    """Release every pending lot due at or before ``as_of`` (ISO 8601 with an offset; default now)."""
    return dataclasses.asdict(points_release_due(as_of=_instant(as_of)))


@shared_task(acks_late=True)
def expire_points(*, as_of: str | None = None) -> dict[str, int]:
    """Expire every available lot due at or before ``as_of`` (ISO 8601 with an offset; default now)."""
    return dataclasses.asdict(points_expire_due(as_of=_instant(as_of)))


@shared_task(acks_late=True)
def grant_occasion_bonuses(*, as_of: str | None = None) -> dict[str, int]:
    """Grant the birthday and anniversary bonuses due by ``as_of`` (ISO 8601 with an offset; default now)."""
    return dataclasses.asdict(bonuses_grant_due(as_of=_instant(as_of)))


@shared_task(acks_late=True)
def grant_referral_bonuses(*, as_of: str | None = None) -> dict[str, int]:
    """Grant the referral bonuses whose first purchase is final by ``as_of`` (ISO 8601 with an offset; default now)."""
    return dataclasses.asdict(referral_bonuses_grant_due(as_of=_instant(as_of)))


@shared_task(acks_late=True)
def review_tiers(*, as_of: str | None = None) -> dict[str, int]:
    """The monthly tier review at ``as_of`` (ISO 8601 with an offset; default now): grace periods, moves down."""
    return dataclasses.asdict(tiers_review(now=_instant(as_of)))


@shared_task(acks_late=True)
def expire_paid_tiers(*, as_of: str | None = None) -> dict[str, int]:
    """End the paid tiers whose period ended at or before ``as_of`` (ISO 8601 with an offset; default now)."""
    return dataclasses.asdict(vip_expire_due(now=_instant(as_of)))
