"""Referrals from sign-up to bonus: the code at sign-up, the refusals (one's own
code, a person who is already a member), and both sides' bonuses once the
new member's first purchase is final."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from loyalty.models import ActionBonus, LedgerEntry, Source
from loyalty.services.bonuses import action_bonuses_save, referral_bonuses_grant_due
from loyalty.services.purchases import purchase_record
from loyalty.services.till import till_member_enroll
from members.exceptions import DuplicateMember, MemberAlreadyEnrolled
from members.models import Member, User
from members.services.accounts import member_signup
from tests.factories import MemberFactory, ProgramFactory, StoreFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "long-secret-77"
Kind = ActionBonus.Kind


@pytest.fixture
def program(db):
    program = ProgramFactory(return_window_days=14)
    action_bonuses_save(values={Kind.SIGNUP: (50, True), Kind.REFERRER: (100, True), Kind.REFERRED: (40, True)})
    return program


@pytest.fixture
def store(program):
    return StoreFactory(code="WAW")


@pytest.fixture
def referrer(program):
    return MemberFactory(referral_code="REFR2345", email="ref@example.com", phone="+48601234567")


def signup(client, **overrides):
    data = {
        "first_name": "Ola", "email": "ola@example.com", "phone": "", "password1": PASSWORD,
        "password2": PASSWORD, "referral_code": "REFR2345",
    }
    data.update(overrides)
    return client.post(reverse("account_signup"), data)


def bonuses(member) -> dict[str, int]:
    entries = LedgerEntry.objects.filter(account__member=member, kind=LedgerEntry.Kind.BONUS)
    return {entry.breakdown[0]["bonus"]: entry.points for entry in entries}


def buy(member, store, at):
    return purchase_record(
        external_id=f"P-{member.pk}-{at.timestamp()}", store=store, member=member, purchased_at=at,
        amount=Decimal("20.00"), source=Source.TILL,
    ).purchase


def test_a_referred_sign_up_brings_both_bonuses_once_the_first_purchase_is_final(client, referrer, store):
    assert client.get(reverse("account_signup") + "?ref=REFR2345").status_code == 200
    response = signup(client)
    assert response.status_code == 302
    friend = Member.objects.get(email="ola@example.com")
    assert friend.referred_by == referrer
    assert bonuses(friend) == {"signup": 50}  # the referral waits for a purchase

    bought = timezone.now() - dt.timedelta(days=15)
    buy(friend, store, bought)
    referral_bonuses_grant_due(as_of=bought + dt.timedelta(days=13))  # still pending
    assert bonuses(referrer) == {}
    referral_bonuses_grant_due()
    referral_bonuses_grant_due()
    assert bonuses(referrer) == {"referrer": 100}
    assert bonuses(friend) == {"signup": 50, "referred": 40}


@pytest.mark.parametrize("same", [{"email": "REF@example.com"}, {"email": "x@example.com", "phone": "601 234 567"}])
def test_using_ones_own_code_is_refused_at_sign_up_with_a_clear_message(client, referrer, same):
    response = signup(client, **same)
    assert response.status_code == 200
    assert response.context["form"].errors["referral_code"] == ["You cannot use your own referral code."]
    assert not User.objects.filter(email__iexact=same["email"]).exists()
    assert Member.objects.count() == 1


def test_a_person_who_is_already_a_member_cannot_sign_up_again_through_a_referral(client, referrer, store):
    existing = MemberFactory(email="ola@example.com")
    buy(existing, store, timezone.now() - dt.timedelta(days=20))
    response = signup(client)
    assert response.status_code == 200
    assert "A card was already issued for this email address" in str(response.context["form"].errors)
    with pytest.raises(MemberAlreadyEnrolled):
        member_signup(user=UserFactory(email="ola@example.com"), first_name="Ola", referral_code="REFR2345")
    assert Member.objects.filter(referred_by=referrer).count() == 0
    referral_bonuses_grant_due()
    assert bonuses(referrer) == {} and bonuses(existing) == {}


def test_enrolling_the_same_person_again_at_the_till_is_refused_as_a_duplicate(referrer, store):
    cashier = UserFactory(role="cashier")
    for details in ({"email": "REF@example.com"}, {"phone": "+48601234567"}):
        with pytest.raises(DuplicateMember):
            till_member_enroll(user=cashier, store=store, first_name="Again", **details)
    with pytest.raises(DuplicateMember):
        till_member_enroll(
            user=cashier, store=store, first_name="Again", email="new@example.com", card_number=referrer.card_number
        )
    assert Member.objects.count() == 1
    assert not LedgerEntry.objects.exists()


def test_the_code_of_a_blocked_member_is_not_accepted(client, referrer):
    Member.objects.filter(pk=referrer.pk).update(status=Member.Status.BLOCKED)
    response = signup(client)
    assert "is not a valid referral code" in response.context["form"].errors["referral_code"][0]
    assert not Member.objects.filter(email="ola@example.com").exists()
