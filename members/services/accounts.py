"""Member logins for ``/me/``: sign-up, claiming a card enrolled at the till,
the email on file, referral codes.

The rules (also in the README):

* **Sign-up** creates the ``User``, the ``Member`` and its card in one
  transaction. It is refused when a member already exists for the email or
  the phone (``MemberAlreadyEnrolled``): a member enrolled at the till, or
  imported, is never attached to a login whose email nobody has verified.
  The message sends them to claiming, which proves they own the contact on
  file. (An email that already has a *login* is left to allauth: with
  optional verification it refuses the address; with mandatory verification
  it answers as if the sign-up worked and mails the owner.)
* **Claim**: a claim link (``members.services.claims``) proves that its
  holder received the message sent to the member's email or phone. Claiming
  sets a password and creates the ``User``; the email counts as verified
  only when it is the member's email on file (where the link was sent). A
  member is claimed once: the row is locked and must still have no user.
* **Email on file**: ``Member.email`` follows the login's email once the new
  address is confirmed (``member_email_confirmed``), never before.
* **Referral codes** are drawn the first time they are shown.
"""

from __future__ import annotations

import secrets

from allauth.account.models import EmailAddress
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower

from members import hooks
from members.exceptions import (
    AccountExists,
    ClaimLinkInvalid,
    ContactTaken,
    InvalidReferralCode,
    MemberAlreadyEnrolled,
    PasswordRejected,
    SelfReferral,
)
from members.models import ConsentChange, Delivery, Member, User
from members.services.claims import member_claim_invite_send
from members.services.enrollment import member_enroll, member_find_duplicate

REFERRAL_CODE_LENGTH = 8
REFERRAL_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
"""Digits and capitals without the look-alikes 0/O, 1/I/L."""


def email_has_login(email: str, *, exclude_user_id: int | None = None) -> bool:
    """A login (a user, or an allauth address of one) already uses ``email``."""
    email = email.strip().lower()
    users = User.objects.annotate(e=Lower("email")).filter(e=email)
    addresses = EmailAddress.objects.annotate(e=Lower("email")).filter(e=email)
    if exclude_user_id is not None:
        users = users.exclude(pk=exclude_user_id)
        addresses = addresses.exclude(user_id=exclude_user_id)
    return users.exists() or addresses.exists()


def password_check(*, password: str, user: User) -> None:
    try:
        password_validation.validate_password(password, user)
    except ValidationError as error:
        raise PasswordRejected(problems=" ".join(error.messages)) from None


# --- Sign-up ---


def referral_code_normalise(value: str) -> str:
    return "".join(ch for ch in value.upper() if ch.isalnum())


def member_signup_check(*, email: str, phone: str = "", referral_code: str = "") -> Member | None:
    """Why a sign-up with these details would be refused (raises), else the
    referring member (``None`` without a code).

    ``InvalidReferralCode`` for an unknown code; ``SelfReferral`` when the
    code is the member's with this email or phone; ``MemberAlreadyEnrolled``
    (naming ``email`` or ``phone``) when a member exists for either.
    """
    referrer = None
    code = referral_code_normalise(referral_code)
    if code:
        referrer = Member.objects.filter(status=Member.Status.ACTIVE, referral_code=code).first()
        if referrer is None:
            raise InvalidReferralCode(value=referral_code.strip())
        same_email = email and referrer.email.strip().lower() == email.strip().lower()
        if same_email or (phone and str(referrer.phone) == str(phone)):
            raise SelfReferral()
    duplicate = member_find_duplicate(email=email, phone=str(phone or ""))
    if duplicate is not None:
        raise MemberAlreadyEnrolled(field=duplicate[0])
    return referrer


@transaction.atomic
def member_signup(
    *,
    user: User,
    first_name: str,
    last_name: str = "",
    phone: str = "",
    language: str = Member.Language.EN,
    marketing_consent: bool = False,
    sms_consent: bool = False,
    referral_code: str = "",
) -> Member:
    """The member (and card) of a login just created by sign-up, in the
    caller's transaction, with the consents given recorded (source sign-up)
    and ``referred_by`` from the code. Refuses as ``member_signup_check``
    does, so a refusal rolls the user back too. Takes no lock: the card
    number is unique and drawn again on a collision.
    """
    referrer = member_signup_check(email=user.email, phone=phone, referral_code=referral_code)
    member = member_enroll(
        email=user.email, phone=phone, first_name=first_name, last_name=last_name,
        language=language if language in Member.Language.values else Member.Language.EN,
        marketing_consent=marketing_consent, sms_consent=sms_consent,
        consent_source=ConsentChange.Source.SIGNUP, referred_by=referrer,
    )
    member.user = user
    member.save(update_fields=["user"])
    return member


