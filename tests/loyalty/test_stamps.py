"""Stamp cards in the live earn: filled by purchases, taken back by refunds."""

import datetime as dt
from decimal import Decimal

import pytest

from loyalty.models import EarnRule, LedgerEntry, PointsAccount, RuleUsage, Source, StampCard
from loyalty.rules import Applied, Evaluation
from loyalty.services.purchases import LineInput, purchase_record, refund_record
from loyalty.services.rules import rule_save, rule_snapshot
from loyalty.services.stamps import stamp_cards_fill, stamp_cards_for_member
from tests.factories import MemberFactory, ProgramFactory, StoreFactory

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2025, 6, 4, 9, 30, tzinfo=dt.UTC)


def stamp_rule(**kwargs) -> EarnRule:
    fields = {"name": "Coffee card", "kind": EarnRule.Kind.STAMPS, "value": Decimal("100"), "stamps_needed": 5}
    return rule_save(rule=EarnRule(**(fields | kwargs)))


def buy(external_id, member, store, *, n=0, amount="10.00", lines=()):
    at = T0 + dt.timedelta(hours=n)
    return purchase_record(external_id=external_id, store=store, member=member, purchased_at=at, amount=amount,
                           lines=lines, source=Source.API, now=at)


def refund(result, amount, *, n=100, external_id=None):
    at = T0 + dt.timedelta(hours=n)
    return refund_record(external_id=external_id or f"R-{result.purchase.external_id}-{amount}",
                         purchase=result.purchase, amount=amount, refunded_at=at, source=Source.API, now=at)


def card(member, rule):
    found = StampCard.objects.filter(member=member, rule=rule).first()
    return (found.stamps, found.completed) if found else None


def earn_items(result):
    return LedgerEntry.objects.get(purchase=result.purchase, kind=LedgerEntry.Kind.EARN).breakdown


def test_visits_fill_a_card_and_the_full_card_gives_its_points():
    ProgramFactory()
    member, store = MemberFactory(), StoreFactory()
    rule = stamp_rule()
    results = [buy(f"V{n}", member, store, n=n) for n in range(6)]
    assert [result.points for result in results] == [10, 10, 10, 10, 110, 10]
    assert earn_items(results[0])[-1] == {"rule": rule.pk, "label": "Coffee card", "points": 0, "stamps": 1,
                                          "cards": 0}
    assert earn_items(results[4])[-1] == {"rule": rule.pk, "label": "Coffee card", "points": 100, "stamps": 1,
                                          "cards": 1}
    assert card(member, rule) == (1, 1)  # a new card with one stamp, one completed


def test_matching_items_give_one_stamp_per_whole_unit():
    ProgramFactory()
    member, store = MemberFactory(), StoreFactory()
    rule = stamp_rule(categories=["coffee"], stamps_needed=4)
    lines = [LineInput(sku="LATTE", category="coffee", quantity=Decimal("3"), amount=Decimal("9.00")),
             LineInput(sku="CAKE", category="food", quantity=Decimal("2"), amount=Decimal("1.00"))]
    assert buy("P1", member, store, lines=lines).points == 10
    assert card(member, rule) == (3, 0)
    assert buy("P2", member, store, n=1, lines=lines).points == 10 + 100  # 6 stamps: a card and 2 over
    assert card(member, rule) == (2, 1)
    buy("P3", member, store, n=2, lines=[LineInput(sku="CAKE", category="food", amount=Decimal("10.00"))])
    assert card(member, rule) == (2, 1)  # nothing matching, nothing stamped


def test_a_refund_takes_back_its_share_of_the_stamps_from_the_current_card():
    ProgramFactory()
    member, store = MemberFactory(), StoreFactory()
    rule = stamp_rule(categories=["coffee"], stamps_needed=10)
    lines = [LineInput(sku="BEANS", category="coffee", quantity=Decimal("4"), amount=Decimal("40.00"))]
    result = buy("P1", member, store, amount="40.00", lines=lines)
    assert card(member, rule) == (4, 0)
    refund(result, "15.00")  # keeps floor(4 x 25 / 40) = 2
    assert card(member, rule) == (2, 0)
    refund(result, "5.00")  # keeps floor(4 x 20 / 40) = 2: nothing more
    assert card(member, rule) == (2, 0)
    refund(result, "20.00")  # all refunded: the last 2
    assert card(member, rule) == (0, 0)


