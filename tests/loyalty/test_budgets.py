"""Budget caps of earning rules in the live earn: per member and period, in total."""

import datetime as dt
from decimal import Decimal

import pytest

from loyalty.models import EarnRule, LedgerEntry, RuleUsage, Source
from loyalty.rules import FIXED, Applied, Evaluation, RuleSnapshot
from loyalty.services.budgets import budgets_apply, cap_period_start
from loyalty.services.program import program_get
from loyalty.services.purchases import purchase_record, refund_record
from loyalty.services.rules import rule_save, rule_snapshot
from tests.factories import MemberFactory, ProgramFactory, StoreFactory

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2025, 6, 4, 9, 30, tzinfo=dt.UTC)  # Wednesday 11:30 in Warsaw


@pytest.mark.parametrize(
    ("period", "at", "start"),
    [
        ("rule", T0, None),
        ("day", T0, dt.date(2025, 6, 4)),
        ("day", dt.datetime(2025, 6, 4, 22, 30, tzinfo=dt.UTC), dt.date(2025, 6, 5)),  # 00:30 in Warsaw
        ("week", T0, dt.date(2025, 6, 2)),  # ISO weeks start on Monday
        ("week", dt.datetime(2025, 6, 1, 21, 59, tzinfo=dt.UTC), dt.date(2025, 5, 26)),  # Sunday 23:59 local
        ("week", dt.datetime(2025, 6, 1, 22, 0, tzinfo=dt.UTC), dt.date(2025, 6, 2)),  # Monday 00:00 local
        ("month", T0, dt.date(2025, 6, 1)),
        ("month", dt.datetime(2025, 5, 31, 22, 30, tzinfo=dt.UTC), dt.date(2025, 6, 1)),
        ("year", dt.datetime(2024, 12, 31, 23, 30, tzinfo=dt.UTC), dt.date(2025, 1, 1)),
    ],
)
def test_cap_periods_are_calendar_periods_in_the_program_time_zone(period, at, start):
    assert cap_period_start(period, at=at, tz="Europe/Warsaw") == start


def make_rule(**kwargs) -> EarnRule:
    fields = {"name": "Bonus", "kind": EarnRule.Kind.FIXED, "value": Decimal("20")} | kwargs
    return rule_save(rule=EarnRule(**fields))


def buy(external_id, member, store, *, at=T0, amount="10.00"):
    return purchase_record(external_id=external_id, store=store, member=member, purchased_at=at, amount=amount,
                           source=Source.API, now=at + dt.timedelta(minutes=1))


def bonus_items(result):
    entry = LedgerEntry.objects.get(purchase=result.purchase, kind=LedgerEntry.Kind.EARN)
    return [item for item in entry.breakdown if item["rule"] != "base"]


def test_a_member_cap_per_day_reduces_then_drops_the_bonus_and_a_new_day_starts_afresh():
    ProgramFactory()
    member, store = MemberFactory(), StoreFactory()
    rule = make_rule(member_cap=50, member_cap_period=EarnRule.CapPeriod.DAY)
    first, second, third = (buy(f"P{n}", member, store, at=T0 + dt.timedelta(hours=n)) for n in range(3))
    assert [first.points, second.points, third.points] == [30, 30, 20]  # 10 base + 20, + 20, + 10 capped
    assert bonus_items(first) == [{"rule": rule.pk, "label": "Bonus", "points": 20}]
    assert bonus_items(third) == [{"rule": rule.pk, "label": "Bonus", "points": 10, "capped": True}]
    fourth = buy("P3", member, store, at=T0 + dt.timedelta(hours=3))
    assert (fourth.points, bonus_items(fourth)) == (10, [])  # the cap is spent: the item is dropped
    assert fourth.purchase.points == 10
    tomorrow = buy("P4", member, store, at=T0 + dt.timedelta(days=1))
    assert tomorrow.points == 30
    assert dict(RuleUsage.objects.values_list("scope", "points")) == {
        f"m{member.pk}:2025-06-04": 50, f"m{member.pk}:2025-06-05": 20,
    }


