"""Staff logins: owners, managers, marketing and cashiers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from allauth.account.models import EmailAddress
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext

from members.exceptions import InvalidEmail, InvalidRole, PasswordRejected, StoreRequired
from members.models import Role, User


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
