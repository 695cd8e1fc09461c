"""A member's own changes from ``/me/``: details, language and consent."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from members import hooks
from members.exceptions import ContactRequired, ContactTaken
from members.models import ConsentChange, Member, User
from members.services.enrollment import member_find_duplicate

CONSENT_FIELDS = {
    ConsentChange.Channel.EMAIL: "marketing_consent",
    ConsentChange.Channel.SMS: "sms_consent",
}

PROFILE_FIELDS = ("first_name", "last_name", "email", "phone", "birth_date")
"""What a complete profile has (the completed-profile bonus)."""


def member_profile_is_complete(member: Member) -> bool:
    """Whether every field of ``PROFILE_FIELDS`` is filled in (blank text counts as missing).

    The one definition of a complete profile, used wherever it matters."""
    return all(str(getattr(member, name) or "").strip() for name in PROFILE_FIELDS)


@transaction.atomic
def member_profile_update(
    *,
    member: Member,
    first_name: str,
    last_name: str = "",
    phone: str = "",
    birth_date: dt.date | None = None,
    language: str | None = None,
) -> Member:
    """Change the member's names, phone (E.164, or empty), birth date and
    language. Locks the member row. Refuses a phone another (not deleted)
    member has (``ContactTaken`` naming ``phone``) and removing the phone of
    a member who has no email on file (``ContactRequired``). Idempotent:
    saving the same values writes them again and changes nothing. Runs the
    ``member_profile_changed`` hook in this transaction (``members.hooks``).
    """
    locked = Member.objects.select_for_update().get(pk=member.pk)
    phone = str(phone or "")
    if phone and member_find_duplicate(phone=phone, exclude_pk=locked.pk) is not None:
        raise ContactTaken(field="phone")
    if not phone and not locked.email:
        raise ContactRequired()
    locked.first_name = first_name.strip()
    locked.last_name = last_name.strip()
    locked.phone = phone
    locked.birth_date = birth_date
    if language:
        locked.language = language if language in Member.Language.values else locked.language
    locked.save(update_fields=["first_name", "last_name", "phone", "birth_date", "language"])
    if locked.user_id:
        User.objects.filter(pk=locked.user_id).update(first_name=locked.first_name, last_name=locked.last_name)
    hooks.member_profile_changed.run(member=locked)
    return locked


def member_language_set(*, member: Member, language: str) -> bool:
    """Remember the member's language (``en``, ``pl`` or ``ro``); whether it
    changed. One conditional update, no lock needed (the last choice wins)."""
    if language not in Member.Language.values:
        return False
    changed = Member.objects.filter(pk=member.pk).exclude(language=language).update(language=language)
    member.language = language
    return bool(changed)


@transaction.atomic
def member_consent_set(
    *,
    member: Member,
    channel: str,
    given: bool,
    source: str = ConsentChange.Source.PORTAL,
    actor: User | None = None,
    now: dt.datetime | None = None,
) -> ConsentChange | None:
    """Give or withdraw the member's marketing consent on ``channel`` (email
    or SMS) and record it as a ``ConsentChange``.

    Locks the member row, so two changes at once are recorded in order; no
    row and no write when the consent is already ``given`` (safe to repeat).
    """
    field = CONSENT_FIELDS[ConsentChange.Channel(channel)]
    locked = Member.objects.select_for_update().get(pk=member.pk)
    if getattr(locked, field) == given:
        setattr(member, field, given)
        return None
    setattr(locked, field, given)
    locked.save(update_fields=[field])
    setattr(member, field, given)
    return ConsentChange.objects.create(
        member=locked, channel=channel, given=given, at=now or timezone.now(), source=source, actor=actor,
    )
