"""Reads for the segment pages: the list with member counts, a segment's
members a page at a time, and its CSV export.

Purchase figures follow ``analytics.kpis`` (fully refunded purchases count
nowhere, amounts are net of refunds). The member list computes them per
member shown (correlated subqueries, evaluated for the page's rows only);
the export reads every member of the segment in one grouped query through a
server-side cursor.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from decimal import Decimal

from django.db.models import DecimalField, F, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from analytics.cache import analytics_cached
from analytics.kpis import NET_AMOUNT, counted_purchases
from analytics.models import RfmGroup, Segment
from analytics.segments import conditions_key, segment_count, segment_counts, segment_queryset
from analytics.selectors.exports import local_day, local_iso, text, with_purchase_figures, yes_no
from loyalty.models import EarnRule
from members.models import Member

CHUNK = 2000
MONEY = DecimalField(max_digits=14, decimal_places=2)


def segment_list_for_staff(*, archived: bool = False) -> QuerySet[Segment]:
    segments = Segment.objects.filter(archived_at__isnull=not archived)
    return segments.order_by("name", "pk")


def segment_count_cached(conditions: dict) -> int:
    """The members matching checked ``conditions`` (the editor's count preview),
    cached under the data's version."""
    return analytics_cached("segment-count", (conditions_key(conditions),), lambda: segment_count(conditions))


def segment_counts_cached(segments: Sequence[Segment]) -> dict[int, int]:
    """``segment_counts`` of a page of segments, one query, cached under the data's
    version (``analytics.cache``) and each segment's last change."""
    segments = list(segments)
    if not segments:
        return {}
    parts = tuple((segment.pk, segment.updated_at.isoformat()) for segment in segments)
    return analytics_cached("segment-counts", parts, lambda: segment_counts(segments))


def segment_member_list(segment: Segment) -> QuerySet[Member]:
    """The segment's members by name, each with ``last_purchase_at``, ``net_spend``,
    ``tier_now`` (a tier id) and ``rfm_group_now``; one query a page."""
    purchases = counted_purchases().filter(member=OuterRef("pk"))
    return (
        segment_queryset(segment.conditions)
        .annotate(
            last_purchase_at=Subquery(purchases.order_by("-purchased_at").values("purchased_at")[:1]),
            net_spend=Coalesce(
                Subquery(purchases.order_by().values("member").annotate(total=Sum(NET_AMOUNT)).values("total")),
                Decimal("0"), output_field=MONEY,
            ),
            tier_now=F("tier_status__tier_id"),
            rfm_group_now=F("score__rfm_group"),
        )
        .order_by("last_name", "first_name", "pk")
    )


def rules_naming_segment(segment: Segment) -> list[str]:
    """The names of the earning rules (not archived) that name the segment, sorted.
    The ids are a JSON list, which SQLite cannot search: the rules are read
    (a program has a few dozen) and looked through here."""
    rules = EarnRule.objects.exclude(status=EarnRule.Status.ARCHIVED).only("name", "segments")
    return sorted(rule.name for rule in rules if segment.pk in (rule.segments or ()))


def rfm_label(value: str | None) -> str:
    return str(RfmGroup(value).label) if value in RfmGroup.values else ""


# -- the export --------------------------------------------------------------------------------


def segment_export_header() -> list[str]:
    return [
        _("card number"), _("first name"), _("last name"), _("email"), _("phone"), _("marketing consent"),
        _("SMS consent"), _("enrolled at"), _("enrollment store"), _("tier"), _("last purchase date"),
        _("purchases"), _("net spend"), _("RFM group"),
    ]


def segment_export_rows(segment: Segment, *, tz: dt.tzinfo) -> Iterator[Sequence[object]]:
    """Every member of the segment, by card number: one query (members grouped
    with their purchases, the only multi-valued relation), read ``CHUNK`` rows
    at a time."""
    rows = (
        with_purchase_figures(segment_queryset(segment.conditions))
        .order_by("card_number")
        .values_list(
            "card_number", "first_name", "last_name", "email", "phone_text", "marketing_consent", "sms_consent",
            "enrolled_at", "enrollment_store__code", "tier_status__tier__code", "last_purchase_at",
            "purchase_count", "net_spend", "score__rfm_group",
        )
    )
    for (card, first, last, email, phone, marketing, sms, enrolled_at, store, tier, last_purchase_at, count,
         spend, group) in rows.iterator(chunk_size=CHUNK):
        yield (
            card, first, last, email, text(phone), yes_no(marketing), yes_no(sms), local_iso(enrolled_at, tz),
            text(store), text(tier), local_day(last_purchase_at, tz), count, f"{spend:.2f}", text(group),
        )
