"""The till: the points a purchase would earn before it is recorded, and after
it the points rule by rule and the stamp cards' progress."""

from decimal import Decimal

import pytest
from django.urls import reverse

from loyalty.models import LedgerEntry, MemberTier, PointsAccount, Purchase, StampCard
from tests.factories import EarnRuleFactory, TierFactory
from tests.web.conftest import buy

pytestmark = pytest.mark.django_db


def url(member, name="till:purchase-preview", **kwargs):
    return reverse(name, kwargs={"card": member.card_number, **kwargs})


@pytest.fixture
def rules(member):
    gold = TierFactory(code="gold", name_en="Gold", multiplier=Decimal("1.5"))
    MemberTier.objects.create(member=member, tier=gold)
    EarnRuleFactory(name="Spring bonus", kind="fixed", value=Decimal("20"))
    card = EarnRuleFactory(name="Coffee card", kind="stamps", value=Decimal("30"), stamps_needed=10)
    StampCard.objects.create(member=member, rule=card, stamps=6)
    return {"gold": gold, "card": card}


def test_preview_fragment_shows_the_points_and_why(till, member, rules):
    response = till.get(url(member), {"purchase-amount": "40.00", "fragment": "1"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html  # a fragment for the page's script
    assert "would earn 80 points" in html  # 40 base + 20 tier + 20 rule + 0 for a stamp
    for line in ("Base rate: +40", "Tier: Gold: +20", "Spring bonus: +20", "Coffee card: 0 (1 stamp)"):
        assert line in " ".join(html.split())


def test_preview_without_javascript_reloads_the_member_page_with_it(till, member, rules):
    response = till.get(url(member), {"purchase-amount": "40.00", "purchase-receipt": "", "purchase-token": "x"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "would earn 80 points" in page
    assert 'name="purchase-amount" value="40.00"' in page  # the amount stays typed
    assert "Record purchase" in page


def test_preview_records_nothing(till, member, rules):
    till.get(url(member), {"purchase-amount": "40.00", "fragment": "1"})
    assert not Purchase.objects.exists()
    assert not LedgerEntry.objects.exists()
    assert StampCard.objects.get(member=member).stamps == 6
    assert not PointsAccount.objects.filter(member=member, available__gt=0).exists()


@pytest.mark.parametrize("amount", ["", "abc", "-5", "0"])
def test_preview_of_no_or_a_bad_amount_shows_no_points(till, member, amount):
    response = till.get(url(member), {"purchase-amount": amount, "fragment": "1"})
    assert response.status_code == 200
    assert "would earn" not in response.content.decode()


def test_member_page_offers_the_preview_after_the_record_button(till, member):
    page = till.get(url(member, "till:member")).content.decode()
    record = page.index("Record purchase")
    preview = page.index("Preview the points")
    assert record < preview  # Enter in the amount field still records the purchase
    assert f'data-till-preview="{url(member)}"' in page
    assert 'aria-live="polite"' in page
    assert "js/till-preview.js" in page


def test_purchase_done_shows_each_rules_points_and_the_stamp_progress(till, member, rules):
    till.get(url(member, "till:member"))
    response = till.post(url(member, "till:purchase-create"), {
        "purchase-amount": "40.00", "purchase-receipt": "R-77",
        "purchase-token": till.get(url(member, "till:member")).context["purchase_form"].initial["token"],
    }, follow=True)
    page = " ".join(response.content.decode().split())
    assert "80 points earned" in page
    assert "Base rate: <strong>+40</strong>" in page
    assert "Tier: Gold: <strong>+20</strong>" in page
    assert "Spring bonus: <strong>+20</strong>" in page
    assert "Coffee card: <strong>0</strong> (1 stamp)" in page
    assert "Coffee card: 7 of 10" in page


def test_a_completed_card_says_so(till, member, rules):
    StampCard.objects.filter(member=member).update(stamps=9)
    purchase = buy(member, till_store(till), "10.00").purchase
    page = " ".join(till.get(url(member, "till:purchase-done", pk=purchase.pk)).content.decode().split())
    assert "Coffee card: <strong>+30</strong> (1 stamp, 1 card completed)" in page
    assert "Coffee card: 0 of 10" in page


def till_store(client):
    return client.get(reverse("till:search")).context["store"]


def test_purchase_done_uses_a_fixed_number_of_queries(till, member, rules, django_assert_max_num_queries):
    purchase = buy(member, till_store(till), "10.00").purchase
    till.get(url(member, "till:purchase-done", pk=purchase.pk))
    with django_assert_max_num_queries(12):
        till.get(url(member, "till:purchase-done", pk=purchase.pk))
