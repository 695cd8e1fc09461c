"""Member logins: sign-up (member, card, consents, referral), the unverified
email rule, claiming a till-enrolled card (by link, by email plus card
number), the email on file and referral codes."""

from __future__ import annotations

import datetime as dt
import random
import re
import threading

import pytest
import time_machine
from allauth.account.models import EmailAddress
from django.core import mail
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from members.cards import card_number_is_valid
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
from members.services.accounts import (
    REFERRAL_ALPHABET,
    member_claim,
    member_claim_request,
    member_email_confirmed,
    member_referral_code_get,
    member_signup,
    member_signup_check,
)
from members.services.claims import claim_token_make
from tests.factories import MemberFactory, ProgramFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "long-secret-77"


@pytest.fixture(autouse=True)
def program(db):
    return ProgramFactory()  # PL: national phone numbers are Polish


def signup_data(**overrides) -> dict:
    data = {
        "first_name": "Ada", "last_name": "", "email": "ada@example.com", "phone": "",
        "password1": PASSWORD, "password2": PASSWORD,
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def signup(client: Client, **overrides):
    return client.post(reverse("account_signup"), signup_data(**overrides))


# --- Sign-up ---


def test_signup_creates_the_user_the_member_its_card_and_the_consents_given(client):
    response = signup(
        client, last_name="Nowak", phone="601 234 567", marketing_consent="on", sms_consent="on",
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("me:home")
    member = Member.objects.select_related("user").get()
    assert member.user.email == "ada@example.com"
    assert (member.first_name, member.last_name, member.email) == ("Ada", "Nowak", "ada@example.com")
    assert str(member.phone) == "+48601234567"  # national form of the program's country
    assert card_number_is_valid(member.card_number)
    assert (member.marketing_consent, member.sms_consent) == (True, True)
    history = set(ConsentChange.objects.filter(member=member).values_list("channel", "given", "source"))
    assert history == {("email", True, "signup"), ("sms", True, "signup")}
    # Logged in, on the member's home page; a confirmation mail went out.
    assert client.get(reverse("me:home")).status_code == 200
    assert mail.outbox and mail.outbox[0].to == ["ada@example.com"]
    assert not EmailAddress.objects.get(user=member.user).verified


def test_signup_without_consent_records_no_consent(client):
    signup(client)
    member = Member.objects.get()
    assert (member.marketing_consent, member.sms_consent) == (False, False)
    assert not ConsentChange.objects.exists()


def test_signup_keeps_the_language_of_the_page(client):
    client.post(reverse("account_signup"), signup_data(), HTTP_ACCEPT_LANGUAGE="pl")
    assert Member.objects.get().language == "pl"


def test_signup_with_an_invalid_phone_names_the_phone(client):
    response = signup(client, phone="12")
    assert response.status_code == 200
    assert "phone" in response.context["form"].errors
    assert not User.objects.exists() and not Member.objects.exists()


def test_referral_code_from_the_link_is_kept_through_the_form(client):
    referrer = MemberFactory(referral_code="ABCD2345")
    page = client.get(reverse("account_signup") + "?ref=ABCD2345")
    assert page.context["form"]["referral_code"].value() == "ABCD2345"
    # A form sent back with an error still carries the code.
    again = signup(client, referral_code="ABCD2345", password2="different-99")
    assert again.context["form"]["referral_code"].value() == "ABCD2345"
    signup(client, referral_code="abcd-2345")
    assert Member.objects.get(email="ada@example.com").referred_by == referrer


def test_an_unknown_referral_code_is_refused_on_its_field(client):
    response = signup(client, referral_code="NOPE2345")
    assert "NOPE2345 is not a valid referral code" in response.context["form"].errors["referral_code"][0]
    assert not Member.objects.exists()


def test_self_referral_is_refused_by_email_or_phone():
    MemberFactory(referral_code="SELF2345", email="ada@example.com", phone="+48601234567")
    with pytest.raises(SelfReferral):
        member_signup_check(email="ADA@example.com", referral_code="SELF2345")
    with pytest.raises(SelfReferral):
        member_signup_check(email="other@example.com", phone="+48601234567", referral_code="SELF2345")


def test_a_second_enrollment_by_phone_is_refused_with_a_clear_message(client):
    MemberFactory(email="first@example.com", phone="+48601234567")
    response = signup(client, phone="+48 601 234 567")
    errors = response.context["form"].errors
    assert "already issued for this phone number" in errors["phone"][0]
    assert User.objects.count() == 0 and Member.objects.count() == 1


def test_unverified_email_rule_an_unclaimed_members_email_routes_to_claiming(client):
    """The rule: sign-up never attaches a member who has no login to the new
    (unverified) account, and never makes a second member for the email."""
    till = MemberFactory(email="ada@example.com", user=None)
    response = signup(client, email="Ada@Example.com")
    assert response.status_code == 200
    form = response.context["form"]
    assert "already issued for this email address" in form.errors["email"][0]
    assert form.claim_suggested
    assert reverse("me:claim-start") in response.content.decode()
    assert Member.objects.count() == 1 and User.objects.count() == 0
    till.refresh_from_db()
    assert till.user is None


def test_an_email_that_already_has_a_login_is_left_to_allauth(client):
    """No member, no second user (allauth refuses the address: with optional
    verification it says so; with mandatory it would mail the owner)."""
    MemberFactory(email="ada@example.com", user=UserFactory(email="ada@example.com"))
    response = signup(client)
    assert response.status_code == 200
    assert "already registered" in response.context["form"].errors["email"][0]
    assert not response.context["form"].claim_suggested
    assert Member.objects.count() == 1 and User.objects.count() == 1


def test_with_mandatory_verification_an_email_with_a_login_is_not_revealed(client, settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    MemberFactory(email="ada@example.com", user=UserFactory(email="ada@example.com"))
    response = signup(client)
    assert response.status_code == 302
    assert Member.objects.count() == 1 and User.objects.count() == 1
    assert mail.outbox[0].to == ["ada@example.com"]


def test_the_signup_service_refuses_and_writes_nothing_when_a_member_exists():
    MemberFactory(email="ada@example.com", user=None)
    user = UserFactory(email="ada@example.com")
    with pytest.raises(MemberAlreadyEnrolled):
        member_signup(user=user, first_name="Ada")
    assert Member.objects.count() == 1


def test_a_refusal_inside_signup_rolls_the_user_back(client, monkeypatch):
    """The check in the form passed, then another enrollment took the email
    (a race): the adapter's transaction keeps no user without a member."""
    from members import forms

    monkeypatch.setattr(forms, "member_signup_check", lambda **kwargs: None)
    MemberFactory(email="ada@example.com", user=None)
    with pytest.raises(MemberAlreadyEnrolled):
        signup(client)
    assert not User.objects.filter(email="ada@example.com").exists()
    assert not EmailAddress.objects.exists()


def test_signup_with_a_referral_code_sets_referred_by():
    referrer = MemberFactory(referral_code="REFR2345")
    member = member_signup(user=UserFactory(email="new@example.com"), first_name="N", referral_code="refr2345")
    assert member.referred_by == referrer


def test_an_unknown_code_is_refused_by_the_service():
    with pytest.raises(InvalidReferralCode):
        member_signup(user=UserFactory(email="new@example.com"), first_name="N", referral_code="ZZZZ2345")


# --- Claim by link ---


def claim_url(member) -> str:
    return reverse("me:claim", kwargs={"token": claim_token_make(member=member)})


def claim_post(client, url, email, password=PASSWORD):
    return client.post(url, {"email": email, "password1": password, "password2": password})


def test_claim_link_prefills_the_email_sets_a_password_verifies_the_email_on_file_and_logs_in(client):
    member = MemberFactory(email="ada@example.com", user=None)
    url = claim_url(member)
    page = client.get(url)
    assert page.status_code == 200
    assert page.context["form"].initial["email"] == "ada@example.com"
    response = claim_post(client, url, "ADA@example.com")
    assert response.status_code == 302 and response["Location"] == reverse("me:home")
    member.refresh_from_db()
    assert member.user.email == "ada@example.com"
    assert member.user.check_password(PASSWORD)
    assert EmailAddress.objects.get(user=member.user).verified
    assert not mail.outbox  # nothing to confirm
    assert client.get(reverse("me:home")).context["member"] == member


def test_claim_with_another_email_is_not_verified_and_the_email_on_file_waits_for_confirmation(client):
    member = MemberFactory(email="ada@example.com", user=None)
    claim_post(client, claim_url(member), "ada.new@example.com")
    member.refresh_from_db()
    address = EmailAddress.objects.get(user=member.user)
    assert (address.email, address.verified) == ("ada.new@example.com", False)
    assert member.email == "ada@example.com"
    assert mail.outbox[0].to == ["ada.new@example.com"]


def test_a_member_with_only_a_phone_gives_an_email(client):
    member = MemberFactory(email="", phone="+48601234567", user=None)
    url = claim_url(member)
    assert client.get(url).context["form"].initial["email"] == ""
    claim_post(client, url, "ada@example.com")
    member.refresh_from_db()
    assert member.user.email == "ada@example.com"
    assert not EmailAddress.objects.get(user=member.user).verified


def test_a_claim_link_works_once(client):
    member = MemberFactory(email="ada@example.com", user=None)
    url = claim_url(member)
    claim_post(client, url, "ada@example.com")
    other = Client()
    assert other.get(url).status_code == 404
    reused = claim_post(other, url, "mallory@example.com")
    assert reused.status_code == 404
    assert "expired or was already used" in reused.content.decode()
    assert User.objects.count() == 1


def test_a_claim_link_expires(client, settings):
    settings.CLAIM_LINK_MAX_AGE_DAYS = 14
    member = MemberFactory(email="ada@example.com", user=None)
    url = claim_url(member)
    with time_machine.travel(timezone.now() + dt.timedelta(days=15)):
        assert client.get(url).status_code == 404
        assert claim_post(client, url, "ada@example.com").status_code == 404
    assert not User.objects.exists()


def test_a_tampered_claim_link_is_refused(client):
    member = MemberFactory(email="ada@example.com", user=None)
    other = MemberFactory(email="bob@example.com", user=None)
    token = claim_token_make(member=member)
    _payload, _, signature = token.partition(":")
    forged = claim_token_make(member=other).partition(":")[0] + ":" + signature
    for bad in (token[:-3] + "xyz", forged, "nonsense"):
        assert client.get(reverse("me:claim", kwargs={"token": bad})).status_code == 404
    assert not User.objects.exists()


def test_claim_refuses_an_email_with_a_login_or_another_members(client):
    member = MemberFactory(email="ada@example.com", user=None)
    UserFactory(email="taken@example.com")
    MemberFactory(email="bob@example.com", user=None)
    url = claim_url(member)
    assert "already exists" in claim_post(client, url, "taken@example.com").context["form"].errors["email"][0]
    assert "another member" in claim_post(client, url, "bob@example.com").context["form"].errors["email"][0]
    assert not Member.objects.filter(user__isnull=False).exists()


def test_claim_refuses_a_weak_password_on_its_field(client):
    member = MemberFactory(email="ada@example.com", user=None)
    response = claim_post(client, claim_url(member), "ada@example.com", password="12345678")
    assert "password1" in response.context["form"].errors


def test_claim_service_locks_out_a_second_claim():
    member = MemberFactory(email="ada@example.com", user=None)
    member_claim(member_id=member.pk, card_number=member.card_number, email="ada@example.com", password=PASSWORD)
    with pytest.raises(ClaimLinkInvalid):
        member_claim(member_id=member.pk, card_number=member.card_number, email="x@example.com", password=PASSWORD)
    with pytest.raises(ClaimLinkInvalid):  # the card changed since the link was made
        member_claim(member_id=member.pk, card_number="2900000000000", email="y@example.com", password=PASSWORD)


def test_claim_service_errors():
    member = MemberFactory(email="ada@example.com", user=None)
    UserFactory(email="taken@example.com")
    with pytest.raises(AccountExists):
        member_claim(member_id=member.pk, card_number=member.card_number, email="Taken@example.com", password=PASSWORD)
    with pytest.raises(PasswordRejected):
        member_claim(member_id=member.pk, card_number=member.card_number, email="ada@example.com", password="abc")


def test_a_logged_in_visitor_is_asked_to_log_out_before_claiming(client):
    member = MemberFactory(email="ada@example.com", user=None)
    client.force_login(UserFactory())
    url = claim_url(member)
    assert "Log out first" in client.get(url).content.decode()
    claim_post(client, url, "ada@example.com")
    member.refresh_from_db()
    assert member.user is None


# --- Claim by email plus card number ---


def test_claim_by_email_and_card_answers_the_same_whether_or_not_it_matched(client, settings):
    settings.EMAIL_CONFIGURED = False
    member = MemberFactory(email="ada@example.com", user=None)
    claimed = MemberFactory(email="claimed@example.com", user=UserFactory(email="claimed@example.com"))
    url = reverse("me:claim-start")

    def answer(email, card):
        response = client.post(url, {"email": email, "card_number": card})
        assert response.status_code == 200
        return re.sub(r'value="[^"]{40,}"', "", response.content.decode().replace(email, "EMAIL"))  # CSRF

    hit = answer("ADA@example.com", member.card_number)
    wrong_email = answer("bob@example.com", member.card_number)
    wrong_card = answer("ada@example.com", "2900000000017")
    already = answer("claimed@example.com", claimed.card_number)
    assert hit == wrong_email == wrong_card == already
    delivery = Delivery.objects.get()
    assert (delivery.member, delivery.kind, delivery.recipient, delivery.status) == (
        member, "claim", "ada@example.com", Delivery.Status.LOGGED
    )
    # The logged message holds a working link.
    link = delivery.body.split(settings.SITE_URL)[1].split()[0]
    assert client.get(link).status_code == 200


def test_claim_by_email_and_card_accepts_spaces_in_the_card_number():
    member = MemberFactory(email="ada@example.com", user=None)
    spaced = " ".join([member.card_number[:4], member.card_number[4:8], member.card_number[8:]])
    from members.forms import ClaimStartForm

    form = ClaimStartForm({"email": "ada@example.com", "card_number": spaced})
    assert form.is_valid()
    assert member_claim_request(**form.cleaned_data) is not None


def test_claim_by_email_and_card_sends_nothing_for_a_deleted_member():
    member = MemberFactory(email="ada@example.com", user=None, status=Member.Status.DELETED)
    assert member_claim_request(email="ada@example.com", card_number=member.card_number) is None
    assert not Delivery.objects.exists()


# --- The email on file ---


def test_email_on_file_follows_a_confirmed_address():
    member = MemberFactory(email="old@example.com", user=UserFactory(email="new@example.com"))
    assert member_email_confirmed(user=member.user, email="new@example.com").email == "new@example.com"
    assert member_email_confirmed(user=UserFactory(), email="x@example.com") is None


def test_email_on_file_never_takes_another_members_address():
    member = MemberFactory(email="old@example.com", user=UserFactory(email="old@example.com"))
    MemberFactory(email="bob@example.com")
    with pytest.raises(ContactTaken) as error:
        member_email_confirmed(user=member.user, email="bob@example.com")
    assert error.value.field == "email"


# --- Referral codes ---


def test_referral_code_is_drawn_once_from_an_alphabet_without_look_alikes():
    member = MemberFactory()
    code = member_referral_code_get(member=member)
    assert len(code) == 8 and set(code) <= set(REFERRAL_ALPHABET)
    assert not set("01OIL") & set(REFERRAL_ALPHABET)
    assert member_referral_code_get(member=Member.objects.get(pk=member.pk)) == code
    assert Member.objects.get(pk=member.pk).referral_code == code


def test_referral_code_is_drawn_again_on_a_collision():
    taken = MemberFactory()
    first = member_referral_code_get(member=taken, rng=random.Random(7))
    member = MemberFactory()
    # The same seed draws the taken code first, then another.
    code = member_referral_code_get(member=member, rng=random.Random(7))
    assert code != first and len(code) == 8


def test_claim_requests_are_rate_limited_per_address_with_the_same_answer(client, settings):
    settings.ACCOUNT_RATE_LIMITS = {"claim_request": "2/h/key"}
    member = MemberFactory(email="ada@example.com", user=None)
    answers = [
        client.post(reverse("me:claim-start"), {"email": "ada@example.com", "card_number": member.card_number})
        for _ in range(3)
    ]
    assert {response.status_code for response in answers} == {200}
    assert {response.templates[0].name for response in answers} == {"me/claim_start_done.html"}
    assert Delivery.objects.filter(member=member).count() == 2


def _at_once(*calls):
    """Run ``calls`` in threads started together; their results or errors."""
    barrier = threading.Barrier(len(calls))
    results: list = []

    def run(call):
        try:
            barrier.wait()
            results.append(call())
        except Exception as error:  # collected for the assertions
            results.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_claim_link_used_twice_at_once_makes_one_login():
    member = MemberFactory(email="ada@example.com", user=None)
    results = _at_once(*[
        (lambda email=email: member_claim(
            member_id=member.pk, card_number=member.card_number, email=email, password=PASSWORD))
        for email in ("ada@example.com", "other@example.com")
    ])
    assert sorted(type(result).__name__ for result in results) == ["ClaimLinkInvalid", "tuple"]
    assert User.objects.count() == 1
    assert Member.objects.get(pk=member.pk).user == User.objects.get()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_first_views_at_once_draw_one_referral_code():
    member = MemberFactory()
    results = _at_once(*[
        (lambda: member_referral_code_get(member=Member.objects.get(pk=member.pk))) for _ in range(2)
    ])
    assert results[0] == results[1] == Member.objects.get(pk=member.pk).referral_code
