"""/staff/rules/simulate/: a basket tried on the rules, per rule, writing nothing."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from loyalty.models import EarnRule, LedgerEntry, MemberTier, PointsAccount, Purchase, RuleUsage, StampCard
from tests.factories import EarnRuleFactory, TierFactory
from tests.web.conftest import buy, client_for

pytestmark = pytest.mark.django_db

URL = reverse("staff:rule-simulate")


def basket(store, **changes):
    data = {"store": store.pk, "purchased_at": "2026-07-04T12:00", "amount": "100.00", "lines": "", "card": "",
            "tier": ""}
    data.update(changes)
    return data


def rows(response):
    """(label, points) of each breakdown row, as the page names them."""
    from django.template import Context, Template

    template = Template("{% load loyalty_tags %}{% breakdown_label item %}")
    return [
        (template.render(Context({"item": item, "request": response.wsgi_request})), item["points"])
        for item in response.context["breakdown"]
    ]


def test_simulator_shows_the_points_per_rule_and_the_total(users, store):
    EarnRuleFactory(name="Coffee x3", kind="per_unit", value=Decimal("3"), categories=["coffee"])
    EarnRuleFactory(name="Tea day", kind="fixed", value=Decimal("5"), categories=["tea"])
    response = client_for(users["marketing"]).get(URL, basket(
        store, lines="BEANS-1KG; coffee; 2; 59.80\nMUG-01; ; 1; 40,20",
    ))
    assert response.status_code == 200
    assert rows(response) == [("Base rate", 100), ("Coffee x3", 6)]
    assert response.context["evaluation"].points == 106
    page = response.content.decode()
    assert "This basket would earn <strong>106 points</strong>" in page
    assert "Tea day" in page.split("Rules that gave nothing for this basket")[1]


def test_the_time_is_read_in_the_stores_zone(users, store):
    EarnRuleFactory(name="Happy hour", kind="fixed", value=Decimal("20"),
                    hours_start=dt.time(17), hours_end=dt.time(19))
    client = client_for(users["manager"])
    # 17:30 in Warsaw (UTC+2 in July) is 15:30 UTC: the store's clock counts.
    assert rows(client.get(URL, basket(store, purchased_at="2026-07-04T17:30")))[-1] == ("Happy hour", 20)
    assert rows(client.get(URL, basket(store, purchased_at="2026-07-04T19:00"))) == [("Base rate", 100)]


def test_paused_rules_count_only_when_ticked(users, store):
    waiting = EarnRuleFactory(name="Launch bonus", status="paused", value=Decimal("50"))
    EarnRuleFactory(name="Old", status="archived", value=Decimal("70"))
    client = client_for(users["marketing"])
    assert rows(client.get(URL, basket(store))) == [("Base rate", 100)]
    response = client.get(URL, basket(store, include=[waiting.pk]))
    assert rows(response) == [("Base rate", 100), ("Launch bonus", 50)]
    assert "paused</span>" in response.content.decode()
    page = client.get(URL).content.decode()
    assert "Launch bonus" in page and ">Old<" not in page  # archived rules are not offered


def test_a_members_tier_and_stamp_cards_count(users, member, store):
    gold = TierFactory(code="gold", name_en="Gold", name_pl="Złoty", multiplier=Decimal("1.5"))
    MemberTier.objects.create(member=member, tier=gold)
    coffee = EarnRuleFactory(name="Coffee card", kind="stamps", value=Decimal("30"), stamps_needed=3,
                             categories=["coffee"])
    StampCard.objects.create(member=member, rule=coffee, stamps=2)
    client = client_for(users["manager"])
    response = client.get(URL, basket(store, card=member.card_number, lines="ESPRESSO; coffee; 1; 10"))
    assert rows(response) == [("Base rate", 100), ("Tier: Gold", 50), ("Coffee card", 30)]
    assert "1 stamp, 1 card completed" in response.content.decode()
    page = client.get(URL, basket(store, card=member.card_number), HTTP_ACCEPT_LANGUAGE="pl").content.decode()
    assert "Złoty" in page  # the tier's name in the page's language


def test_a_tier_can_be_tried_without_a_member(users, store):
    silver = TierFactory(code="silver", name_en="Silver", multiplier=Decimal("2"))
    response = client_for(users["manager"]).get(URL, basket(store, tier=silver.pk))
    assert rows(response) == [("Base rate", 100), ("Tier: Silver", 100)]


def test_the_rule_being_edited_is_simulated_without_being_saved(users, store):
    live = EarnRuleFactory(name="Weekend", kind="multiplier", value=Decimal("2"))
    client = client_for(users["marketing"])
    form = {
        "draft": str(live.pk), "name": "Weekend triple", "kind": "multiplier", "value": "3", "priority": "0",
        "mode": "stack", "member_cap_period": "rule", "weekdays": ["5", "6"],
    }
    response = client.post(URL, form)
    assert response.status_code == 302
    assert response["Location"] == f"{URL}?draft=1"
    response = client.get(URL, {**basket(store), "draft": "1"})  # 4 July 2026 is a Saturday
    assert rows(response) == [("Base rate", 100), ("Weekend triple", 200)]  # replaces the live rule
    assert "draft</span>" in response.content.decode()
    live.refresh_from_db()
    assert (live.name, live.value) == ("Weekend", Decimal("2"))
    # Back to the form: the values as typed, still not saved.
    page = client.get(reverse("staff:rule-edit", kwargs={"pk": live.pk}), {"draft": "1"}).content.decode()
    assert 'value="Weekend triple"' in page
    # Without the draft the live rule counts.
    assert rows(client.get(URL, basket(store))) == [("Base rate", 100), ("Weekend", 100)]


def test_a_new_rule_can_be_simulated_before_it_exists(users, store):
    client = client_for(users["manager"])
    client.post(URL, {"draft": "new", "name": "First visit", "status": "active", "kind": "fixed", "value": "25",
                      "priority": "0", "mode": "stack", "member_cap_period": "rule", "stores": [str(store.pk)]})
    response = client.get(URL, {**basket(store), "draft": "1"})
    assert rows(response) == [("Base rate", 100), ("First visit", 25)]
    assert not EarnRule.objects.exists()
    page = client.get(reverse("staff:rule-create"), {"draft": "1"}).content.decode()
    assert 'value="First visit"' in page


def test_a_draft_with_errors_goes_back_to_the_rule_form(users):
    client = client_for(users["manager"])
    response = client.post(URL, {"draft": "new", "name": "Bad", "status": "active", "kind": "multiplier",
                                 "value": "0.5", "priority": "0", "mode": "stack", "member_cap_period": "rule"})
    assert response.status_code == 200
    assert "A multiplier below 1" in response.content.decode()
    assert "staff_rule_draft" not in client.session


BAD_BASKETS = [
    ("row", {"lines": "BEANS; coffee; 2"}, "lines", "Row 1: give sku; category; quantity; amount"),
    ("quantity", {"lines": "\nBEANS; coffee; two; 10"}, "lines", "Row 2: the quantity two is not a number"),
    ("lines over amount", {"amount": "10", "lines": "BEANS; coffee; 1; 25"}, "lines", "more than the amount"),
    ("unknown card", {"card": "999"}, "card", "No member has the card number 999."),
    ("missing time", {"purchased_at": "2026-03-29T02:30"}, "purchased_at", "does not exist in Europe/Warsaw"),
    ("amount", {"amount": "0"}, "amount", "greater than or equal to 0.01"),
]


@pytest.mark.parametrize(("case", "changes", "field", "message"), BAD_BASKETS, ids=[b[0] for b in BAD_BASKETS])
def test_a_bad_basket_is_explained_on_its_field(users, store, case, changes, field, message):
    response = client_for(users["manager"]).get(URL, basket(store, **changes))
    assert response.status_code == 200
    errors = response.context["basket_form"].errors
    assert any(message in error for error in errors[field]), errors
    assert "evaluation" not in response.context


def test_the_simulator_writes_nothing(users, member, store, django_assert_max_num_queries):
    coffee = EarnRuleFactory(name="Coffee card", kind="stamps", value=Decimal("30"), stamps_needed=2)
    EarnRuleFactory(name="Budgeted", value=Decimal("10"), budget=100, member_cap=15, member_cap_period="month")
    buy(member, store, "10.00")
    tables = [Purchase, LedgerEntry, StampCard, RuleUsage, PointsAccount, EarnRule, MemberTier]

    def snapshot():
        return {model.__name__: sorted(model.objects.values_list(*[f.attname for f in model._meta.concrete_fields]))
                for model in tables}

    before = snapshot()
    assert StampCard.objects.get(rule=coffee).stamps == 1
    client = client_for(users["owner"])
    response = client.get(URL, basket(store, card=member.card_number, caps="on"))
    assert rows(response) == [("Base rate", 100), ("Budgeted", 10), ("Coffee card", 30)]
    assert snapshot() == before


def test_simulator_form_offers_the_basket_fields(users, store):
    page = client_for(users["marketing"]).get(URL).content.decode()
    for text in ("Date and time", "time zone.", "sku; category; quantity; amount",
                 "Member card number (optional)", "Tier"):
        assert text in page
    assert 'type="datetime-local"' in page


@pytest.mark.parametrize(("who", "status"), [("cashier", 403), ("member", 403), ("anonymous", 302)])
def test_only_staff_may_send_a_draft_to_the_simulator(users, who, status):
    response = client_for(users.get(who)).post(URL, {"draft": "new", "name": "X", "kind": "fixed", "value": "5"})
    assert response.status_code == status
    assert not EarnRule.objects.exists()
