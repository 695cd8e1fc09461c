"""Enrollment: a new member and their card."""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from members import hooks
from members.cards import card_number_generate, card_number_is_valid
from members.exceptions import (
    ContactRequired,
    DuplicateMember,
    InvalidCardNumber,
)
from members.models import ConsentChange, Member, User


def member_find_duplicate(
    *, email: str = "", phone: str = "", exclude_pk: int | None = None
) -> tuple[str, Member] | None:
    """The member (not deleted, other than ``exclude_pk``) who already has this
    email (any case) or phone, with the field that matched: one person, one member."""
    members = Member.objects.exclude(status=Member.Status.DELETED)
    if exclude_pk is not None:
        members = members.exclude(pk=exclude_pk)
    email = email.strip()
    if email:
        found = members.annotate(email_lower=Lower("email")).filter(email_lower=email.lower()).first()
        if found:
            return "email", found
    if phone:
        found = members.filter(phone=phone).first()
        if found:
            return "phone", found
    return None


@transaction.atomic
def member_enroll(
    *,
    email: str = "",
    phone: str = "",
    first_name: str = "",
    last_name: str = "",
    birth_date: dt.date | None = None,
    language: str = Member.Language.EN,
    enrollment_store_id: int | None = None,
    card_number: str = "",
    external_id: str | None = None,
    marketing_consent: bool = False,
    sms_consent: bool = False,
    consent_source: str = ConsentChange.Source.SIGNUP,
    consent_actor: User | None = None,
    enrolled_at: dt.datetime | None = None,
    referred_by: Member | None = None,
) -> Member:
    """Enroll a member, issuing a card number unless a card is given.

    Refuses a second enrollment of the same person (email or phone). Each
    consent given (marketing email, SMS) is recorded as a ``ConsentChange``
    from ``consent_source`` by ``consent_actor``, in the same transaction as
    the member: a member never exists without the history of their consents.
    Takes no lock; the unique card number and a retry keep concurrent
    enrollments apart. This is the live enrollment (portal sign-up, till):
    it runs the ``member_enrolled`` hook in its transaction (``members.hooks``;
    the sign-up bonus), which imports and demo data, being history, never do.
    """
    email = email.strip()
    if not email and not phone:
        raise ContactRequired()
    if card_number and not card_number_is_valid(card_number):
        raise InvalidCardNumber(value=card_number)
    duplicate = member_find_duplicate(email=email, phone=str(phone or ""))
    if duplicate:
        field, found = duplicate
        raise DuplicateMember(field=field, field_name=field, card=found.card_number)
    if card_number and Member.objects.filter(card_number=card_number).exists():
        found = Member.objects.get(card_number=card_number)
        raise DuplicateMember(field="card_number", field_name="card number", card=found.card_number)
    for _attempt in range(5):
        member = Member(
            email=email, phone=phone, first_name=first_name.strip(), last_name=last_name.strip(),
            birth_date=birth_date, language=language, enrollment_store_id=enrollment_store_id,
            card_number=card_number or card_number_generate(), external_id=external_id or None,
            marketing_consent=marketing_consent, sms_consent=sms_consent,
            enrolled_at=enrolled_at or timezone.now(), referred_by=referred_by,
        )
        try:
            with transaction.atomic():
                member.save(force_insert=True)
                _consents_record(member=member, source=consent_source, actor=consent_actor)
        except IntegrityError:
            if card_number or not Member.objects.filter(card_number=member.card_number).exists():
                raise
            continue  # A random card number collided: draw another.
        hooks.member_enrolled.run(member=member, source=consent_source)
        return member
    raise RuntimeError("could not draw a free card number")


def _consents_record(*, member: Member, source: str, actor: User | None) -> None:
    """The consents a new member gave, as the first entries of their history."""
    given = [
        channel for channel, on in (
            (ConsentChange.Channel.EMAIL, member.marketing_consent),
            (ConsentChange.Channel.SMS, member.sms_consent),
        ) if on
    ]
    ConsentChange.objects.bulk_create(
        ConsentChange(member=member, channel=channel, given=True, at=member.enrolled_at, source=source, actor=actor)
        for channel in given
    )


def member_card_attach(*, member_id: int, card_number: str) -> tuple[Member, bool]:
    """Give a member the physical card ``card_number`` in place of their
    current number (issued at enrollment or an old card); returns the member
    and whether the number changed.

    The old number stops working at once, and so do account-claim links made
    for it. Locks the member row; attaching the card they already have is a
    no-op, so a double submit changes it once. A number with a wrong check
    digit is ``InvalidCardNumber``; one that belongs to another member,
    ``DuplicateMember`` (the database's unique card number backs this under
    concurrency).
    """
    if not card_number_is_valid(card_number):
        raise InvalidCardNumber(value=card_number)
    with transaction.atomic():
        member = Member.objects.select_for_update().get(pk=member_id)
        if member.card_number == card_number:
            return member, False
        holder = Member.objects.filter(card_number=card_number).first()
        if holder is not None:
            raise DuplicateMember(field="card_number", field_name="card number", card=holder.card_number)
        member.card_number = card_number
        try:
            with transaction.atomic():
                member.save(update_fields=["card_number"])
        except IntegrityError:  # taken meanwhile by a concurrent enrollment
            raise DuplicateMember(field="card_number", field_name="card number", card=card_number) from None
    return member, True