# --- Claim ---


@transaction.atomic
def member_claim(*, member_id: int, card_number: str, email: str, password: str) -> tuple[User, bool]:
    """Give an unclaimed member a login: a new ``User`` with ``email`` and
    ``password``, linked to the member. Returns the user and whether the
    email counts as verified (it equals the member's email on file).

    Locks the member row; a member that got a user meanwhile (the link used
    twice at once), was deleted or whose card changed is ``ClaimLinkInvalid``.
    An email used by another login is ``AccountExists``; by another member,
    ``ContactTaken``. The member's email on file changes only when a new
    address is confirmed (``member_email_confirmed``).
    """
    member = (
        Member.objects.select_for_update()
        .exclude(status=Member.Status.DELETED)
        .filter(pk=member_id, card_number=card_number, user__isnull=True)
        .first()
    )
    if member is None:
        raise ClaimLinkInvalid()
    email = email.strip().lower()  # as allauth stores a sign-up's address
    if email_has_login(email):
        raise AccountExists()
    on_file = member.email.strip().lower()
    verified = bool(on_file) and email == on_file
    if not verified and member_find_duplicate(email=email, exclude_pk=member.pk) is not None:
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
    the same answer either way (no account enumeration). Each match sends a
    new link (``member_claim_invite_send``), logged in ``Delivery``.
    """
    email = email.strip().lower()
    if not email or not card_number:
        return None
    member = (
        Member.objects.exclude(status=Member.Status.DELETED)
        .filter(card_number=card_number, user__isnull=True)
        .annotate(e=Lower("email")).filter(e=email)
        .first()
    )
    if member is None:
        return None
    return member_claim_invite_send(member=member)


# --- The email on file ---


def member_email_conflict(*, user: User, email: str) -> None:
    """``ContactTaken`` (email) when a member other than ``user``'s has
    ``email``: a login may not take over another member's address."""
    own = Member.objects.filter(user=user).values_list("pk", flat=True).first()
    if member_find_duplicate(email=email, exclude_pk=own) is not None:
        raise ContactTaken(field="email")


@transaction.atomic
def member_email_confirmed(*, user: User, email: str) -> Member | None:
    """Keep the email on file of ``user``'s member equal to a login address
    just confirmed (and now primary). Locks the member row; no write when it
    is already equal; ``None`` for a login without a member. Refuses, as
    ``member_email_conflict``, an address another member has. A change runs
    the ``member_profile_changed`` hook in this transaction.
    """
    member = Member.objects.select_for_update().filter(user=user).first()
    if member is None or member.email == email:
        return member
    member_email_conflict(user=user, email=email)
    member.email = email
    member.save(update_fields=["email"])
    hooks.member_profile_changed.run(member=member)
    return member


# --- Referral codes ---


def referral_code_draw(*, rng: secrets.SystemRandom | None = None) -> str:
    rng = rng or secrets.SystemRandom()
    return "".join(rng.choice(REFERRAL_ALPHABET) for _ in range(REFERRAL_CODE_LENGTH))


def member_referral_code_get(*, member: Member, rng: secrets.SystemRandom | None = None) -> str:
    """The member's referral code, drawn (8 characters without look-alikes)
    the first time it is asked for. Locks the member row, so two first views
    at once draw one code; a code another member already has (unique in the
    database) is drawn again.
    """
    if member.referral_code:
        return member.referral_code
    for _attempt in range(10):
        code = referral_code_draw(rng=rng)
        try:
            with transaction.atomic():
                locked = Member.objects.select_for_update().get(pk=member.pk)
                if locked.referral_code:
                    member.referral_code = locked.referral_code
                    return locked.referral_code
                locked.referral_code = code
                locked.save(update_fields=["referral_code"])
        except IntegrityError:
            continue  # another member has this code: draw again
        member.referral_code = code
        return code
    raise RuntimeError("could not draw a free referral code")
