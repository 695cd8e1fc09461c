"""Writes about who the customer is: enrollment and profile."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from allauth.account.models import EmailAddress
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext

from members.cards import card_number_generate, card_number_is_valid
from members.exceptions import (
    ContactRequired,
    DuplicateMember,
    InvalidCardNumber,
    InvalidEmail,
    InvalidRole,
    PasswordRejected,
    StoreRequired,
)
from members.models import Member, Role, User


def member_find_duplicate(*, email: str = "", phone: str = "") -> tuple[str, Member] | None:
    """An active or blocked member with this email (any case) or phone."""
    members = Member.objects.exclude(status=Member.Status.DELETED)
    if email:
        found = members.annotate(email_lower=Lower("email")).filter(email_lower=email.lower()).first()
        if found:
            return "email", found
    if phone:
        found = members.filter(phone=phone).first()
        if found:
            return "phone", found
    return None


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
    enrolled_at: dt.datetime | None = None,
    referred_by: Member | None = None,
) -> Member:
    """Enroll a member, issuing a card number unless a card is given.

    Refuses a second enrollment of the same person (email or phone).
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
            marketing_consent=marketing_consent, enrolled_at=enrolled_at or timezone.now(),
            referred_by=referred_by,
        )
        try:
            with transaction.atomic():
                member.save(force_insert=True)
            return member
        except IntegrityError:
            if card_number or not Member.objects.filter(card_number=member.card_number).exists():
                raise
            # A random card number collided: draw another.
    raise RuntimeError("could not draw a free card number")


@dataclass(frozen=True)
class StaffUserResult:
    user: User
    created: bool
    changes: list[str]


@transaction.atomic
def staff_user_create_or_update(
    *,
    email: str,
    role: str,
    store_ids: Sequence[int] | None = None,
    password: str | None = None,
) -> StaffUserResult:
    """Create a staff login (owner, manager, marketing or cashier), or update the
    role and stores of the user who already has ``email`` (any case).

    ``store_ids`` (``loyalty.Store`` ids, resolved by the caller) replaces the
    user's stores; ``None`` keeps them. A cashier must end with at least one
    store. ``password`` is validated by ``AUTH_PASSWORD_VALIDATORS`` and set
    when given; a new user without one gets an unusable password (they use
    "forgot password"). The email is marked verified for allauth. Safe to run
    again: an unchanged user reports no changes. Locks the user row.
    """
    email = email.strip()
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidEmail(value=email) from None
    if role not in Role.values:
        raise InvalidRole(value=role, roles=", ".join(Role.values))
    user = User.objects.select_for_update().filter(email__iexact=email).first()
    created = user is None
    if user is None:
        user = User(email=User.objects.normalize_email(email))
    current_store_ids = set() if created else set(user.stores.values_list("pk", flat=True))
    new_store_ids = current_store_ids if store_ids is None else set(store_ids)
    if role == Role.CASHIER and not new_store_ids:
        raise StoreRequired()
    changes: list[str] = []
    if user.role != role:
        changes.append(gettext("role %(old)s -> %(new)s") % {"old": user.role or "-", "new": role})
        user.role = role
    if password is not None:
        try:
            validate_password(password, user=user)
        except ValidationError as error:
            raise PasswordRejected(problems=" ".join(error.messages)) from None
        user.set_password(password)
        changes.append(gettext("password set"))
    elif created:
        user.set_unusable_password()
    user.save()
    if new_store_ids != current_store_ids:
        user.stores.set(sorted(new_store_ids))
        changes.append(gettext("stores changed"))
    email_address = EmailAddress.objects.filter(user=user, email__iexact=user.email).first()
    if email_address is None:
        EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    elif not (email_address.verified and email_address.primary):
        email_address.verified = email_address.primary = True
        email_address.save(update_fields=["verified", "primary"])
    return StaffUserResult(user=user, created=created, changes=[] if created else changes)
