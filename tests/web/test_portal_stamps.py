"""/me/: stamp cards drawn as stamps, and each purchase's points explained rule by rule."""

import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from loyalty.models import MemberTier, StampCard
from loyalty.services.purchases import LineInput, purchase_record
from tests.factories import EarnRuleFactory, MemberFactory, TierFactory
from tests.web.conftest import buy, client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def coffee_card(member):
    rule = EarnRuleFactory(name="Coffee card", kind="stamps", value=Decimal("30"), stamps_needed=10,
                           categories=["coffee"])
    StampCard.objects.create(member=member, rule=rule, stamps=7, completed=2)
    return rule


def test_home_shows_each_card_as_stamps_with_a_text_alternative(users, coffee_card):
    page = client_for(users["member"]).get(reverse("me:home")).content.decode()
    assert 'role="img" aria-label="7 of 10 stamps"' in page
    card = page.split('aria-label="7 of 10 stamps"')[1].split("</div>")[0]
    assert card.count("<svg") == 10
    assert card.count('fill="#0a58ca"') == 7  # filled stamps; the other three are empty circles
    assert "3 more for 30 points" in page
    assert f'href="{reverse("me:stamps")}"' in page


def test_stamps_page_says_what_counts_and_how_many_cards_were_filled(users, coffee_card):
    page = client_for(users["member"]).get(reverse("me:stamps")).content.decode()
    assert "Coffee card" in page
    assert "Each item bought counts as a stamp: coffee." in page
    assert "You have filled 2 cards so far." in page


def test_an_active_stamp_rule_shows_an_empty_card_before_the_first_stamp(users, member):
    EarnRuleFactory(name="Visits", kind="stamps", value=Decimal("50"), stamps_needed=5)
    page = client_for(users["member"]).get(reverse("me:stamps")).content.decode()
    assert 'aria-label="0 of 5 stamps"' in page
    assert "Each visit with a purchase counts as a stamp." in page


def test_paused_cards_with_stamps_stay_visible_archived_ones_do_not(users, member):
    paused = EarnRuleFactory(name="Paused card", kind="stamps", value=Decimal("5"), stamps_needed=4, status="paused")
    StampCard.objects.create(member=member, rule=paused, stamps=3)
    EarnRuleFactory(name="Paused empty", kind="stamps", value=Decimal("5"), stamps_needed=4, status="paused")
    archived = EarnRuleFactory(name="Old card", kind="stamps", value=Decimal("5"), stamps_needed=4, status="archived")
    StampCard.objects.create(member=member, rule=archived, stamps=2)
    page = client_for(users["member"]).get(reverse("me:stamps")).content.decode()
    assert "Paused card" in page
    assert "Paused empty" not in page
    assert "Old card" not in page


def test_a_member_sees_only_their_own_stamps(users, coffee_card):
    other = MemberFactory()
    StampCard.objects.filter(rule=coffee_card).delete()
    StampCard.objects.create(member=other, rule=coffee_card, stamps=9)
    page = client_for(users["member"]).get(reverse("me:stamps")).content.decode()
    assert 'aria-label="0 of 10 stamps"' in page
    assert "9 of 10" not in page


def test_no_stamp_rules_no_stamp_section(users):
    client = client_for(users["member"])
    assert "Stamp cards" not in client.get(reverse("me:home")).content.decode()
    assert "There are no stamp cards at the moment." in client.get(reverse("me:stamps")).content.decode()


def test_stamps_page_uses_a_fixed_number_of_queries(users, member, django_assert_num_queries):
    for n in range(8):
        rule = EarnRuleFactory(name=f"Card {n}", kind="stamps", value=Decimal("5"), stamps_needed=6)
        StampCard.objects.create(member=member, rule=rule, stamps=n % 6)
    client = client_for(users["member"])
    client.get(reverse("me:stamps"))
    # session, user, member, the cards
    with django_assert_num_queries(4):
        response = client.get(reverse("me:stamps"))
    assert len(response.context["stamp_cards"]) == 8


# -- why these points ------------------------------------------------------------


def test_purchase_detail_explains_the_points_rule_by_rule(users, member, store, coffee_card):
    gold = TierFactory(code="gold", name_en="Gold", name_pl="Złoty", multiplier=Decimal("1.5"))
    MemberTier.objects.create(member=member, tier=gold)
    EarnRuleFactory(name="Double weekend", kind="multiplier", value=Decimal("2"))
    StampCard.objects.filter(member=member).update(stamps=9)
    purchase = purchase_record(
        external_id="R-1", store=store, member=member, purchased_at=timezone.now(), amount=Decimal("20.00"),
        source="till", lines=[LineInput(sku="ESPRESSO", category="coffee", quantity=Decimal("3"),
                                        amount=Decimal("20.00"))],
    ).purchase
    client = client_for(users["member"])
    page = " ".join(client.get(reverse("me:purchase-detail", kwargs={"pk": purchase.pk})).content.decode().split())
    rows = re.findall(r'<th scope="row" class="fw-normal">(.*?)</th> <td class="num">(.*?)</td>', page)
    assert rows == [
        ("Base rate", "+20"), ("Tier: Gold", "+10"), ("Double weekend", "+20"),
        ("Coffee card<br><span class=\"small\">3 stamps, 1 card completed</span>", "+30"),
    ]
    assert "<th scope=\"row\">Total</th> <td class=\"num\">80</td>" in page
    # The tier's name is translated; rules keep the name staff gave them.
    page = client.get(reverse("me:purchase-detail", kwargs={"pk": purchase.pk}), HTTP_ACCEPT_LANGUAGE="pl")
    assert "Złoty" in page.content.decode()


def test_history_lists_the_rules_beside_a_purchase(users, member, store):
    EarnRuleFactory(name="Plus five", value=Decimal("5"))
    buy(member, store, "10.00")
    page = " ".join(client_for(users["member"]).get(reverse("me:history")).content.decode().split())
    assert "Base rate +10 · Plus five +5" in page


def test_a_purchase_at_the_base_rate_alone_needs_no_explanation_in_the_history(users, member, store):
    buy(member, store, "10.00")
    page = client_for(users["member"]).get(reverse("me:history")).content.decode()
    assert "entry-breakdown" not in page
    assert "Base rate" not in page
