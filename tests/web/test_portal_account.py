"""The member's account pages: the hub, profile, consent, language, email
change; each only for the logged-in member."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from members.models import ConsentChange, Member
from tests.factories import MemberFactory, UserFactory
from tests.web.conftest import client_for

pytestmark = pytest.mark.django_db

PASSWORD = "pass-word-123"  # tests.factories.UserFactory
MY_PAGES = ["me:account", "me:profile", "me:consent"]


@pytest.fixture
def portal(users):
    return client_for(users["member"])


def profile_data(**overrides) -> dict:
    data = {"first_name": "Ada", "last_name": "Nowak", "phone": "", "birth_date": "", "language": "en"}
    data.update(overrides)
    return data


# --- Who may open the pages ---


@pytest.mark.parametrize("name", MY_PAGES)
def test_anonymous_visitors_are_sent_to_log_in(program, name):
    response = Client().get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


@pytest.mark.parametrize("name", MY_PAGES)
@pytest.mark.parametrize("role", ["owner", "cashier"])
def test_users_without_a_member_get_403(users, name, role):
    assert client_for(users[role]).get(reverse(name)).status_code == 403


@pytest.mark.parametrize("name", MY_PAGES)
def test_a_deleted_member_gets_403(users, member, name):
    Member.objects.filter(pk=member.pk).update(status=Member.Status.DELETED)
    assert client_for(users["member"]).get(reverse(name)).status_code == 403


def test_pages_show_and_change_only_the_logged_in_member(portal, member, program):
    other = MemberFactory(user=UserFactory(), first_name="Zed", phone="+48601000111", marketing_consent=True)
    for name in MY_PAGES:
        content = portal.get(reverse(name)).content.decode()
        assert "Zed" not in content and other.card_number not in content
    # Forms take no member id: posting one changes nothing of the other member.
    portal.post(reverse("me:profile"), profile_data(first_name="Eve", member=other.pk, pk=other.pk))
    portal.post(reverse("me:consent"), {"member": other.pk})
    other.refresh_from_db()
    assert (other.first_name, other.marketing_consent) == ("Zed", True)
    assert Member.objects.get(pk=member.pk).first_name == "Eve"


def test_a_claimed_members_claim_link_is_404_for_everyone(portal, member):
    from members.services.claims import claim_token_make

    url = reverse("me:claim", kwargs={"token": claim_token_make(member=member)})
    assert portal.get(url).status_code == 404
    assert Client().get(url).status_code == 404


# --- The account page ---


def test_account_page_is_the_hub(portal, member, settings):
    response = portal.get(reverse("me:account"))
    content = response.content.decode()
    member.refresh_from_db()
    code = member.referral_code
    assert code and code in content
    assert f"{settings.SITE_URL}{reverse('account_signup')}?ref={code}" in content
    for name in ("me:profile", "me:consent", "account_email", "account_change_password", "account_logout",
                 "me:privacy", "me:feedback"):
        assert f'href="{reverse(name)}"' in content or f'action="{reverse(name)}"' in content
    assert member.card_number in content
    assert "not confirmed yet" in content  # the factory's user has no confirmed address


def test_account_page_draws_the_referral_code_once(portal, member, django_assert_max_num_queries):
    portal.get(reverse("me:account"))
    code = Member.objects.get(pk=member.pk).referral_code
    with django_assert_max_num_queries(6):
        portal.get(reverse("me:account"))
    assert Member.objects.get(pk=member.pk).referral_code == code


def test_the_referral_link_opens_sign_up_with_the_code(portal, member):
    portal.get(reverse("me:account"))
    code = Member.objects.get(pk=member.pk).referral_code
    page = Client().get(reverse("account_signup"), {"ref": code})
    assert page.context["form"]["referral_code"].value() == code


# --- Profile ---


def test_profile_shows_the_members_details(portal, member):
    member.phone = "+48601234567"
    member.save()
    form = portal.get(reverse("me:profile")).context["form"]
    assert form.initial["first_name"] == "Ada"
    assert form.initial["phone"] == "+48601234567"


def test_profile_saves_and_accepts_a_national_phone(portal, member):
    response = portal.post(
        reverse("me:profile"),
        profile_data(phone="601 234 567", birth_date="1990-05-17", language="pl"),
    )
    assert response.status_code == 302 and response["Location"] == reverse("me:account")
    member.refresh_from_db()
    assert (str(member.phone), member.birth_date, member.language) == ("+48601234567", dt.date(1990, 5, 17), "pl")
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "pl"


@pytest.mark.parametrize(
    ("data", "field", "text"),
    [
        ({"phone": "12345"}, "phone", "valid phone number"),
        ({"first_name": ""}, "first_name", "required"),
        ({"birth_date": "2999-01-01"}, "birth_date", "future"),
        ({"birth_date": "17/05/1990x"}, "birth_date", "valid date"),
        ({"language": "de"}, "language", "valid choice"),
    ],
)
def test_profile_errors_name_the_field(portal, member, data, field, text):
    response = portal.post(reverse("me:profile"), profile_data(**data))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == [field]
    assert text in errors[field][0]
    assert Member.objects.get(pk=member.pk).first_name == "Ada"


def test_profile_refuses_another_members_phone_on_the_phone_field(portal, member):
    MemberFactory(phone="+48601234567")
    response = portal.post(reverse("me:profile"), profile_data(phone="+48 601 234 567"))
    assert "already used by another member" in response.context["form"].errors["phone"][0]


# --- Consent ---


def test_consent_changes_are_recorded_and_shown_in_program_time(portal, member, program):
    response = portal.post(reverse("me:consent"), {"marketing_consent": "on"})
    assert response.status_code == 302
    member.refresh_from_db()
    assert (member.marketing_consent, member.sms_consent) == (True, False)
    change = ConsentChange.objects.get()
    assert (change.channel, change.given, change.source) == ("email", True, "portal")
    portal.post(reverse("me:consent"), {"sms_consent": "on"})  # email withdrawn, SMS given
    assert list(ConsentChange.objects.order_by("pk").values_list("channel", "given")) == [
        ("email", True), ("email", False), ("sms", True)
    ]
    ConsentChange.objects.filter(pk=change.pk).update(at=dt.datetime(2026, 1, 5, 23, 30, tzinfo=dt.UTC))
    content = portal.get(reverse("me:consent")).content.decode()
    assert "Jan. 6, 2026, 12:30 a.m." in content  # Warsaw is UTC+1 in winter
    assert content.count("Offers by email: withdrawn") == 1
    assert content.count("Offers by email: given") == 1 and content.count("Offers by SMS: given") == 1
    assert "Member portal" in content


def test_consent_form_without_changes_writes_nothing(portal, member):
    portal.post(reverse("me:consent"), {})
    assert not ConsentChange.objects.exists()


@pytest.mark.parametrize("count", [2, 30])
def test_consent_history_uses_a_fixed_number_of_queries(portal, member, count, django_assert_num_queries):
    for n in range(count):
        ConsentChange.objects.create(member=member, channel="email", given=n % 2 == 0, source="portal")
    portal.get(reverse("me:consent"))
    # session, user, member, history
    with django_assert_num_queries(4):
        portal.get(reverse("me:consent"))


# --- Language ---


def test_the_footer_switcher_stores_the_language_on_the_member(portal, member):
    response = portal.post(reverse("set_language"), {"language": "ro", "next": reverse("me:home")})
    assert response.status_code == 302
    assert Member.objects.get(pk=member.pk).language == "ro"


def test_the_switcher_ignores_unknown_languages_and_non_members(portal, member, users):
    portal.post(reverse("set_language"), {"language": "xx", "next": "/"})
    assert Member.objects.get(pk=member.pk).language == "en"
    client_for(users["owner"]).post(reverse("set_language"), {"language": "pl", "next": "/"})
    anonymous = Client().post(reverse("set_language"), {"language": "pl", "next": "/"})
    assert anonymous.status_code == 302
    assert Member.objects.get(pk=member.pk).language == "en"


def test_logging_in_applies_the_members_language(member, program):
    Member.objects.filter(pk=member.pk).update(language="pl")
    client = Client()
    response = client.post(reverse("account_login"), {"login": "member@example.com", "password": PASSWORD})
    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "pl"
    page = client.get(reverse("me:home"))
    assert '<html lang="pl">' in page.content.decode()


def test_staff_logins_keep_their_language(users, program):
    response = Client().post(reverse("account_login"), {"login": "owner@example.com", "password": PASSWORD})
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies


# --- Email change ---


def confirm_link() -> str:
    body = mail.outbox[-1].body
    return re.search(r"https?://[^/\s]+(/accounts/confirm-email/[^\s]+/)", body).group(1)


def test_email_change_syncs_the_email_on_file_once_confirmed(portal, member):
    EmailAddress.objects.create(user=member.user, email="member@example.com", verified=True, primary=True)
    response = portal.post(reverse("account_email"), {"action_add": "", "email": "ada.new@example.com"})
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.email != "ada.new@example.com"  # not before confirmation
    link = confirm_link()
    assert portal.post(link).status_code == 302
    member.refresh_from_db()
    member.user.refresh_from_db()
    assert member.email == member.user.email == "ada.new@example.com"
    assert list(EmailAddress.objects.filter(user=member.user).values_list("email", "verified")) == [
        ("ada.new@example.com", True)
    ]


def test_email_change_refuses_another_members_address(portal, member):
    MemberFactory(email="bob@example.com")
    response = portal.post(reverse("account_email"), {"action_add": "", "email": "bob@example.com"})
    assert response.status_code == 200
    assert "already used by another member" in response.context["form"].errors["email"][0]
    assert not EmailAddress.objects.filter(email="bob@example.com").exists()


def test_confirming_an_address_another_member_took_meanwhile_is_refused(portal, member):
    portal.post(reverse("account_email"), {"action_add": "", "email": "bob@example.com"})
    link = confirm_link()
    MemberFactory(email="bob@example.com")
    portal.post(link)
    assert not EmailAddress.objects.get(email="bob@example.com").verified
    assert Member.objects.get(pk=member.pk).email != "bob@example.com"


# --- Log in, password reset, log out (our templates) ---


def test_login_page_links_to_sign_up_claim_and_reset(program):
    content = Client().get(reverse("account_login")).content.decode()
    for name in ("account_signup", "me:claim-start", "account_reset_password"):
        assert f'href="{reverse(name)}' in content


def test_password_reset_then_log_in_with_the_new_password(member, program):
    client = Client()
    assert client.post(reverse("account_reset_password"), {"email": "member@example.com"}).status_code == 302
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/key/[^\s]+/)", mail.outbox[-1].body).group(1)
    form_url = client.get(link)["Location"]
    done = client.post(form_url, {"password1": "brand-new-pass-42", "password2": "brand-new-pass-42"})
    assert done.status_code == 302
    login = client.post(reverse("account_login"), {"login": "member@example.com", "password": "brand-new-pass-42"})
    assert login.status_code == 302
    assert client.get(reverse("me:home")).status_code == 200


def test_log_out(portal):
    response = portal.post(reverse("account_logout"))
    assert response.status_code == 302
    assert portal.get(reverse("me:account")).status_code == 302


def test_signup_page_in_polish_has_our_form(program):
    response = Client().get(reverse("account_signup"), HTTP_ACCEPT_LANGUAGE="pl")
    content = response.content.decode()
    assert '<html lang="pl">' in content
    assert 'name="marketing_consent"' in content and 'name="referral_code"' in content


def test_a_signed_up_member_lands_in_the_portal(program):
    client = Client()
    response = client.post(reverse("account_signup"), {
        "first_name": "Ola", "email": "ola@example.com", "password1": "long-secret-77", "password2": "long-secret-77",
    }, follow=True)
    assert response.redirect_chain[-1][0] == reverse("me:home")
    assert response.context["member"].first_name == "Ola"
    assert timezone.now() - response.context["member"].enrolled_at < dt.timedelta(minutes=1)


def test_the_sign_up_address_is_verified_through_the_mailed_link(program):
    client = Client()
    client.post(reverse("account_signup"), {
        "first_name": "Ola", "email": "ola@example.com", "password1": "long-secret-77", "password2": "long-secret-77",
    })
    address = EmailAddress.objects.get(email="ola@example.com")
    assert not address.verified
    page = client.get(confirm_link())
    assert page.status_code == 200 and "ola@example.com" in page.content.decode()
    client.post(confirm_link())
    address.refresh_from_db()
    assert address.verified
    assert Member.objects.get(user=address.user).email == "ola@example.com"
    content = client.get(reverse("me:account")).content.decode()
    assert "not confirmed yet" not in content and "confirmed" in content
