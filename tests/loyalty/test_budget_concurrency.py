"""Budget caps and stamp cards under concurrency on PostgreSQL: real threads, each with
its own connection, released together by a barrier; then the sums are checked.

Concurrent earns never give a rule more than its total budget or one member more
than the member cap, and never lose a stamp.
"""

from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from loyalty.models import EarnRule, LedgerEntry, RuleUsage, Source, StampCard
from loyalty.services.purchases import purchase_record
from loyalty.services.rules import rule_save
from tests.factories import MemberFactory, ProgramFactory, StoreFactory
from tests.loyalty.test_concurrency import THREADS, assert_ledger_verified, in_threads

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def make_rule(**kwargs) -> EarnRule:
    fields = {"name": "Bonus", "kind": EarnRule.Kind.FIXED, "value": Decimal("20")} | kwargs
    return rule_save(rule=EarnRule(**fields))


def buy(member, store, external_id, *, amount="10.00"):
    now = timezone.now()
    return purchase_record(external_id=external_id, store=store, member=member, purchased_at=now,
                           amount=Decimal(amount), source=Source.API, now=now)


def rule_points(rule) -> int:
    """The points ``rule`` gave, summed over every earn entry's breakdown."""
    return sum(
        item["points"]
        for breakdown in LedgerEntry.objects.filter(kind="earn").values_list("breakdown", flat=True)
        for item in breakdown if item["rule"] == rule.pk
    )


def test_concurrent_purchases_of_many_members_never_exceed_a_total_budget():
    ProgramFactory()
    store = StoreFactory()
    rule = make_rule(budget=150)  # 8 x 20 = 160 would be more
    members = [MemberFactory() for _ in range(THREADS)]

    results = in_threads(THREADS, lambda index: buy(members[index], store, f"P{index}"))

    assert sum(result.points for result in results) == THREADS * 10 + 150
    assert rule_points(rule) == 150
    assert RuleUsage.objects.get(rule=rule, scope="total").points == 150
    capped = [item for result in results for item in result.purchase.entries.get().breakdown if item.get("capped")]
    assert [item["points"] for item in capped] == [10]  # exactly one earn got what was left
    assert_ledger_verified()


def test_many_rounds_of_concurrent_purchases_spend_a_budget_exactly():
    ProgramFactory()
    store = StoreFactory()
    rule = make_rule(value=Decimal("7"), budget=200)
    members = [MemberFactory() for _ in range(THREADS)]

    def work(index):
        return sum(buy(members[index], store, f"P{index}-{n}").points for n in range(6))  # 48 x 7 = 336 wanted

    earned = sum(in_threads(THREADS, work))
    assert rule_points(rule) == 200
    assert earned == THREADS * 6 * 10 + 200
    assert RuleUsage.objects.get(rule=rule, scope="total").points == 200
    assert_ledger_verified()


def test_concurrent_purchases_of_one_member_never_exceed_the_member_cap():
    ProgramFactory()
    store = StoreFactory()
    member, other = MemberFactory(), MemberFactory()
    rule = make_rule(member_cap=90, member_cap_period=EarnRule.CapPeriod.MONTH, budget=1000)

    def work(index):
        if index == THREADS - 1:  # another member at the same time, on the same budget
            return sum(buy(other, store, f"O-{n}").points for n in range(3))
        return sum(buy(member, store, f"M{index}-{n}").points for n in range(3))

    in_threads(THREADS, work)
    given = RuleUsage.objects.filter(rule=rule).exclude(scope="total")
    by_member = {scope.split(":")[0]: points for scope, points in given.values_list("scope", "points")}
    assert by_member == {f"m{member.pk}": 90, f"m{other.pk}": 60}
    assert RuleUsage.objects.get(rule=rule, scope="total").points == 150
    assert rule_points(rule) == 150
    assert_ledger_verified()


def test_concurrent_visits_lose_no_stamp():
    ProgramFactory()
    store = StoreFactory()
    member = MemberFactory()
    rule = make_rule(name="Card", kind=EarnRule.Kind.STAMPS, value=Decimal("100"), stamps_needed=3)
    per_thread = 5

    def work(index):
        return sum(buy(member, store, f"V{index}-{n}").points for n in range(per_thread))

    earned = sum(in_threads(THREADS, work))
    visits = THREADS * per_thread  # 40 stamps: 13 cards, 1 stamp over
    card = StampCard.objects.get(member=member, rule=rule)
    assert (card.completed, card.stamps) == (visits // 3, visits % 3)
    assert earned == visits * 10 + (visits // 3) * 100
    assert LedgerEntry.objects.filter(kind="earn").aggregate(total=Sum("points"))["total"] == earned
    assert_ledger_verified()


def test_concurrent_first_uses_of_many_budget_rows_do_not_deadlock():
    ProgramFactory()
    store = StoreFactory()
    rules = [make_rule(name=f"R{n}", value=Decimal("5"), budget=1000, member_cap=100,
                       member_cap_period=EarnRule.CapPeriod.DAY, priority=n) for n in range(4)]
    members = [MemberFactory() for _ in range(THREADS)]

    def work(index):
        return buy(members[index], store, f"P{index}", amount="10.00").points

    assert in_threads(THREADS, work) == [10 + 4 * 5] * THREADS
    assert sorted(RuleUsage.objects.filter(scope="total").values_list("points", flat=True)) == [THREADS * 5] * 4
    assert RuleUsage.objects.exclude(scope="total").count() == THREADS * len(rules)
