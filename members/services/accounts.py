"""Member logins for ``/me/``: claiming a card enrolled at the till.

Rules (also in the README):

* A claim link (``members.services.claims``) proves that its holder received
  the message sent to the member's email or phone. Claiming sets a password
  and creates the ``User``; the email is marked verified only when it is the
  member's email on file (the one the link was sent to).
* A member is claimed once: the row is locked and must still have no user.
"""

from __future__ import annotations

from allauth.account.models import EmailAddress
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models.functions import Lower

from members.exceptions import (
    AccountExists,
    ClaimLinkInvalid,
    ContactTaken,
    PasswordRejected,
)
from members.models import Delivery, Member, User
from members.services.claims import member_claim_invite_send


def email_has_login(email: str) -> bool:
    """A login (user or an allauth address of one) already uses ``email``."""
    email = email.strip().lower()
    return (
        User.objects.annotate(e=Lower("email")).filter(e=email).exists()
        or EmailAddress.objects.annotate(e=Lower("email")).filter(e=email).exists()
    )


def password_check(*, password: str, user: User) -> None:
    try:
        password_validation.validate_password(password, user)
    except ValidationError as error:
        raise PasswordRejected(problems=" ".join(error.messages)) from None


@transaction.atomic
def member_claim(*, member_id: int, card_number: str, email: str, password: str) -> tuple[User, bool]:
    """Give an unclaimed member a login: a new ``User`` with ``email`` and
    ``password``, linked to the member. Returns the user and whether the
    email counts as verified (it equals the member's email on file).

    Locks the member row; a member that got a user meanwhile (the link used
    twice at once), was deleted or whose card changed is ``ClaimLinkInvalid``.
    An email used by another login is ``AccountExists``; by another member,
    ``ContactTaken``. The member's email on file changes only when the new
    address is confirmed (see ``member_email_confirmed``).
    """
    member = (
        Member.objects.select_for_update()
        .exclude(status=Member.Status.DELETED)
        .filter(pk=member_id, card_number=card_number, user__isnull=True)
        .first()
    )
    if member is None:
        raise ClaimLinkInvalid()
    email = email.strip()
    if email_has_login(email):
        raise AccountExists()
    on_file = member.email.strip().lower()
    verified = bool(on_file) and email.lower() == on_file
    if not verified and (
        Member.objects.exclude(pk=member.pk).exclude(status=Member.Status.DELETED)
        .annotate(e=Lower("email")).filter(e=email.lower()).exists()
    ):
        raise ContactTaken(field="email")
    user = User(email=email, first_name=member.first_name, last_name=member.last_name)
    password_check(password=password, user=user)
    user.set_password(password)
    user.save(force_insert=True)
    EmailAddress.objects.create(user=user, email=email, verified=verified, primary=True)
    member.user = user
    member.save(update_fields=["user"])
    return user, verified


def member_claim_request(*, email: str, card_number: str) -> Delivery | None:
    """Send a claim link to the email on file of the unclaimed member with
    this email and card number; nothing when there is none. The caller shows
    the same answer either way (no account enumeration)."""
    email = email.strip().lower()
    member = (
        Member.objects.exclude(status=Member.Status.DELETED)
        .filter(card_number=card_number, user__isnull=True)
        .annotate(e=Lower("email")).filter(e=email)
        .first()
    )
    if member is None or not email:
        return None
    return member_claim_invite_send(member=member)
