"""How the faces show money, points and times, and the ledger in a member's words.

Times are stored in UTC and shown in the zone of the store where something
happened, or else the program's zone, with the zone's abbreviation.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel.numbers import format_decimal
from django import template
from django.utils import formats
from django.utils.translation import get_language, gettext, ngettext, to_locale

from loyalty.currencies import money_format
from loyalty.models import ActionBonus, LedgerEntry, PointsLot, Program, Tier
from members.models import STAFF_ROLES
from members.permissions import user_member

register = template.Library()


def _zone(zone) -> ZoneInfo | None:
    """A ``ZoneInfo`` from a zone, its name, or anything with a ``tz`` (program, store)."""
    if zone is None or zone == "":
        return None
    if isinstance(zone, ZoneInfo):
        return zone
    if isinstance(zone, str):
        return ZoneInfo(zone)
    return zone.tz


def _locale() -> str:
    return to_locale(get_language() or "en")


@register.filter
def money(amount: Decimal | None, currency: str | None) -> str:
    """``{{ amount|money:program.currency }}``: Babel's format for the active language."""
    if amount is None or not currency:
        return ""
    return money_format(amount, currency)


@register.filter
def points(value: int | None) -> str:
    """A number of points with the active language's digit grouping."""
    if value is None:
        return ""
    return format_decimal(value, locale=_locale())


@register.filter
def number(value: Decimal | int | None) -> str:
    """A decimal without trailing zeros, in the active language (``1.5`` → ``1,5`` in Polish)."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        value = value.normalize()
    return format_decimal(value, locale=_locale(), decimal_quantization=False)


@register.filter
def plural_count(value: Decimal) -> int:
    """A count for choosing a plural form of a possibly fractional number (fractions take the plural)."""
    return int(value) if value == value.to_integral_value() else 2


@register.filter
def absolute(value: int) -> int:
    return abs(value)


@register.filter
def signed_points(value: int) -> str:
    """``+25`` or ``−10`` (a real minus sign)."""
    formatted = format_decimal(abs(value), locale=_locale())
    if value > 0:
        return f"+{formatted}"
    return f"\u2212{formatted}" if value < 0 else formatted


def local_datetime(value: dt.datetime | None, zone) -> str:
    """Date and time in ``zone`` in the active language's format, with the zone's abbreviation."""
    tz = _zone(zone)
    if value is None:
        return ""
    local = value.astimezone(tz) if tz else value
    return f"{formats.date_format(local, 'DATETIME_FORMAT')} {local.strftime('%Z')}".strip()


def local_date(value: dt.datetime | None, zone) -> str:
    """The calendar day of ``value`` in ``zone``."""
    tz = _zone(zone)
    if value is None:
        return ""
    return formats.date_format(value.astimezone(tz) if tz else value, "DATE_FORMAT")


register.filter("when", local_datetime)
register.filter("day", local_date)


@register.filter
def receipt(purchase) -> str:
    """The receipt number typed at the till or sent by the POS; empty for an id the till drew."""
    return "" if purchase.external_id.startswith("till:") else purchase.external_id


@register.filter
def iso(value: dt.datetime | None) -> str:
    """For ``<time datetime="...">``."""
    return value.isoformat() if value else ""


@register.filter
def entry_zone(entry: LedgerEntry, program: Program):
    """Where an entry's time is shown: its purchase's store, else the program."""
    if entry.purchase_id is not None:
        return entry.purchase.store
    return program


@register.filter
def lot_pending(lot: PointsLot | None) -> bool:
    return lot is not None and lot.status == PointsLot.Status.PENDING


@register.filter
def bonus_label(entry: LedgerEntry) -> str:
    """The translated name of the action bonus an entry grants (its breakdown
    names the kind), or "" for any other entry."""
    for item in entry.breakdown or ():
        if isinstance(item, dict) and item.get("rule") == "bonus" and item.get("bonus") in ActionBonus.Kind.values:
            return str(ActionBonus.Kind(item["bonus"]).label)
    return ""


# -- breakdowns: which rule gave how many points -----------------------------------


def _tier_names(context) -> dict[int, str]:
    """The tiers' names in the active language, read once per request (a handful of rows)."""
    request = context.get("request")
    names = getattr(request, "_breakdown_tier_names", None)
    if names is None:
        names = {tier.pk: tier.name for tier in Tier.objects.all()}
        if request is not None:
            request._breakdown_tier_names = names
    return names


