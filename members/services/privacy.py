"""Erasure: a member deletes their account (the right to erasure).

Personal data goes; the points history stays, anonymised, so that the
program's totals, KPIs and liability stay correct.
"""

from __future__ import annotations

import logging

from django.db import transaction

from members.models import ConsentChange, Delivery, Feedback, Member, User

logger = logging.getLogger(__name__)

ERASED_CARD_PREFIX = "D"


def erased_card_number(*, member_id: int) -> str:
    """The card number an erased member keeps: unique (it holds the row's id),
    but never a valid EAN-13 (it starts with a letter), so the old physical card
    and its barcode no longer find anyone."""
    return f"{ERASED_CARD_PREFIX}{member_id:012d}"


@transaction.atomic
def member_erase(*, member: Member, actor: User | None) -> Member:
    """Erase the member's personal data and anonymise them.

    Erased: names, email, phone, birth date, external id, referral code and
    marketing consents (with their history), feedback comments (the scores
    stay, unnamed, for the NPS), the recipients, subjects and bodies of the
    messages sent to them. The member becomes ``DELETED`` with a replacement
    card number, and their login is deleted (with its allauth email addresses
    and two-factor devices); a staff or cashier login is only detached.

    Kept untouched: purchases, refunds, ledger entries, points lots and the
    points account, so totals and liability stay correct; the points are lost
    to the member.

    Locks the member's row. Idempotent: erasing an erased member changes
    nothing. ``actor`` (the member themselves or staff) is logged.
    """
    locked = Member.objects.select_for_update().get(pk=member.pk)
    if locked.status == Member.Status.DELETED and locked.user_id is None and not locked.email:
        return locked
    user_id = locked.user_id
    locked.first_name = ""
    locked.last_name = ""
    locked.email = ""
    locked.phone = ""
    locked.birth_date = None
    locked.external_id = None
    locked.referral_code = None
    locked.marketing_consent = False
    locked.sms_consent = False
    locked.card_number = erased_card_number(member_id=locked.pk)
    locked.status = Member.Status.DELETED
    locked.user = None
    locked.save(update_fields=[
        "first_name", "last_name", "email", "phone", "birth_date", "external_id", "referral_code",
        "marketing_consent", "sms_consent", "card_number", "status", "user",
    ])
    ConsentChange.objects.filter(member_id=locked.pk).delete()
    Feedback.objects.filter(member_id=locked.pk).exclude(comment="").update(comment="")
    Delivery.objects.filter(member_id=locked.pk).update(recipient="", subject="", body="")
    if user_id is not None:
        login = User.objects.filter(pk=user_id).values_list("role", "is_superuser").first()
        if login is not None and not login[0] and not login[1]:
            User.objects.filter(pk=user_id).delete()
    logger.info(
        "member erased", extra={"member_id": locked.pk, "actor_id": actor.pk if actor else None},
    )
    return locked
