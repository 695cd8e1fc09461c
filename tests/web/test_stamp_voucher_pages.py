"""Stamp cards that give a voucher, on the faces: the staff rule form and list,
the simulator, the till's preview and receipt, and the member's cards."""

from decimal import Decimal

import pytest
from django.urls import reverse

from loyalty.models import EarnRule, StampCard
from loyalty.services.rules import rule_save
from rewards.models import Voucher
from tests.factories import RewardFactory
from tests.web.conftest import buy, client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def reward(program):
    return RewardFactory(code="coffee-free", kind="product", sku="COFFEE", value=None, name_en="Free coffee",
                         name_pl="Darmowa kawa")


@pytest.fixture
def card(member, reward):
    rule = rule_save(rule=EarnRule(name="Coffee card", kind="stamps", value=Decimal("0"), stamps_needed=10,
                                   reward=reward))
    StampCard.objects.create(member=member, rule=rule, stamps=9, completed=1)
    return rule


def flat(response) -> str:
    return " ".join(response.content.decode().split())


def rule_data(chosen, **changes):
    data = {
        "name": "Coffee card", "status": "active", "kind": "stamps", "value": "", "stamps_needed": "10",
        "reward": str(chosen.pk), "starts_at": "", "ends_at": "", "hours_start": "", "hours_end": "",
        "segments": "", "categories": "", "skus": "", "min_spend": "", "priority": "0", "mode": "stack",
        "group": "", "member_cap": "", "member_cap_period": "rule", "budget": "",
    }
    data.update(changes)
    return data


# -- the staff rule form and list --------------------------------------------------


def test_staff_make_a_stamp_card_that_gives_a_voucher(users, reward):
    client = client_for(users["manager"])
    page = flat(client.get(reverse("staff:rule-create")))
    assert "Voucher for a full card" in page
    assert "No voucher: the card gives the points above" in page
    assert ">Free coffee</option>" in page
    response = client.post(reverse("staff:rule-create"), rule_data(reward))  # no value: a voucher card
    assert response.status_code == 302
    rule = EarnRule.objects.get()
    assert (rule.kind, rule.value, rule.reward_id) == ("stamps", Decimal("0"), reward.pk)
    listing = flat(client.get(reverse("staff:rules")))
    assert "a voucher for Free coffee for a card of 10 stamps" in listing


def test_archived_rewards_are_not_offered_but_a_rules_own_stays(users, reward, card):
    old = RewardFactory(code="old-gift", name_en="Old gift", status="archived")
    client = client_for(users["manager"])
    assert "Old gift" not in flat(client.get(reverse("staff:rule-create")))
    response = client.post(reverse("staff:rule-create"), rule_data(old, name="Old card"))
    assert response.status_code == 200
    assert "Choose a reward of the catalog that is not archived." in flat(response)
    EarnRule.objects.filter(pk=card.pk).update(reward=old)
    assert ">Old gift</option>" in flat(client.get(reverse("staff:rule-edit", kwargs={"pk": card.pk})))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": "fixed", "stamps_needed": "", "value": "10"}, "Only a stamp card gives a voucher"),
        ({"value": "30"}, "A card that gives a voucher gives no points: set the value to 0."),
        ({"budget": "1000"}, "a points cap or budget would limit nothing"),
        ({"reward": "", "value": ""}, "Give the value: what the rule gives."),
    ],
)
def test_the_form_refuses_contradictory_voucher_settings(users, reward, changes, message):
    response = client_for(users["manager"]).post(reverse("staff:rule-create"), rule_data(reward, **changes))
    assert response.status_code == 200
    assert message in flat(response)
    assert not EarnRule.objects.exists()


# -- the simulator and the till ------------------------------------------------------


def test_the_simulator_says_a_voucher_instead_of_points(users, member, store, card):
    response = client_for(users["marketing"]).get(reverse("staff:rule-simulate"), {
        "store": store.pk, "purchased_at": "2026-07-04T12:00", "amount": "10.00", "lines": "", "card":
        member.card_number, "tier": "",
    })
    page = flat(response)
    assert "1 stamp, 1 card completed; 1 voucher for Free coffee" in page
    assert "This basket would earn <strong>10 points</strong>" in page  # the card adds no points
    assert not Voucher.objects.exists()


def test_a_draft_voucher_card_can_be_simulated(users, store, reward):
    client = client_for(users["manager"])
    url = reverse("staff:rule-simulate")
    response = client.post(url, {**rule_data(reward, stamps_needed="2"), "draft": "new"})
    assert response.status_code == 302
    page = flat(client.get(url, {"store": store.pk, "purchased_at": "2026-07-04T12:00", "amount": "10.00",
                                 "lines": "LATTE; coffee; 5; 10", "card": "", "tier": "", "draft": "1"}))
    assert "1 stamp" in page  # a visit card: one stamp, no card for a basket without a member
    assert not EarnRule.objects.exists()


def test_the_tills_preview_and_receipt_name_the_voucher(till, member, store, card):
    preview = flat(till.get(reverse("till:purchase-preview", kwargs={"card": member.card_number}),
                            {"purchase-amount": "12.00", "fragment": "1"}))
    assert "would earn 12 points" in preview
    assert "Coffee card: 0 (1 stamp, 1 card completed; 1 voucher for Free coffee)" in preview
    result = buy(member, store, "12.00")  # the tenth visit
    (voucher,) = Voucher.objects.filter(member=member)
    assert voucher.stamp_rule_id == card.pk
    done = flat(till.get(reverse("till:purchase-done", kwargs={"card": member.card_number,
                                                              "pk": result.purchase.pk})))
    assert "1 voucher for Free coffee" in done


# -- the member's cards ----------------------------------------------------------------


def test_the_members_card_says_what_a_full_card_gives(users, card):
    client = client_for(users["member"])
    for name in ("me:home", "me:stamps"):
        page = flat(client.get(reverse(name)))
        assert "9 of 10 stamps · 1 more to go" in page
        assert "A full card gives: Free coffee" in page
        assert "more for 0 points" not in page
    page = flat(client.get(reverse("me:stamps"), HTTP_ACCEPT_LANGUAGE="pl"))
    assert "Darmowa kawa" in page  # the reward's name in the reader's language
