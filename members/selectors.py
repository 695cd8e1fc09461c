"""Reads about members, shaped for the staff search and the till lookup."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import phonenumbers
from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import Coalesce, Lower

from members.cards import CARD_LENGTH, card_number_is_valid
from members.models import Member

_SEPARATORS = re.compile(r"[\s\-./()]")


def phone_normalise(value: str, *, region: str) -> str | None:
    """``value`` as E.164 if it is a valid phone number (national numbers in
    ``region``, the program's country), else ``None``."""
    if not any(char.isdigit() for char in value):
        return None
    try:
        number = phonenumbers.parse(value, region or None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _with_balances(members: QuerySet[Member]) -> QuerySet[Member]:
    """Adds ``available``, ``pending`` and ``debt`` (0 without an account) in the same query."""
    return members.annotate(
        available=Coalesce(F("points_account__available"), Value(0)),
        pending=Coalesce(F("points_account__pending"), Value(0)),
        debt=Coalesce(F("points_account__debt"), Value(0)),
    )


def member_list_for_staff(*, query: str = "", region: str = "") -> QuerySet[Member]:
    """Members matching ``query``, by name, email, phone or card number, A to Z.

    Digits search card numbers by prefix (and phones, when they form a valid
    number); text with ``@`` searches emails; other words must each start a
    first or last name. Deleted members are left out. One query per page, with
    the balances annotated.
    """
    members = Member.objects.exclude(status=Member.Status.DELETED)
    query = query.strip()
    if query:
        compact = _SEPARATORS.sub("", query)
        phone = phone_normalise(query, region=region)
        if "@" in query:
            condition = Q(email__icontains=query)
        elif compact.lstrip("+").isdigit():
            condition = Q(card_number__startswith=compact.lstrip("+"))
            if phone:
                condition |= Q(phone=phone)
        else:
            condition = Q()
            for word in query.split():
                condition &= Q(first_name__istartswith=word) | Q(last_name__istartswith=word)
        members = members.filter(condition)
    return _with_balances(members).order_by("last_name", "first_name", "pk")


def member_get_for_staff(*, pk: int) -> Member | None:
    """A member with balances and enrollment store; deleted members are gone for the faces."""
    members = Member.objects.exclude(status=Member.Status.DELETED).filter(pk=pk)
    return _with_balances(members).select_related("enrollment_store").first()


@dataclass(frozen=True)
class TillLookup:
    """What the till's one search box found.

    ``kind`` is ``card``, ``phone``, ``email``, ``invalid_card`` (13 digits
    with a wrong check digit) or ``unknown`` (nothing the box understands).
    """

    kind: str
    query: str
    members: list[Member] = field(default_factory=list)


def member_lookup_for_till(*, query: str, region: str) -> TillLookup:
    """Find a member from what a cashier typed or scanned.

    A card number must match exactly and carry a valid check digit; a phone
    is normalised with the program's country; an email matches in any case.
    Deleted members are never found. At most two queries.
    """
    query = query.strip()
    members = Member.objects.exclude(status=Member.Status.DELETED).order_by("last_name", "first_name", "pk")
    compact = _SEPARATORS.sub("", query)
    if "@" in query:
        found = members.annotate(email_lower=Lower("email")).filter(email_lower=query.lower())
        return TillLookup(kind="email", query=query, members=list(found[:20]))
    phone = phone_normalise(query, region=region)
    if compact.isdigit() and len(compact) == CARD_LENGTH:
        # 13 digits are a card, unless they are no valid card but a valid phone
        # number (0048 601 234 567), or no member's card but someone's phone.
        if card_number_is_valid(compact):
            found = list(members.filter(card_number=compact)[:1])
            if found or not phone:
                return TillLookup(kind="card", query=query, members=found)
        elif not phone:
            return TillLookup(kind="invalid_card", query=query)
    if phone:
        return TillLookup(kind="phone", query=query, members=list(members.filter(phone=phone)[:20]))
    return TillLookup(kind="unknown", query=query)


def member_get_by_card(*, card_number: str) -> Member | None:
    return (
        _with_balances(Member.objects.exclude(status=Member.Status.DELETED))
        .filter(card_number=card_number)
        .first()
    )