def test_a_member_cap_is_per_member():
    ProgramFactory()
    store = StoreFactory()
    make_rule(member_cap=20, member_cap_period=EarnRule.CapPeriod.RULE)
    one, two = MemberFactory(), MemberFactory()
    assert [buy("A1", one, store).points, buy("A2", one, store).points] == [30, 10]
    assert buy("B1", two, store).points == 30


def test_a_total_budget_is_shared_by_every_member_and_then_the_rule_stops():
    ProgramFactory()
    store = StoreFactory()
    rule = make_rule(budget=50)
    members = [MemberFactory() for _ in range(4)]
    points = [buy(f"P{n}", member, store).points for n, member in enumerate(members)]
    assert points == [30, 30, 20, 10]
    assert RuleUsage.objects.get(rule=rule, scope="total").points == 50


def test_a_rule_with_both_caps_gives_what_the_smaller_leaves():
    ProgramFactory()
    store = StoreFactory()
    make_rule(member_cap=30, member_cap_period=EarnRule.CapPeriod.WEEK, budget=45)
    one, two = MemberFactory(), MemberFactory()
    assert buy("A1", one, store).points == 30
    assert buy("A2", one, store).points == 20  # the member's 30: 10 left
    assert buy("B1", two, store).points == 25  # the budget's 45: 15 left
    assert sum(RuleUsage.objects.filter(scope="total").values_list("points", flat=True)) == 45


def test_refunds_do_not_give_budget_back():
    ProgramFactory()
    member, store = MemberFactory(), StoreFactory()
    make_rule(budget=30)
    first = buy("P1", member, store)
    refund_record(external_id="R1", purchase=first.purchase, amount="10.00", refunded_at=T0 + dt.timedelta(hours=1),
                  source=Source.API, now=T0 + dt.timedelta(hours=1))
    assert RuleUsage.objects.get(scope="total").points == 20
    assert buy("P2", member, store, at=T0 + dt.timedelta(hours=2)).points == 10 + 10


def test_caps_of_a_rule_that_does_not_apply_cost_no_query(django_assert_num_queries):
    ProgramFactory()
    member, store = MemberFactory(), StoreFactory()
    make_rule(budget=30, min_spend=Decimal("100"))
    assert buy("warm", member, store).points == 10  # the rule did not apply: no usage row
    evaluation = Evaluation(points=10, applied=(Applied("base", "Base rate", 10),))
    rules = {1: RuleSnapshot(id=1, name="x", kind=FIXED, value=Decimal(5), budget=10)}
    program = program_get()
    with django_assert_num_queries(0):
        assert budgets_apply(evaluation=evaluation, rules=rules, member_id=member.pk, purchased_at=T0,
                             program=program) is evaluation
    assert not RuleUsage.objects.exists()


def test_a_capped_rule_that_applies_costs_an_insert_a_lock_and_an_update(django_assert_num_queries):
    ProgramFactory()
    member = MemberFactory()
    rule = rule_snapshot(make_rule(member_cap=100, budget=100))
    evaluation = Evaluation(points=30, applied=(Applied("base", "Base rate", 10), Applied(rule.id, "Bonus", 20)))
    program = program_get()
    with django_assert_num_queries(3):
        result = budgets_apply(evaluation=evaluation, rules={rule.id: rule}, member_id=member.pk, purchased_at=T0,
                               program=program)
    assert result == evaluation  # nothing capped
    assert sorted(RuleUsage.objects.values_list("scope", "points")) == [(f"m{member.pk}:rule", 20), ("total", 20)]


@pytest.mark.postgres
def test_on_postgres_an_earn_whose_capped_rule_does_not_apply_is_still_a_lock_and_one_write(
    django_assert_num_queries,
):
    ProgramFactory()
    member, store = MemberFactory(), StoreFactory()
    make_rule(budget=30, member_cap=10, min_spend=Decimal("100"))
    buy("warm", member, store)
    with django_assert_num_queries(4):  # savepoint, lock, one write, release
        assert buy("P1", member, store).points == 10
