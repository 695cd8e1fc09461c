"""Tiers in pages whose views know nothing of them (the till's member page, the
portal's home): free when the program has no tiers (the tier table is cached)."""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils import timezone

from loyalty.models import MemberTier, Program
from loyalty.selectors.tiers import TierProgress, tier_progress_get
from loyalty.services.tiers import tier_table

register = template.Library()


@register.simple_tag
def member_tier(member) -> MemberTier | None:
    """The member's tier row with its tier (one query), or ``None`` when the program has no tiers."""
    if not tier_table().tiers:
        return None
    return MemberTier.objects.filter(member_id=member.pk).select_related("tier").first()


@register.simple_tag
def paid_tiers_for_sale() -> bool:
    """Whether a paid tier can be bought (no query)."""
    return any(tier.is_paid and not tier.archived for tier in tier_table().tiers)


@register.simple_tag
def tier_progress(member, program: Program | None, now: dt.datetime | None = None) -> TierProgress | None:
    """``tier_progress_get`` for a page: ``None`` without a program or tiers."""
    if program is None or not tier_table().tiers:
        return None
    return tier_progress_get(member=member, program=program, now=now or timezone.now())
