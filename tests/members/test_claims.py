"""Account-claim links: signed, expiring, single-use; sent by email or SMS in
the member's language."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from members.exceptions import ClaimLinkInvalid, ContactRequired
from members.models import Delivery
from members.services.claims import claim_token_make, claim_token_member, member_claim_invite_send
from tests.factories import MemberFactory, UserFactory, card_number

pytestmark = pytest.mark.django_db


def test_a_fresh_token_names_its_member():
    member = MemberFactory(user=None)
    assert claim_token_member(token=claim_token_make(member=member)) == member


def test_a_tampered_token_is_refused():
    member = MemberFactory(user=None)
    token = claim_token_make(member=member)
    with pytest.raises(ClaimLinkInvalid):
        claim_token_member(token=token[:-2] + ("AA" if not token.endswith("AA") else "BB"))


def test_a_token_expires(settings):
    settings.CLAIM_LINK_MAX_AGE_DAYS = 14
    member = MemberFactory(user=None)
    token = claim_token_make(member=member)
    with time_machine.travel(timezone.now() + dt.timedelta(days=13), tick=False):
        assert claim_token_member(token=token) == member
    with time_machine.travel(timezone.now() + dt.timedelta(days=15), tick=False), pytest.raises(ClaimLinkInvalid):
        claim_token_member(token=token)


def test_a_token_stops_working_once_the_account_is_claimed():
    member = MemberFactory(user=None)
    token = claim_token_make(member=member)
    member.user = UserFactory()
    member.save()
    with pytest.raises(ClaimLinkInvalid):
        claim_token_member(token=token)


def test_a_token_stops_working_when_the_card_is_replaced():
    member = MemberFactory(user=None)
    token = claim_token_make(member=member)
    member.card_number = card_number(424242)
    member.save()
    with pytest.raises(ClaimLinkInvalid):
        claim_token_member(token=token)


def test_the_invite_goes_by_email_in_the_members_language(settings):
    settings.EMAIL_CONFIGURED = False
    member = MemberFactory(user=None, email="ada@example.com", language="pl")
    delivery = member_claim_invite_send(member=member)
    assert (delivery.channel, delivery.kind, delivery.recipient, delivery.status) == (
        Delivery.Channel.EMAIL, "claim", "ada@example.com", Delivery.Status.LOGGED
    )
    token = delivery.body.split("/me/claim/")[1].split("/")[0]
    assert claim_token_member(token=token) == member
    assert member.card_number in delivery.subject
    assert "Welcome to the program" not in delivery.body  # written in Polish


def test_a_member_without_email_gets_the_invite_by_sms(settings):
    settings.SMS_BACKEND = ""
    member = MemberFactory(user=None, email="", phone="+48601234567")
    delivery = member_claim_invite_send(member=member)
    assert (delivery.channel, delivery.recipient) == (Delivery.Channel.SMS, "+48601234567")
    assert member.card_number in delivery.body and "/me/claim/" in delivery.body


def test_a_member_without_contact_cannot_be_invited():
    member = MemberFactory(user=None, email="", phone="")
    with pytest.raises(ContactRequired):
        member_claim_invite_send(member=member)
