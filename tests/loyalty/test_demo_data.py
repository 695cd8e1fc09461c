"""demo_data: deterministic, idempotent, realistic, and a ledger that live use would give."""

import datetime as dt
from collections import Counter
from decimal import Decimal

import pytest
from allauth.account.models import EmailAddress
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count, F

from loyalty.demo import LOGINS, demo_data_load
from loyalty.ledger.verify import ledger_offenders
from loyalty.models import (
    ActionBonus,
    EarnRule,
    LedgerEntry,
    MemberTier,
    PointsAccount,
    PointsLot,
    Program,
    Purchase,
    PurchaseLine,
    Refund,
    Source,
    StampCard,
    Store,
    Tier,
)
from loyalty.services.ledger import points_expire_due, points_release_due
from loyalty.services.program import program_cache_clear
from loyalty.services.program_io import program_export
from loyalty.services.purchases import LineInput, purchase_record, refund_record
from loyalty.services.rules import rules_cache_clear
from loyalty.services.tiers import tier_window_start, tiers_cache_clear
from members.models import ConsentChange, Member, User
from tests.factories import EarnRuleFactory, MemberFactory, ProgramFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 10, 15, 30, tzinfo=dt.UTC)


def snapshot():
    return {
        "members": sorted(Member.objects.values_list(
            "card_number", "first_name", "last_name", "email", "phone", "birth_date", "language",
            "enrollment_store__code", "enrolled_at", "marketing_consent", "referred_by__card_number",
        )),
        "purchases": sorted(Purchase.objects.values_list(
            "external_id", "store__code", "member__card_number", "purchased_at", "amount", "refunded_amount",
            "points", "points_kept",  # (payload hashes hold database ids)
        )),
        "refunds": sorted(Refund.objects.values_list("external_id", "amount", "refunded_at", "points_reversed")),
        "entries": sorted(LedgerEntry.objects.values_list(
            "account__member__card_number", "kind", "points", "available_delta", "pending_delta", "debt_delta",
            "effective_at",
        )),
        "accounts": sorted(PointsAccount.objects.values_list(
            "member__card_number", "available", "pending", "debt", "next_due_at",
        )),
        "lines": sorted(PurchaseLine.objects.values_list("purchase__external_id", "sku", "category", "quantity",
                                                         "amount")),
        "tiers": sorted(MemberTier.objects.values_list("member__card_number", "tier__code", "since")),
        "cards": sorted(StampCard.objects.values_list("member__card_number", "rule__name", "stamps", "completed")),
        "program": program_export(),
    }


def wipe():
    for model in (LedgerEntry, PointsLot, PointsAccount, Refund, PurchaseLine, Purchase):
        model.objects.all().delete()
    Member.objects.update(referred_by=None)
    for model in (Member, EmailAddress, User, EarnRule, Tier, ActionBonus, Store, Program):
        model.objects.all().delete()
    program_cache_clear()
    rules_cache_clear()
    tiers_cache_clear()


def test_same_seed_gives_the_same_data_and_another_seed_other_data():
    first = demo_data_load(members=40, seed=5, now=NOW)
    assert first.created and first.members == 40
    data = snapshot()
    wipe()
    demo_data_load(members=40, seed=5, now=NOW)
    assert snapshot() == data
    wipe()
    demo_data_load(members=40, seed=6, now=NOW)
    assert snapshot()["purchases"] != data["purchases"]


def test_second_run_changes_nothing_and_prints_the_logins(capsys):
    call_command("demo_data", "--members", "30", "--seed", "2")
    counts = (Member.objects.count(), Purchase.objects.count(), LedgerEntry.objects.count(), User.objects.count())
    configured = [sorted(model.objects.values_list("pk", "updated_at")) for model in (Tier, EarnRule, ActionBonus)]
    out = capsys.readouterr().out
    assert "Demo data loaded" in out and "Members by tier: silver " in out
    call_command("demo_data")  # other (default) arguments: still nothing new
    out = capsys.readouterr().out
    assert "already loaded; nothing changed" in out
    assert [sorted(model.objects.values_list("pk", "updated_at")) for model in (Tier, EarnRule, ActionBonus)] == (
        configured
    )
    for login in LOGINS:
        assert f"{login.email} / {login.password}" in out
    assert (Member.objects.count(), Purchase.objects.count(), LedgerEntry.objects.count(),
            User.objects.count()) == counts


