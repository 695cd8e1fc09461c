"""demo_data: deterministic, idempotent, realistic, and a ledger that live use would give."""

import datetime as dt

import pytest
from allauth.account.models import EmailAddress
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count, F

from loyalty.demo import LOGINS, demo_data_load
from loyalty.ledger.verify import ledger_offenders
from loyalty.models import LedgerEntry, PointsAccount, PointsLot, Program, Purchase, PurchaseLine, Refund, Source, Store
from loyalty.services.ledger import points_expire_due, points_release_due
from loyalty.services.program import program_cache_clear
from loyalty.services.purchases import purchase_record, refund_record
from members.models import ConsentChange, Member, User
from tests.factories import MemberFactory, ProgramFactory

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
    }


def wipe():
    for model in (LedgerEntry, PointsLot, PointsAccount, Refund, PurchaseLine, Purchase):
        model.objects.all().delete()
    Member.objects.update(referred_by=None)
    for model in (Member, EmailAddress, User, Store, Program):
        model.objects.all().delete()
    program_cache_clear()


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
    assert "Demo data loaded" in capsys.readouterr().out
    call_command("demo_data")  # other (default) arguments: still nothing new
    out = capsys.readouterr().out
    assert "already loaded; nothing changed" in out
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
    """Replay three demo members' purchases and refunds live, in time order, on fresh members."""
    demo_data_load(members=40, seed=8, now=NOW)
    refunded = list(
        Member.objects.filter(purchases__refunds__isnull=False).order_by("pk").values_list("pk", flat=True).distinct()
    )[:2]
    regular = Member.objects.annotate(n=Count("purchases")).order_by("-n", "pk").exclude(pk__in=refunded).first()
    busiest = [*Member.objects.filter(pk__in=refunded), regular]
    assert len(refunded) == 2
    store = Store.objects.get(code="WAW-01")
    compared = 0
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
                    external_id=f"twin-{item.external_id}", store=store, member=twin, purchased_at=at,
                    amount=item.amount, source=Source.TILL, now=at,
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
        compared += 1
    assert compared == 3
