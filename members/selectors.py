"""Reads about members, shaped for the staff search and the till lookup."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import phonenumbers
from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import Coalesce, Lower

from members.cards import CARD_LENGTH, card_number_is_valid
from members.models import ConsentChange, Member

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

    ``kind`` is ``card``, ``phone``, ``email``, ``name``, ``invalid_card``
    (13 digits with a wrong check digit) or ``unknown`` (digits that are no
    card and no phone). ``more`` says a name matched more members than listed.
    """

    kind: str
    query: str
    members: list[Member] = field(default_factory=list)
    more: bool = False

    @property
    def enroll_initial(self) -> dict[str, str]:
        """What the cashier typed, as the enrollment form's fields."""
        if self.kind == "email":
            return {"email": self.query}
        if self.kind == "phone":
            return {"phone": self.query}
        if self.kind == "card":
            return {"card_number": _SEPARATORS.sub("", self.query)}
        if self.kind == "name":
            first, _space, last = self.query.partition(" ")
            return {"first_name": first, "last_name": last.strip()}
        return {}


TILL_NAME_RESULTS = 10
TILL_NAME_WORDS = 4


def member_search_by_name(*, query: str, limit: int = TILL_NAME_RESULTS) -> list[Member]:
    """Members each of whose first ``TILL_NAME_WORDS`` words starts their first
    or last name (any case), A to Z, at most ``limit + 1`` (one more than
    shown, to tell that there are more). One query.

    ``LOWER(name) LIKE 'prefix%'`` is what the expression indexes of
    migration 0004 (``text_pattern_ops`` on PostgreSQL) answer.
    """
    condition = Q()
    for word in query.lower().split()[:TILL_NAME_WORDS]:
        condition &= Q(first_lower__startswith=word) | Q(last_lower__startswith=word)
    members = (
        Member.objects.exclude(status=Member.Status.DELETED)
        .annotate(first_lower=Lower("first_name"), last_lower=Lower("last_name"))
        .filter(condition)
        # Ordered by the indexed expressions: ordering by the plain names lets
        # PostgreSQL walk member_name in order and filter, 100 ms for a common
        # prefix at 100k members; this way the prefix indexes answer (< 35 ms).
        .order_by("last_lower", "first_lower", "pk")
        .only("pk", "card_number", "first_name", "last_name", "status")
    )
    return list(members[: limit + 1])


def member_lookup_for_till(*, query: str, region: str) -> TillLookup:
    """Find a member from what a cashier typed or scanned.

    A card number must match exactly and carry a valid check digit; a phone
    is normalised with the program's country; an email matches in any case;
    other text containing letters is a name (``member_search_by_name``).
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
    if any(char.isalpha() for char in query):
        found = member_search_by_name(query=query)
        return TillLookup(
            kind="name", query=query, members=found[:TILL_NAME_RESULTS], more=len(found) > TILL_NAME_RESULTS
        )
    return TillLookup(kind="unknown", query=query)


def member_get_by_card(*, card_number: str) -> Member | None:
    return (
        _with_balances(Member.objects.exclude(status=Member.Status.DELETED))
        .filter(card_number=card_number)
        .first()
    )


def consent_history_for_member(*, member: Member) -> QuerySet[ConsentChange]:
    """Each giving and withdrawal of ``member``'s consents, latest first, with who recorded it."""
    return ConsentChange.objects.filter(member=member).select_related("actor").order_by("-at", "-pk")