def test_demo_is_a_realistic_program():
    result = demo_data_load(members=150, seed=3, now=NOW)
    program = Program.objects.get()
    assert (program.currency, program.timezone, program.return_window_days, program.expiry_months) == (
        "PLN", "Europe/Warsaw", 14, 12
    )
    assert set(Store.objects.values_list("code", flat=True)) >= {"WAW-01", "KRK-01", "GDN-01"}
    purchases = Purchase.objects.count()
    assert purchases == result.purchases and 15 * 150 < purchases < 25 * 150
    assert set(Purchase.objects.values_list("source", flat=True)) == {Source.DEMO}
    non_members = Purchase.objects.filter(member=None).count()
    assert 0.2 < non_members / purchases < 0.4
    assert Purchase.objects.filter(member=None, points=0).count() == non_members
    refunds = Refund.objects.select_related("purchase")
    assert 0.01 < refunds.count() / purchases < 0.04
    assert any(refund.amount < refund.purchase.amount for refund in refunds)  # partial
    assert any(refund.amount == refund.purchase.amount for refund in refunds)  # full
    # The year ends at the start of today (Warsaw) and weekends are busier than weekdays.
    times = [at.astimezone(program.tz) for at in Purchase.objects.values_list("purchased_at", flat=True)]
    assert max(times).date() < NOW.astimezone(program.tz).date()
    assert min(times) >= NOW.astimezone(program.tz) - dt.timedelta(days=366)
    saturdays = sum(1 for at in times if at.weekday() == 5)
    tuesdays = sum(1 for at in times if at.weekday() == 1)
    assert saturdays > tuesdays
    kinds = set(LedgerEntry.objects.values_list("kind", flat=True))
    assert {"earn", "release", "reversal"} <= kinds
    assert PointsAccount.objects.filter(pending__gt=0).exists()  # the last 14 days are pending
    member = Member.objects.exclude(last_name="").first()
    assert member.card_number.startswith("29") and len(member.card_number) == 13
    # Each consent has its history, given at enrollment.
    consenting = Member.objects.filter(marketing_consent=True)
    assert 0.4 < consenting.count() / 150 < 0.8
    assert ConsentChange.objects.filter(given=True, at=F("member__enrolled_at")).count() == consenting.count()


def test_demo_program_has_tiers_rules_and_bonuses_in_three_languages():
    result = demo_data_load(members=300, seed=3, now=NOW)
    data = program_export()
    assert (data["tier_metric"], data["tier_window_months"]) == ("spend", 12)
    tiers = {tier["code"]: tier for tier in data["tiers"]}
    assert [(code, tier["threshold"], tier["is_paid"]) for code, tier in tiers.items()] == [
        ("silver", "400.00", False), ("gold", "1000.00", False), ("platinum", "2000.00", False), ("vip", None, True),
    ]
    assert (tiers["vip"]["fee"], tiers["vip"]["period_months"]) == ("199.00", 12)
    for tier in tiers.values():
        assert all(tier["name"][lang] for lang in ("en", "pl", "ro"))
        assert all(len(tier["benefits"][lang]) >= 2 for lang in ("en", "pl", "ro"))
    assert tiers["gold"]["name"]["pl"] == "Złoty"
    rules = {rule["key"]: rule for rule in data["rules"]}
    assert rules["Double points weekend"]["weekdays"] == [5, 6]
    assert rules["3x on coffee beans"]["categories"] == ["coffee-beans"]
    assert rules["+50 on first purchase"]["first_purchase_only"] is True
    assert (rules["Coffee stamp card"]["kind"], rules["Coffee stamp card"]["stamps_needed"]) == ("stamps", 9)
    assert rules["Christmas cakes: +100 points"]["starts_at"] == "2025-12-01T00:00:00+01:00"
    assert rules["Afternoon happy hour"]["status"] == "paused"
    assert {bonus["kind"] for bonus in data["bonuses"] if bonus["active"]} == set(ActionBonus.Kind.values)
    # The rules earned in the history: each active one appears in breakdowns, the paused one never.
    named = Counter(
        item["rule"] for breakdown in LedgerEntry.objects.filter(kind="earn").values_list("breakdown", flat=True)
        for item in breakdown
    )
    ids = dict(EarnRule.objects.values_list("name", "pk"))
    for name in ("Double points weekend", "3x on coffee beans", "+50 on first purchase", "Coffee stamp card",
                 "Christmas cakes: +100 points"):
        assert named[ids[name]] > 0, name
    assert named[ids["Afternoon happy hour"]] == 0
    assert named[ids["+50 on first purchase"]] == Member.objects.filter(purchases__isnull=False).distinct().count()
    assert StampCard.objects.filter(completed__gt=0).exists()
    # Receipts have lines that add up to their amount.
    purchase = Purchase.objects.filter(lines__category="coffee-beans").first()
    assert sum(line.amount for line in purchase.lines.all()) == purchase.amount
    # The review put each member on the tier their spend of the last 12 months reaches.
    program = Program.objects.get()
    since = tier_window_start(as_of=NOW, program=program)
    spend = Counter()
    for member_id, amount, refunded in Purchase.objects.filter(member__isnull=False, purchased_at__gte=since)\
            .values_list("member_id", "amount", "refunded_amount"):
        spend[member_id] += amount - refunded
    thresholds = [(Decimal(tier["threshold"]), code) for code, tier in tiers.items() if not tier["is_paid"]]
    expected = {
        member_id: max((code for threshold, code in thresholds if value >= threshold), key=list(tiers).index)
        for member_id, value in spend.items() if value >= thresholds[0][0]
    }
    assert dict(MemberTier.objects.filter(tier__isnull=False).values_list("member_id", "tier__code")) == expected
    assert result.tiers == dict(Counter(expected.values()))
    assert 0.1 < result.tiers["silver"] / 300 < 0.35 and result.tiers["gold"] < result.tiers["silver"]


