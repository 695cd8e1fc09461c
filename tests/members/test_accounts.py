"""Member logins: claiming a till-enrolled card, signing up, referral codes."""

import pytest
from allauth.account.models import EmailAddress
from django.test import Client
from django.urls import reverse

from members.models import Delivery
from members.services.claims import claim_token_make
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_claim_link_sets_a_password_and_logs_in(client: Client):
    member = MemberFactory(email="ada@example.com")
    url = reverse("me:claim", kwargs={"token": claim_token_make(member=member)})
    page = client.get(url)
    assert page.status_code == 200
    assert page.context["form"].initial["email"] == "ada@example.com"
    response = client.post(url, {"email": "ada@example.com", "password1": "long-secret-77", "password2": "long-secret-77"})
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.user.email == "ada@example.com"
    assert EmailAddress.objects.get(user=member.user).verified
    assert client.get(reverse("me:home")).status_code == 200


def test_claim_start_answers_the_same_either_way(client: Client):
    member = MemberFactory(email="ada@example.com")
    hit = client.post(reverse("me:claim-start"), {"email": "ADA@example.com", "card_number": member.card_number})
    miss = client.post(reverse("me:claim-start"), {"email": "bob@example.com", "card_number": member.card_number})
    assert hit.status_code == miss.status_code == 200
    assert Delivery.objects.filter(member=member, kind="claim").count() == 1
