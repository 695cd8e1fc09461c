"""Celery entry points of the members app."""

from __future__ import annotations

from celery import shared_task

from members.messaging import delivery_send


@shared_task(acks_late=True)
def deliver_message(*, delivery_id: int) -> None:
    """Send one logged message (safe to run twice: it sends at most once)."""
    delivery_send(delivery_id=delivery_id)