def test_demo_on_an_empty_program_keeps_its_rules_and_adds_tiers_and_bonuses():
    ProgramFactory(name="Our café")
    own = EarnRuleFactory(name="Our own rule")
    demo_data_load(members=5, seed=1, now=NOW)
    assert Program.objects.get().name == "Our café"
    assert list(EarnRule.objects.values_list("name", "status")) == [("Our own rule", "active")]
    assert own.pk == EarnRule.objects.get().pk
    assert Tier.objects.count() == 4 and ActionBonus.objects.count() == 7
    assert Store.objects.filter(code="WAW-01").exists()


def test_balances_equal_the_ledger():
    demo_data_load(members=60, seed=4, now=NOW)
    assert PointsAccount.objects.count() > 40
    assert list(ledger_offenders()) == []


def test_logins_work_with_their_roles(client):
    demo_data_load(members=10, seed=1, now=NOW)
    for login in LOGINS:
        assert client.login(email=login.email, password=login.password), login.email
        user = User.objects.get(email=login.email)
        assert user.role == login.role
        assert EmailAddress.objects.get(user=user).verified
        client.logout()
    cashier = User.objects.get(email="cashier@demo.example")
    assert sorted(cashier.stores.values_list("code", flat=True)) == ["WAW-01", "WAW-02"]
    member = Member.objects.get(user__email="member@demo.example")
    assert member.email == "member@demo.example"
    assert member.purchases.exists() and PointsAccount.objects.filter(member=member).exists()


def test_refuses_a_database_that_holds_another_program():
    ProgramFactory()
    MemberFactory()
    with pytest.raises(CommandError, match="only fills an empty one"):
        call_command("demo_data", "--members", "5")
    assert not Purchase.objects.exists()


def test_demo_ledger_is_what_live_use_gives():
    """Replay three demo members' purchases and refunds live, in time order, on fresh members.

    The rules, the stamp card, first purchases and the tiers count as live: the
    bulk path moves a member up at the purchase that reaches a tier, and their
    later purchases earn with its multiplier, as a live purchase does.
    """
    demo_data_load(members=40, seed=8, now=NOW)
    refunded = list(
        Member.objects.filter(purchases__refunds__isnull=False).order_by("pk").values_list("pk", flat=True).distinct()
    )[:2]
    regular = Member.objects.annotate(n=Count("purchases")).order_by("-n", "pk").exclude(pk__in=refunded).first()
    busiest = [*Member.objects.filter(pk__in=refunded), regular]
    assert len(refunded) == 2
    compared = upgraded = 0
    for demo_member in busiest:
        twin = MemberFactory()
        events = []
        for purchase in Purchase.objects.filter(member=demo_member):
            events.append((purchase.purchased_at, 0, purchase))
            events.extend((refund.refunded_at, 1, refund) for refund in purchase.refunds.all())
        events.sort(key=lambda event: (event[0], event[1]))
        copies = {}
        for at, kind, item in events:
            if kind == 0:
                copies[item.pk] = purchase_record(
                    external_id=f"twin-{item.external_id}", store=item.store, member=twin, purchased_at=at,
                    amount=item.amount, source=Source.TILL, now=at,
                    lines=[
                        LineInput(sku=line.sku, amount=line.amount, quantity=line.quantity, category=line.category)
                        for line in item.lines.all()
                    ],
                ).purchase
            else:
                refund_record(
                    external_id=f"twin-{item.external_id}",
                    purchase=Purchase.objects.get(pk=copies[item.purchase_id].pk),
                    amount=item.amount, refunded_at=at, source=Source.TILL, now=at,
                )
        points_release_due(as_of=NOW)
        points_expire_due(as_of=NOW)

        def ledger(member):
            return sorted(LedgerEntry.objects.filter(account__member=member).values_list(
                "kind", "points", "available_delta", "pending_delta", "debt_delta", "effective_at",
            ))

        assert ledger(twin) == ledger(demo_member)
        assert PointsAccount.objects.filter(member=twin).values_list("available", "pending", "debt").get() == (
            PointsAccount.objects.filter(member=demo_member).values_list("available", "pending", "debt").get()
        )

        def upgrades(member):
            return list(member.tier_changes.filter(reason="qualified").order_by("at", "pk").values_list(
                "from_tier__code", "to_tier__code", "at"))

        assert upgrades(twin) == upgrades(demo_member)
        upgraded += bool(upgrades(twin))
        compared += 1
    assert compared == 3
    assert upgraded  # a history that crossed a tier, whose multiplier then counted
