"""Reads of the delivery log, shaped for the staff page."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from members.models import Delivery, Member


def delivery_list_for_staff(
    *, channel: str = "", kind: str = "", status: str = "", query: str = "", member: Member | None = None
) -> QuerySet[Delivery]:
    """Deliveries, latest first, with their member, in one query per page.

    ``query`` matches the recipient or the member's card number (a prefix).
    """
    deliveries = Delivery.objects.select_related("member", "actor").order_by("-created_at", "-pk")
    if member is not None:
        deliveries = deliveries.filter(member=member)
    if channel:
        deliveries = deliveries.filter(channel=channel)
    if kind:
        deliveries = deliveries.filter(kind=kind)
    if status:
        deliveries = deliveries.filter(status=status)
    query = query.strip()
    if query:
        deliveries = deliveries.filter(
            Q(recipient__iexact=query) | Q(member__card_number__startswith=query)
        )
    return deliveries
