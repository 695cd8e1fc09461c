"""Account claims: a member enrolled at the till (or imported) gets a link to
set up their login for ``/me/``.

The link carries a signed, timestamped token naming the member and their card
number; it stops working when it is older than ``CLAIM_LINK_MAX_AGE_DAYS``,
when the member already has a login, or when the card changed.
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext, ngettext

from members.exceptions import ClaimLinkInvalid, ContactRequired
from members.messaging import message_send
from members.models import Delivery, Member, User

CLAIM_SALT = "members.claim"


def claim_token_make(*, member: Member) -> str:
    return signing.dumps({"m": member.pk, "c": member.card_number}, salt=CLAIM_SALT, compress=True)


def claim_token_member(*, token: str) -> Member:
    """The member a claim token is for, if it may still be used; else ``ClaimLinkInvalid``."""
    try:
        data = signing.loads(token, salt=CLAIM_SALT, max_age=settings.CLAIM_LINK_MAX_AGE_DAYS * 24 * 3600)
    except signing.BadSignature:  # also SignatureExpired
        raise ClaimLinkInvalid() from None
    member = (
        Member.objects.exclude(status=Member.Status.DELETED)
        .filter(pk=data.get("m"), card_number=data.get("c"), user__isnull=True)
        .first()
    )
    if member is None:
        raise ClaimLinkInvalid()
    return member


def claim_url(*, member: Member) -> str:
    return settings.SITE_URL + reverse("me:claim", kwargs={"token": claim_token_make(member=member)})


def member_claim_invite_send(*, member: Member, actor: User | None = None) -> Delivery:
    """Send ``member`` a link to claim their account: by email when they have
    one, else by SMS; in the member's language. Writes a ``Delivery`` (logged
    for staff when the channel has no backend). Sending again sends a new link.
    """
    if not member.email and not member.phone:
        raise ContactRequired()
    url = claim_url(member=member)
    days = settings.CLAIM_LINK_MAX_AGE_DAYS
    with translation.override(member.language):
        if member.email:
            return message_send(
                channel=Delivery.Channel.EMAIL, kind="claim", recipient=member.email, member=member, actor=actor,
                subject=gettext("Your loyalty card %(card)s") % {"card": member.card_number},
                body=gettext(
                    "Welcome to the program! Your card number is %(card)s.\n\n"
                    "Set up your account to see your points and rewards:\n%(url)s"
                ) % {"card": member.card_number, "url": url} + "\n\n" + ngettext(
                    "The link works for %(days)d day.", "The link works for %(days)d days.", days
                ) % {"days": days},
            )
        return message_send(
            channel=Delivery.Channel.SMS, kind="claim", recipient=str(member.phone), member=member, actor=actor,
            body=gettext("Your loyalty card %(card)s. Set up your account: %(url)s") % {
                "card": member.card_number, "url": url},
        )