@register.simple_tag(takes_context=True)
def breakdown_label(context, item) -> str:
    """A breakdown item's name for people, by its key: the base rate and bonuses
    translated, the tier by its translated name, a rule by its name (as it was
    when the points were given)."""
    if not isinstance(item, dict):
        return str(item)
    key = item.get("rule")
    if key == "base":
        return gettext("Base rate")
    if key == "tier":
        name = _tier_names(context).get(item.get("tier"))
        return gettext("Tier: %(name)s") % {"name": name or item.get("label", "")}
    if key == "bonus" and item.get("bonus") in ActionBonus.Kind.values:
        return str(ActionBonus.Kind(item["bonus"]).label)
    return str(item.get("label") or gettext("Rule %(id)s") % {"id": key})


@register.filter
def breakdown_detail(item) -> str:
    """What a breakdown item adds to its points: "3 stamps, 1 card completed", "a voucher for
    Free coffee" (a full card of a rule that gives a voucher, named as the rule knew it then),
    "capped by a limit"."""
    if not isinstance(item, dict):
        return ""
    parts = []
    stamps = item.get("stamps")
    if stamps:
        text = ngettext("%(count)d stamp", "%(count)d stamps", stamps) % {"count": stamps}
        cards = item.get("cards") or 0
        if cards:
            text = gettext("%(stamps)s, %(cards)s") % {
                "stamps": text,
                "cards": ngettext("%(count)d card completed", "%(count)d cards completed", cards) % {"count": cards},
            }
        parts.append(text)
        if cards and item.get("reward") is not None:
            parts.append(ngettext(
                "%(count)d voucher for %(reward)s", "%(count)d vouchers for %(reward)s", cards
            ) % {"count": cards, "reward": item.get("reward_label") or gettext("a reward")})
    if item.get("capped"):
        parts.append(gettext("capped by a limit"))
    return "; ".join(parts)


def entry_text(entry: LedgerEntry, program: Program) -> str:
    """One ledger entry in the member's words (the points are shown beside it)."""
    purchase = entry.purchase if entry.purchase_id else None
    store = purchase.store.name if purchase else ""
    bought = local_date(purchase.purchased_at, purchase.store) if purchase else ""
    kind = LedgerEntry.Kind
    if entry.kind == kind.EARN:
        if purchase:
            return gettext("Purchase at %(store)s") % {"store": store}
        return gettext("Points earned")
    if entry.kind == kind.BONUS:
        label = bonus_label(entry) or entry.reason
        return gettext("Bonus: %(reason)s") % {"reason": label} if label else gettext("Bonus points")
    if entry.kind == kind.RELEASE:
        if purchase:
            return gettext("Points from your purchase at %(store)s on %(date)s are now available") % {
                "store": store, "date": bought,
            }
        return gettext("Pending points are now available")
    if entry.kind == kind.REDEEM:
        return gettext("Used: %(reason)s") % {"reason": entry.reason} if entry.reason else gettext("Points used")
    if entry.kind == kind.REDEEM_CANCEL:
        return gettext("Returned to you: %(reason)s") % {"reason": entry.reason} if entry.reason else gettext(
            "Points returned to you"
        )
    if entry.kind == kind.REVERSAL:
        if purchase:
            return gettext("Refund of your purchase at %(store)s on %(date)s") % {"store": store, "date": bought}
        return gettext("Refund")
    if entry.kind == kind.EXPIRE:
        if entry.lot_id:
            return gettext("Points earned on %(date)s expired") % {
                "date": local_date(entry.lot.earned_at, purchase.store if purchase else program),
            }
        return gettext("Points expired")
    if entry.kind == kind.ADJUST:
        return gettext("Correction by our team: %(reason)s") % {"reason": entry.reason}
    return entry.get_kind_display()


register.simple_tag(entry_text, name="entry_text")


@register.filter
def account_layout(user) -> str:
    """The layout the account pages (password, email, two-factor) use for ``user``."""
    if getattr(user, "is_authenticated", False):
        if user.role in STAFF_ROLES:
            return "staff/base.html"
        if not user.role and user_member(user) is not None:
            return "me/base.html"
    return "base.html"


@register.simple_tag(takes_context=True)
def page_url(context, param: str, number: int) -> str:
    """The current query string with ``param`` set to ``number`` (a page link keeping the filters)."""
    query = context["request"].GET.copy()
    query[param] = number
    return f"?{query.urlencode()}"
