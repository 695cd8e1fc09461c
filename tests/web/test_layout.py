"""What every page shares: language, landmarks, skip link, the login page."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from tests.web.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("who", "url"),
    [(None, "/accounts/login/"), ("owner", "/staff/"), ("member", "/me/"), ("cashier", "/till/")],
)
def test_pages_have_lang_skip_link_landmarks_and_one_h1(users, store, who, url):
    client = client_for(users.get(who) if who else None, store=store)
    content = client.get(url).content.decode()
    assert '<html lang="en">' in content
    assert 'href="#main"' in content and 'id="main"' in content
    assert "<main" in content and "<header" in content
    assert len(re.findall(r"<h1\b", content)) == 1
    assert "/static/vendor/bootstrap/bootstrap.min.css" in content
    # Every script, style sheet, image and link is served from here: no address names another host.
    addresses = re.findall(r'\b(?:src|href|action)="([^"]*)"', content)
    assert addresses and not [address for address in addresses if re.match(r"(?:[a-z]+:)?//", address)]


def test_language_switch_renders_the_page_in_polish(users):
    client = client_for(users["member"])
    response = client.post(reverse("set_language"), {"language": "pl", "next": "/me/"})
    assert response.status_code == 302
    assert '<html lang="pl">' in client.get("/me/").content.decode()


def test_login_page_uses_the_layout_and_labels_its_fields(program):
    content = Client().get(reverse("account_login")).content.decode()
    assert 'class="card shadow-sm"' in content
    assert re.search(r'<label\s+for="id_login"', content) and re.search(r'<label\s+for="id_password"', content)
    assert "btn btn-primary" in content


def test_logging_in_lands_on_the_face_of_the_role(users, store):
    client = Client()
    response = client.post(reverse("account_login"), {"login": "cashier@example.com", "password": "pass-word-123"})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/")["Location"] == reverse("till:search")
