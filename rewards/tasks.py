"""Celery entry points of the rewards app; thin wrappers over idempotent services."""

from __future__ import annotations

import datetime as dt

from celery import shared_task

from rewards.services.vouchers import vouchers_expire_due
from rewards.services.waitlist import event_waitlist_promote


@shared_task(acks_late=True)
def expire_vouchers(*, as_of: str | None = None) -> int:
    """Mark the vouchers whose validity ended by ``as_of`` (ISO 8601 with an offset; default now) expired."""
    return vouchers_expire_due(now=dt.datetime.fromisoformat(as_of) if as_of else None)


@shared_task(acks_late=True)
def promote_event_waitlist(*, reward_id: int) -> int:
    """Give an event's free places to its waitlist, first come first served."""
    return event_waitlist_promote(reward_id=reward_id)
