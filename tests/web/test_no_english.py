"""Pages of the till and the portal rendered in Polish and Romanian show no
English sentence of our catalog: every message on them went through gettext
and was translated."""

from __future__ import annotations

import html
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from loyalty.services.purchases import refund_record
from loyalty.services.till import till_purchase_record
from tests.test_translations import catalog
from tests.web.conftest import client_for

pytestmark = pytest.mark.django_db

_TAGS = re.compile(r"<(script|style)\b.*?</\1>|<[^>]+>", re.S)
_SPACE = re.compile(r"\s+")


def visible_text(content: str) -> str:
    return _SPACE.sub(" ", html.unescape(_TAGS.sub(" ", content)))


def english_sentences(language: str) -> set[str]:
    """Catalog messages of two words or more, without placeholders, whose
    translation differs from the English."""
    _header, entries = catalog(language)
    sentences = set()
    for entry in entries:
        text = _SPACE.sub(" ", entry.msgid).strip()
        if entry.msgid_plural or " " not in text or re.search(r"%\(|\{|<", text):
            continue
        if entry.msgstr.get(0, "").strip() != entry.msgid.strip():
            sentences.add(text)
    return sentences


@pytest.fixture
def pages(users, member, store):
    """The till's and the portal's pages, as (client, url)."""
    cashier, member_user = users["cashier"], users["member"]
    sale = till_purchase_record(
        user=cashier, store=store, member=member, external_id="NE-1", amount=Decimal("20.00"),
        purchased_at=timezone.now(),
    ).purchase
    refund = refund_record(external_id="NE-R1", purchase=sale, amount=Decimal("5.00"), source="till").refund
    card = member.card_number
    till = client_for(cashier, store=store)
    portal = client_for(member_user)
    anonymous = client_for(None)
    return [
        (till, reverse("till:search")),
        (till, reverse("till:search") + "?q=Nowak"),
        (till, reverse("till:search") + "?q=Zyx"),
        (till, reverse("till:enroll")),
        (till, reverse("till:member", kwargs={"card": card})),
        (till, reverse("till:purchase-done", kwargs={"card": card, "pk": sale.pk})),
        (till, reverse("till:refund-done", kwargs={"card": card, "pk": refund.pk})),
        (till, reverse("till:card-print", kwargs={"card": card})),
        (till, reverse("till:undo")),
        (portal, reverse("me:home")),
        (portal, reverse("me:card")),
        (portal, reverse("me:history")),
        (portal, reverse("me:purchase-detail", kwargs={"pk": sale.pk})),
        (portal, reverse("me:account")),
        (portal, reverse("me:profile")),
        (portal, reverse("me:consent")),
        (portal, reverse("me:privacy")),
        (portal, reverse("me:delete-account")),
        (portal, reverse("me:feedback")),
        (anonymous, reverse("me:claim-start")),
        (anonymous, reverse("account_login")),
        (anonymous, reverse("account_signup")),
        (anonymous, reverse("account_reset_password")),
    ]


@pytest.mark.parametrize("language", ["pl", "ro"])
def test_no_english_sentence_is_left_on_the_till_and_portal_pages(pages, language):
    sentences = english_sentences(language)
    assert len(sentences) > 200  # the check reads the real catalog
    left = {}
    for client, url in pages:
        client.cookies["django_language"] = language
        response = client.get(url)
        assert response.status_code == 200, url
        text = visible_text(response.content.decode())
        found = sorted(sentence for sentence in sentences if sentence in text)
        if found:
            left[url] = found
    assert left == {}
