"""Staff two-factor authentication: the owner can require it."""

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.test import Client
from django.urls import reverse

from loyalty.models import Program
from tests.web.conftest import client_for
from tests.web.test_staff import program_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def required(program):
    Program.objects.filter(pk=1).update(require_staff_2fa=True)


@pytest.mark.parametrize("role", ["owner", "manager", "marketing"])
def test_staff_without_totp_are_sent_to_set_it_up_when_required(users, required, role):
    response = client_for(users[role]).get(reverse("staff:dashboard"))
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_activate_totp")


def test_the_set_up_page_itself_opens_in_the_staff_layout(users, required):
    client = Client()
    login = client.post(reverse("account_login"), {"login": "manager@example.com", "password": "pass-word-123"})
    assert login.status_code == 302
    chain = client.get(login["Location"], follow=True).redirect_chain
    assert chain[-2][0] == reverse("mfa_activate_totp")
    # allauth asks for the password again before a second factor is added.
    assert chain[-1][0].startswith(reverse("account_reauthenticate"))
    client.post(reverse("account_reauthenticate"), {"password": "pass-word-123"})
    response = client.get(reverse("mfa_activate_totp"))
    assert response.status_code == 200
    content = response.content.decode()
    assert "Staff navigation" in content
    assert "Activate Authenticator App" in content


def test_staff_with_totp_pass(users, required):
    TOTP.activate(users["manager"], generate_totp_secret())
    assert client_for(users["manager"]).get(reverse("staff:dashboard")).status_code == 200


def test_without_the_requirement_staff_pass(users, program):
    assert client_for(users["manager"]).get(reverse("staff:dashboard")).status_code == 200


def test_cashiers_and_members_are_not_asked(users, required, store):
    assert client_for(users["cashier"], store=store).get(reverse("till:search")).status_code == 200
    assert client_for(users["member"]).get(reverse("me:home")).status_code == 200


def test_owner_turns_the_requirement_on_from_the_program_form(users, program):
    client = client_for(users["owner"])
    client.post(reverse("staff:program"), program_data(require_staff_2fa="on"))
    assert Program.objects.get().require_staff_2fa is True
    # ...and is then asked to set up an authenticator app first.
    assert client.get(reverse("staff:dashboard"))["Location"] == reverse("mfa_activate_totp")


def test_staff_navigation_links_to_security(users, program):
    content = client_for(users["marketing"]).get(reverse("staff:dashboard")).content.decode()
    assert f'href="{reverse("mfa_index")}"' in content
