"""Member accounts in Chromium: sign-up with the keyboard alone, and axe-core
plus screenshots on every account page (sign-up, log in, password reset,
claim, profile, consent, account, email)."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from playwright.sync_api import expect

from members.models import ConsentChange, Member
from members.services.claims import claim_token_make
from tests.browser.conftest import axe_serious, login, screenshot, tab_to
from tests.factories import MemberFactory, ProgramFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "long-secret-77"


@pytest.fixture
def program():
    return ProgramFactory(return_window_days=14, expiry_months=24)


def check(page, name: str) -> None:
    """No serious or critical axe findings; screenshots at phone and desktop sizes."""
    assert axe_serious(page) == [], name
    screenshot(page, name)


def test_a_member_signs_up_with_the_keyboard_only_and_lands_in_the_portal(page, live_server, program):
    referrer = MemberFactory(referral_code="FRND2345")
    page.goto(f"{live_server.url}/accounts/signup/?ref=FRND2345")
    expect(page.locator("#id_referral_code")).to_have_value("FRND2345")
    check(page, "account-signup")

    tab_to(page, "#id_first_name")
    page.keyboard.type("Ola")
    page.keyboard.press("Tab")  # last name (optional)
    page.keyboard.type("Kowalska")
    page.keyboard.press("Tab")
    page.keyboard.type("ola@example.com")
    page.keyboard.press("Tab")
    page.keyboard.type("601 234 567")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    expect(page.locator("#id_marketing_consent")).to_be_focused()
    page.keyboard.press("Space")
    tab_to(page, "button[type=submit]")
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(r"/me/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Ola")
    member = Member.objects.get(email="ola@example.com")
    assert (member.last_name, str(member.phone), member.referred_by) == ("Kowalska", "+48601234567", referrer)
    assert (member.marketing_consent, member.sms_consent) == (True, False)
    assert ConsentChange.objects.filter(member=member, source="signup", given=True).count() == 1
    check(page, "me-home-after-signup")


def test_a_refused_sign_up_explains_and_offers_to_claim(page, live_server, program):
    MemberFactory(email="ada@example.com", user=None)
    page.goto(f"{live_server.url}/accounts/signup/")
    page.fill("#id_first_name", "Ada")
    page.fill("#id_email", "ada@example.com")
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#id_email")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("link", name="Set up my account")).to_be_visible()
    check(page, "account-signup-refused")


def test_log_in_and_password_reset_pages(page, live_server, program):
    MemberFactory(user=UserFactory(email="ada@example.com"), email="ada@example.com", first_name="Ada")
    page.goto(f"{live_server.url}/accounts/login/")
    check(page, "account-login")
    page.click("button[type=submit]")  # empty: errors on the fields
    check(page, "account-login-errors")

    page.goto(f"{live_server.url}/accounts/password/reset/")
    check(page, "account-password-reset")
    page.fill("#id_email", "ada@example.com")
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/accounts/password/reset/done/$"))
    check(page, "account-password-reset-done")

    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/key/[^\s]+/)", mail.outbox[-1].body).group(1)
    page.goto(f"{live_server.url}{link}")
    check(page, "account-password-reset-key")
    page.fill("#id_password1", "brand-new-pass-42")
    page.fill("#id_password2", "brand-new-pass-42")
    page.click("button[type=submit]")
    check(page, "account-password-reset-key-done")


def test_claim_pages(page, live_server, program):
    member = MemberFactory(email="ada@example.com", user=None, first_name="Ada")
    page.goto(f"{live_server.url}/me/claim/")
    check(page, "me-claim-start")
    page.fill("#id_email", "ada@example.com")
    page.fill("#id_card_number", member.card_number)
    page.click("button[type=submit]")
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    check(page, "me-claim-start-done")

    page.goto(f"{live_server.url}/me/claim/not-a-token/")
    check(page, "me-claim-invalid")

    page.goto(f"{live_server.url}/me/claim/{claim_token_make(member=member)}/")
    expect(page.locator("#id_email")).to_have_value("ada@example.com")
    check(page, "me-claim")
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/me/$"))
    member.refresh_from_db()
    assert member.user is not None


def test_account_pages_of_a_member(page, live_server, program):
    member = MemberFactory(
        user=UserFactory(email="ada@example.com"), email="ada@example.com", first_name="Ada", last_name="Nowak",
        phone="+48601234567", marketing_consent=True,
    )
    ConsentChange.objects.create(member=member, channel="email", given=True, source="signup")
    EmailAddress.objects.create(user=member.user, email="ada@example.com", verified=True, primary=True)
    login(page, live_server, member.user)

    page.goto(f"{live_server.url}/me/account/")
    check(page, "me-account")

    page.goto(f"{live_server.url}/me/account/profile/")
    check(page, "me-profile")
    page.fill("#id_phone", "12")
    page.click("button[type=submit]")
    expect(page.locator("#id_phone")).to_have_attribute("aria-invalid", "true")
    check(page, "me-profile-errors")

    page.goto(f"{live_server.url}/me/account/consent/")
    page.check("#id_sms_consent")
    page.click("button[type=submit]")
    expect(page.locator(".consent-history li")).to_have_count(2)
    check(page, "me-consent")

    page.goto(f"{live_server.url}/accounts/email/")
    check(page, "account-email")
    page.fill("#id_email", "ada.new@example.com")
    page.click("button[name=action_add]")
    check(page, "account-email-pending")
    link = re.search(r"https?://[^/\s]+(/accounts/confirm-email/[^\s]+/)", mail.outbox[-1].body).group(1)
    page.goto(f"{live_server.url}{link}")
    check(page, "account-email-confirm")
    page.click("button[type=submit]")
    member.refresh_from_db()
    assert member.email == "ada.new@example.com"

    page.goto(f"{live_server.url}/accounts/password/change/")
    check(page, "account-password-change")

    page.goto(f"{live_server.url}/accounts/logout/")
    check(page, "account-logout")

    # The footer switcher: the choice is remembered on the member.
    page.select_option("#language-select", "pl")
    page.click(".language-switcher button[type=submit]")
    expect(page.locator("html")).to_have_attribute("lang", "pl")
    member.refresh_from_db()
    assert member.language == "pl"
