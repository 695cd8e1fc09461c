"""The staff CSV exports (members, the ledger): a header and rows to stream
through ``analytics.csv_export.csv_response``.

Each export is one query read with a server-side cursor
(``.values_list(...).iterator(chunk_size=CHUNK)``) and turned into CSV cells a
row at a time, so 100,000 members never sit in memory and the number of
queries does not grow with the rows. Instants are written in the program's
time zone as ISO 8601; money as decimals with two places.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from decimal import Decimal

from django.db.models import CharField, Count, DecimalField, Max, QuerySet, Sum
from django.db.models.functions import Cast, Coalesce
from django.utils.translation import gettext as _

from analytics.kpis import counted_purchase_q, ledger_store_q, net_amount
from loyalty.models import LedgerEntry, Store
from members.models import Member

CHUNK = 2000


def local_iso(value: dt.datetime | None, tz) -> str:
    return "" if value is None else value.astimezone(tz).isoformat()


def local_day(value: dt.datetime | None, tz) -> str:
    return "" if value is None else value.astimezone(tz).date().isoformat()


def text(value: object) -> str:
    return "" if value is None else str(value)


def yes_no(value: bool) -> str:
    return "yes" if value else "no"  # as import_members reads them


def with_purchase_figures(members: QuerySet[Member]) -> QuerySet[Member]:
    """``members`` with what member exports show of their purchases, by the
    ``analytics.kpis`` rules (fully refunded purchases count nowhere, amounts
    are net of refunds): ``last_purchase_at``, ``purchase_count``,
    ``net_spend``; and ``phone_text``, the stored E.164 text as it is (a
    ``PhoneNumber`` parsed per row would be half an export's time). Grouped
    over purchases, the only multi-valued relation."""
    counted = counted_purchase_q("purchases__")
    return members.annotate(
        phone_text=Cast("phone", output_field=CharField()),
        last_purchase_at=Max("purchases__purchased_at", filter=counted),
        purchase_count=Count("purchases", filter=counted),
        net_spend=Coalesce(
            Sum(net_amount("purchases__"), filter=counted), Decimal("0"),
            output_field=DecimalField(max_digits=14, decimal_places=2),
        ),
    )


# -- members ---------------------------------------------------------------


def members_export_header() -> list[str]:
    return [
        _("card number"), _("external id"), _("first name"), _("last name"), _("email"), _("phone"),
        _("language"), _("enrolled at"), _("enrollment store"), _("tier"), _("available points"),
        _("pending points"), _("marketing consent"), _("SMS consent"), _("last purchase date"),
        _("purchases"), _("net spend"),
    ]


def members_export_rows(*, tz) -> Iterator[Sequence[object]]:
    """Every member not deleted, by card number, with their balances, tier (its
    code) and purchase figures (``analytics.kpis`` rules: fully refunded
    purchases count nowhere, amounts are net of refunds; last purchase as a
    day in ``tz``).

    One query: members joined to their one-to-one account and tier and,
    grouped, to their purchases (the only multi-valued relation).
    """
    rows = (
        with_purchase_figures(Member.objects.exclude(status=Member.Status.DELETED))
        .order_by("card_number")
        .values_list(
            "card_number", "external_id", "first_name", "last_name", "email", "phone_text", "language",
            "enrolled_at", "enrollment_store__code", "tier_status__tier__code", "points_account__available",
            "points_account__pending", "marketing_consent", "sms_consent", "last_purchase_at",
            "purchase_count", "net_spend",
        )
    )
    for (card, external_id, first, last, email, phone, language, enrolled_at, store, tier, available, pending,
         marketing, sms, last_purchase_at, count, spend) in rows.iterator(chunk_size=CHUNK):
        yield (
            card, text(external_id), first, last, email, text(phone), language, local_iso(enrolled_at, tz),
            text(store), text(tier), available or 0, pending or 0, yes_no(marketing), yes_no(sms),
            local_day(last_purchase_at, tz), count, f"{spend:.2f}",
        )


# -- ledger ----------------------------------------------------------------


def ledger_export_header() -> list[str]:
    return [
        _("id"), _("effective at"), _("kind"), _("points"), _("available change"), _("pending change"),
        _("debt change"), _("card number"), _("purchase external id"), _("store"), _("reason"),
    ]


def ledger_export_rows(
    *, start_at: dt.datetime, end_at: dt.datetime, tz, store: Store | None = None, kind: str | None = None
) -> Iterator[Sequence[object]]:
    """Ledger entries effective in ``[start_at, end_at)``, oldest first; at
    ``store`` (the store an entry belongs to as the KPIs count it:
    ``analytics.kpis.ledger_store_q``) and of ``kind`` when given.

    The store column is that store: the purchase's, else the member's
    enrollment store.
    """
    entries = LedgerEntry.objects.filter(effective_at__gte=start_at, effective_at__lt=end_at)
    if store is not None:
        entries = entries.filter(ledger_store_q(store))
    if kind:
        entries = entries.filter(kind=kind)
    rows = entries.order_by("effective_at", "pk").values_list(
        "pk", "effective_at", "kind", "points", "available_delta", "pending_delta", "debt_delta",
        "account__member__card_number", "purchase__external_id", "purchase__store__code",
        "account__member__enrollment_store__code", "reason",
    )
    for (pk, effective_at, entry_kind, points, available, pending, debt, card, purchase, purchase_store,
         member_store, reason) in rows.iterator(chunk_size=CHUNK):
        store_code = purchase_store if purchase is not None else member_store
        yield (
            pk, local_iso(effective_at, tz), entry_kind, points, available, pending, debt, text(card),
            text(purchase), text(store_code), reason,
        )