def test_a_refund_never_takes_a_card_below_zero_and_a_completed_card_stays_completed():
    ProgramFactory()
    member, store = MemberFactory(), StoreFactory()
    rule = stamp_rule(stamps_needed=2, value=Decimal("50"))
    buy("P1", member, store)
    second = buy("P2", member, store, n=1)  # fills the card: 50 points
    assert (second.points, card(member, rule)) == (60, (0, 1))
    reversal = refund(second, "10.00")
    assert reversal.points_reversed == 60  # the card's points go back with the purchase's
    assert card(member, rule) == (0, 1)


def test_a_stamp_without_points_still_leaves_an_earn_entry_for_its_refund():
    ProgramFactory(earn_rate=Decimal("0"))
    member, store = MemberFactory(), StoreFactory()
    rule = stamp_rule()
    result = buy("P1", member, store)
    assert result.points == 0
    entry = LedgerEntry.objects.get(purchase=result.purchase)
    assert (entry.kind, entry.points, entry.lot_id, entry.available_delta, entry.pending_delta) == (
        "earn", 0, None, 0, 0,
    )
    assert entry.breakdown == [{"rule": rule.pk, "label": "Coffee card", "points": 0, "stamps": 1, "cards": 0}]
    assert card(member, rule) == (1, 0)
    refund(result, "10.00")
    assert card(member, rule) == (0, 0)
    account = PointsAccount.objects.get(member=member)
    assert (account.available, account.pending, account.debt) == (0, 0, 0)


def test_a_paused_stamp_rule_stamps_nothing_but_its_refunds_still_take_stamps_back():
    ProgramFactory()
    member, store = MemberFactory(), StoreFactory()
    rule = stamp_rule()
    first = buy("P1", member, store)
    rule.status = EarnRule.Status.PAUSED
    rule_save(rule=rule)
    buy("P2", member, store, n=1)
    assert card(member, rule) == (1, 0)
    refund(first, "10.00")
    assert card(member, rule) == (0, 0)


def test_the_members_cards_for_the_portal_and_the_till(django_assert_num_queries):
    ProgramFactory()
    member, store = MemberFactory(), StoreFactory()
    coffee = stamp_rule(priority=1)
    cake = stamp_rule(name="Cake card", stamps_needed=8, value=Decimal("40"), categories=["cake"])
    stamp_rule(name="Old card", status=EarnRule.Status.ARCHIVED)
    buy("P1", member, store)
    with django_assert_num_queries(2):
        cards = stamp_cards_for_member(member_id=member.pk)
    assert [(c.rule_id, c.name, c.stamps, c.needed, c.left, c.completed, c.reward_points) for c in cards] == [
        (coffee.pk, "Coffee card", 1, 5, 4, 0, 100),
        (cake.pk, "Cake card", 0, 8, 8, 0, 40),
    ]


def test_filling_a_card_is_one_statement_and_keeps_the_card_readable(django_assert_num_queries):
    ProgramFactory()
    member, store = MemberFactory(), StoreFactory()
    rule = stamp_rule(stamps_needed=3)
    buy("P1", member, store)
    evaluation = Evaluation(points=0, applied=(Applied(rule.pk, "Coffee card", 0, stamps=5, cards=2),))
    rules = {rule.pk: rule_snapshot(rule)}
    with django_assert_num_queries(1):
        stamp_cards_fill(member_id=member.pk, evaluation=evaluation, rules=rules)
    saved = StampCard.objects.get(member=member, rule=rule)
    assert (saved.stamps, saved.completed) == (0, 2)  # 1 + 5 = 6: two cards, none over
    assert saved.updated_at is not None and saved.updated_at.tzinfo is not None


def test_a_purchase_sent_twice_stamps_once_and_counts_against_a_cap_once():
    ProgramFactory()
    member, store = MemberFactory(), StoreFactory()
    card_rule = stamp_rule()
    capped = rule_save(rule=EarnRule(name="Capped", kind=EarnRule.Kind.FIXED, value=Decimal("5"), budget=100))
    first, again = buy("P1", member, store), buy("P1", member, store)
    assert again.created is False and again.points == first.points == 15
    assert card(member, card_rule) == (1, 0)
    assert RuleUsage.objects.get(rule=capped, scope="total").points == 5
