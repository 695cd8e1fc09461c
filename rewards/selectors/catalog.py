"""Reads of the catalog shaped for the staff pages: the reward list with its
figures, the charities, a partner reward's code pool."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from rewards.models import Charity, PartnerCode, Reward, Voucher
from rewards.selectors.states import voucher_state_counts

Status = Voucher.Status


def _count_of(queryset: QuerySet, field: str) -> Coalesce:
    """``COUNT(*)`` of ``queryset`` grouped by ``field`` (an ``OuterRef``), as a subquery."""
    counted = queryset.order_by().values(field).annotate(n=Count("*")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def reward_list_for_staff(
    *, status: str | None = None, kind: str | None = None, now: dt.datetime | None = None
) -> QuerySet[Reward]:
    """Rewards with their figures, active first, by points cost: one query.

    Each reward carries ``vouchers_issued`` (all its vouchers), ``vouchers_open``
    (ready to use), ``vouchers_used`` (for an event: attended),
    ``vouchers_cancelled``, ``vouchers_expired`` (marked expired, or issued and
    past their end at ``now``: no-shows, for an event), ``points_taken``
    (points of vouchers not cancelled: an expired voucher's points are kept)
    and, for partner rewards, ``codes_free`` and ``codes_total``; with its
    charity (running totals) and minimum tier. The vouchers are the one
    relation aggregated in the query; partner codes are counted in subqueries.
    """
    now = now or timezone.now()
    rewards = (
        Reward.objects.select_related("charity", "min_tier")
        .annotate(
            **voucher_state_counts(now=now),
            points_taken=Coalesce(
                Sum("vouchers__points", filter=~Q(vouchers__status=Status.CANCELLED)), Value(0)
            ),
            codes_free=_count_of(PartnerCode.objects.filter(reward=OuterRef("pk"), voucher__isnull=True), "reward"),
            codes_total=_count_of(PartnerCode.objects.filter(reward=OuterRef("pk")), "reward"),
        )
        .order_by("status", "points_cost", "pk")
    )
    if status:
        rewards = rewards.filter(status=status)
    if kind:
        rewards = rewards.filter(kind=kind)
    return rewards


def reward_stock_left(reward: Reward) -> int | None:
    """What is left to redeem of a reward annotated by ``reward_list_for_staff``
    (``None``: unlimited): its stock, or a partner reward's free codes."""
    if reward.kind == Reward.Kind.PARTNER:
        return reward.codes_free
    return reward.stock


def reward_event_places(reward: Reward) -> int | None:
    """An annotated event's capacity: the places left and the places held by
    vouchers not cancelled (``None`` when the event has no stock)."""
    if reward.stock is None:
        return None
    return reward.stock + reward.vouchers_issued - reward.vouchers_cancelled


def reward_get_for_staff(*, code: str) -> Reward | None:
    return Reward.objects.select_related("charity", "min_tier").filter(code=code).first()


def charity_list_for_staff() -> QuerySet[Charity]:
    """Charities (active first, by name) with their running totals and the
    number of rewards (and active rewards) giving to them: one query."""
    return Charity.objects.annotate(
        rewards_total=_count_of(Reward.objects.filter(charity=OuterRef("pk")), "charity"),
        rewards_active=_count_of(
            Reward.objects.filter(charity=OuterRef("pk"), status=Reward.Status.ACTIVE), "charity"
        ),
    ).order_by("-active", "name", "pk")
