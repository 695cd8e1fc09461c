"""The operators' management commands: time-driven jobs, verify_ledger, the
program file and staff accounts."""

import datetime as dt
import io
import json
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import F

from loyalty.models import LedgerEntry, PointsAccount, PointsLot, Program, Source, Store
from loyalty.services.ledger import points_redeem
from loyalty.services.program import program_get
from loyalty.services.purchases import purchase_record, refund_record
from members.models import User
from tests.factories import MemberFactory, ProgramFactory, StoreFactory

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2025, 1, 10, 12, 0, tzinfo=dt.UTC)


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def ledger_snapshot() -> list[tuple]:
    entries = LedgerEntry.objects.order_by("account_id", "effective_at", "kind", "lot_id").values_list(
        "account_id", "kind", "points", "available_delta", "pending_delta", "debt_delta",
        "effective_at", "lot_id",
    )
    lots = PointsLot.objects.order_by("pk").values_list("pk", "remaining", "status")
    accounts = PointsAccount.objects.order_by("pk").values_list("pk", "available", "pending", "debt")
    return [list(entries), list(lots), list(accounts)]


def history(members, *, days=40, every=3):
    """A purchase every few days for each member, bought and recorded at that time."""
    store = StoreFactory(code="S1")
    for index, member in enumerate(members):
        for day in range(0, days, every):
            at = T0 + dt.timedelta(days=day, hours=index)
            purchase_record(
                external_id=f"R-{member.pk}-{day}", store=store, member=member, purchased_at=at,
                amount=Decimal("10.00") + index, source=Source.IMPORT, now=at,
            )


# -- release_pending / expire_points -------------------------------------------------


def test_release_pending_as_of_gives_the_same_ledger_run_once_or_thrice():
    ProgramFactory(return_window_days=14)
    members = MemberFactory.create_batch(3)
    history(members)
    as_of = (T0 + dt.timedelta(days=50)).isoformat()
    out, _err = run("release_pending", "--as-of", as_of)
    assert "Released" in out
    assert "for 3 members" in out
    once = ledger_snapshot()
    releases = LedgerEntry.objects.filter(kind="release")
    assert releases.exists()
    assert all(e.effective_at == e.lot.available_at for e in releases.select_related("lot"))
    run("release_pending", "--as-of", as_of)
    run("release_pending", "--as-of", as_of)
    assert ledger_snapshot() == once
    run("verify_ledger")


def test_expire_points_as_of_gives_the_same_ledger_run_once_or_thrice():
    ProgramFactory(expiry_months=1)
    members = MemberFactory.create_batch(3)
    history(members, days=20)
    as_of = (T0 + dt.timedelta(days=45)).isoformat()
    out, _err = run("expire_points", "--as-of", as_of)
    assert "Expired" in out
    once = ledger_snapshot()
    expiries = LedgerEntry.objects.filter(kind="expire").select_related("lot")
    assert expiries.exists()
    assert all(e.effective_at == e.lot.expires_at for e in expiries)
    run("expire_points", "--as-of", as_of)
    run("expire_points", "--as-of", as_of)
    assert ledger_snapshot() == once
    run("verify_ledger")


def test_catching_up_in_steps_gives_the_ledger_of_one_late_run():
    ProgramFactory(return_window_days=7, expiry_months=1)
    members = MemberFactory.create_batch(2)
    history(members)
    final = (T0 + dt.timedelta(days=90)).isoformat()
    for day in (5, 20, 33, 61):
        as_of = (T0 + dt.timedelta(days=day)).isoformat()
        run("release_pending", "--as-of", as_of)
        run("expire_points", "--as-of", as_of)
    run("release_pending", "--as-of", final)
    run("expire_points", "--as-of", final)
    stepped = ledger_snapshot()[0]
    # Everything was released and expired, each dated when it fell due: the
    # entries do not depend on when the jobs ran.
    lots = PointsLot.objects.all()
    assert {lot.status for lot in lots} == {"expired"}
    expected = sorted(
        [(lot.account_id, "release", lot.available_at) for lot in lots]
        + [(lot.account_id, "expire", lot.expires_at) for lot in lots]
    )
    done = sorted((a, k, at) for a, k, *_rest, at, _lot in stepped if k in ("release", "expire"))
    assert done == expected


def test_naive_as_of_is_in_the_program_time_zone():
    ProgramFactory(return_window_days=1, timezone="Europe/Warsaw")
    member = MemberFactory()
    at = dt.datetime(2025, 1, 30, 23, 45, tzinfo=dt.UTC)  # due 2025-01-31 23:45 UTC = 00:45 in Warsaw
    purchase_record(external_id="R1", store=StoreFactory(), member=member, purchased_at=at,
                    amount="10.00", source=Source.TILL, now=at)
    run("release_pending", "--as-of", "2025-02-01T00:30")  # 23:30 UTC: not yet due
    assert PointsAccount.objects.get().pending == 10
    run("release_pending", "--as-of", "2025-02-01T00:30+00:00")  # an explicit offset wins
    assert PointsAccount.objects.get().available == 10


@pytest.mark.parametrize("command", ["release_pending", "expire_points"])
@pytest.mark.parametrize("value", ["yesterday", "2025-13-01T00:00", "2999-01-01T00:00:00+00:00"])
def test_bad_as_of_is_refused_naming_the_option(command, value):
    ProgramFactory()
    with pytest.raises(CommandError) as error:
        run(command, "--as-of", value)
    assert str(error.value).startswith("--as-of:")
    assert not LedgerEntry.objects.exists()


# -- verify_ledger -------------------------------------------------------------------


def busy_ledger(count: int):
    """Members with earns, a refund, a redemption, releases and expiries."""
    ProgramFactory(return_window_days=7, expiry_months=1)
    members = MemberFactory.create_batch(count)
    history(members, days=12)
    first = members[0].purchases.order_by("purchased_at").first()
    refund_record(external_id="RF", purchase=first, amount="5.00", source=Source.TILL,
                  refunded_at=T0 + dt.timedelta(days=1), now=T0 + dt.timedelta(days=1))
    points_redeem(member=members[-1], points=3, idempotency_key="r", reason="x", now=T0 + dt.timedelta(days=20))
    run("release_pending", "--as-of", (T0 + dt.timedelta(days=15)).isoformat())
    run("expire_points", "--as-of", (T0 + dt.timedelta(days=42)).isoformat())
    return members


def test_verify_ledger_passes_on_a_clean_ledger():
    busy_ledger(3)
    out, err = run("verify_ledger")
    assert "3 accounts checked" in out
    assert err == ""


def test_verify_ledger_lists_a_member_whose_cached_balance_was_tampered_with():
    members = busy_ledger(3)
    victim = members[1]
    PointsAccount.objects.filter(pk=victim.pk).update(available=F("available") + 7)
    err = io.StringIO()
    with pytest.raises(CommandError) as error:
        call_command("verify_ledger", stdout=io.StringIO(), stderr=err)
    assert error.value.returncode == 1
    assert "1 of 3 accounts" in str(error.value)
    listed = err.getvalue()
    assert f"member {victim.pk} (card {victim.card_number})" in listed
    assert "available" in listed and "!= ledger" in listed and "!= lots" in listed
    assert str(members[0].pk) + " (card" not in listed


def test_verify_ledger_finds_a_lot_that_disagrees_with_the_balance():
    members = busy_ledger(2)
    lot = PointsLot.objects.filter(account_id=members[0].pk, status="pending").first() or PointsLot.objects.filter(
        account_id=members[0].pk, status="available", remaining__gt=1
    ).first()
    PointsLot.objects.filter(pk=lot.pk).update(remaining=F("remaining") - 1)
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("verify_ledger", stdout=io.StringIO(), stderr=err)
    assert f"member {members[0].pk}" in err.getvalue()
    assert "!= lots" in err.getvalue() and "!= ledger" not in err.getvalue()


def test_verify_ledger_query_count_does_not_grow_with_members(django_assert_max_num_queries):
    busy_ledger(2)
    with django_assert_max_num_queries(2):
        run("verify_ledger")
    history(MemberFactory.create_batch(8), days=6)
    with django_assert_max_num_queries(2):
        out, _err = run("verify_ledger")
    assert "10 accounts checked" in out


# -- export_program / import_program --------------------------------------------------


def program_file(tmp_path, data) -> str:
    path = tmp_path / "program.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def test_export_then_import_is_a_no_op(tmp_path):
    ProgramFactory(earn_rate=Decimal("1.5"), point_value=Decimal("0.01"), expiry_months=None)
    StoreFactory(code="WAW-01", name="Warsaw", timezone="Europe/Warsaw")
    StoreFactory(code="BUC-01", name="Bucharest", timezone="Europe/Bucharest")
    out, _err = run("export_program")
    data = json.loads(out)
    assert data["earn_rate"] == "1.50" and data["point_value"] == "0.01"
    assert data["expiry_months"] is None and data["country"] == "PL"
    assert [store["code"] for store in data["stores"]] == ["BUC-01", "WAW-01"]
    before = Program.objects.get().updated_at
    out, _err = run("import_program", program_file(tmp_path, data))
    assert "No changes" in out
    assert Program.objects.get().updated_at == before


def test_import_applies_changes_atomically_and_clears_the_program_cache(tmp_path):
    ProgramFactory()
    StoreFactory(code="OLD", name="Old store")
    assert program_get().earn_rate == Decimal("1")
    data = json.loads(run("export_program")[0])
    data.update(earn_rate="2", expiry_months=12, name="Coffee Club+")
    data["stores"] = [{"code": "NEW", "name": "New store", "timezone": "Europe/Bucharest"}]
    out, _err = run("import_program", program_file(tmp_path, data))
    assert "earn_rate 1.00 -> 2.00" in out and "store NEW created" in out
    program = program_get()
    assert (program.earn_rate, program.expiry_months, program.name) == (Decimal("2"), 12, "Coffee Club+")
    assert set(Store.objects.values_list("code", flat=True)) == {"OLD", "NEW"}  # OLD left alone
    out, _err = run("import_program", program_file(tmp_path, data))
    assert "No changes" in out


def test_import_creates_the_program_on_a_fresh_installation(tmp_path):
    data = {
        "name": "Shop", "currency": "EUR", "country": "RO", "timezone": "Europe/Bucharest",
        "earn_rate": "1", "point_value": "0.01", "return_window_days": 14, "expiry_months": 24,
        "allow_debt": False, "stores": [{"code": "B1", "name": "One", "timezone": "Europe/Bucharest"}],
    }
    out, _err = run("import_program", program_file(tmp_path, data))
    assert "program created" in out
    assert program_get().currency == "EUR" and Store.objects.get().code == "B1"


def test_import_with_bad_values_lists_every_error_with_its_path_and_writes_nothing(tmp_path):
    ProgramFactory()
    StoreFactory(code="S1", name="One")
    data = json.loads(run("export_program")[0])
    data.update(
        currency="XXY", earn_rate=1.5, point_value="abc", timezone="Mars/Olympus",
        return_window_days=-1, expiry_months=0, allow_debt="yes", colour="blue",
    )
    del data["name"]
    data["stores"] = [
        {"code": "S1", "name": "Renamed", "timezone": "Europe/Warsaw"},
        {"code": "S2", "name": "Two", "timezone": "Nowhere/City"},
        {"code": "S1", "name": "Again", "timezone": "Europe/Warsaw"},
        {"code": "bad code!", "name": "", "timezone": "Europe/Warsaw", "floor": 2},
        "S5",
    ]
    err = io.StringIO()
    with pytest.raises(CommandError) as error:
        call_command("import_program", program_file(tmp_path, data), stdout=io.StringIO(), stderr=err)
    assert "nothing was changed" in str(error.value)
    lines = err.getvalue().splitlines()
    paths = {line.split(":", 1)[0] for line in lines}
    assert paths == {
        "name", "colour", "currency", "earn_rate", "point_value", "timezone", "return_window_days",
        "expiry_months", "allow_debt", "stores[1].timezone", "stores[2].code", "stores[3].code",
        "stores[3].name", "stores[3].floor", "stores[4]",
    }
    assert any("Mars/Olympus" in line for line in lines)
    assert Store.objects.get().name == "One"  # the valid store change was not applied either
    assert Program.objects.get().currency == "PLN"


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "line 1, column 2"), ("[]", "(file): must be a JSON object")],
)
def test_import_of_a_broken_file_is_refused(tmp_path, content, message):
    path = tmp_path / "program.json"
    path.write_text(content, encoding="utf-8")
    err = io.StringIO()
    with pytest.raises(CommandError) as error:
        call_command("import_program", str(path), stdout=io.StringIO(), stderr=err)
    assert message in str(error.value) + err.getvalue()
    assert not Program.objects.exists()


def test_import_dry_run_writes_nothing(tmp_path):
    ProgramFactory()
    data = json.loads(run("export_program")[0])
    data["earn_rate"] = "3"
    out, _err = run("import_program", program_file(tmp_path, data), "--dry-run")
    assert "earn_rate" in out and "Dry run" in out
    assert Program.objects.get().earn_rate == Decimal("1")


# -- create_staff_user ---------------------------------------------------------------


def test_create_cashier_with_stores_and_a_generated_password_printed_once():
    StoreFactory(code="S1")
    StoreFactory(code="S2")
    out, _err = run("create_staff_user", "Kasia@Shop.example", "--role", "cashier", "--store", "S1",
                    "--store", "S2", "--no-input")
    user = User.objects.get()
    assert (user.email, user.role) == ("Kasia@shop.example", "cashier")
    assert sorted(user.stores.values_list("code", flat=True)) == ["S1", "S2"]
    password = out.split("shown only now): ")[1].strip()
    assert user.check_password(password)
    assert user.emailaddress_set.get().verified
    assert not user.is_staff and not user.is_superuser  # /admin/ is for superusers only


def test_create_staff_user_updates_an_existing_user_and_keeps_the_password():
    StoreFactory(code="S1")
    run("create_staff_user", "boss@shop.example", "--role", "manager", "--password", "a-Long-pass-99")
    out, _err = run("create_staff_user", "BOSS@shop.example", "--role", "cashier", "--store", "S1")
    assert "Updated existing user" in out and "role manager -> cashier" in out
    assert "shown only now" not in out
    user = User.objects.get()
    assert user.role == "cashier" and user.check_password("a-Long-pass-99")
    out, _err = run("create_staff_user", "boss@shop.example", "--role", "cashier")
    assert "nothing changed" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "cashier"], "--store: A cashier needs at least one store."),
        (["--role", "cashier", "--store", "NOPE"], "--store: unknown store code(s): NOPE"),
        (["--role", "manager", "--password", "123"], "--password:"),
        (["--role", "janitor"], "invalid choice"),
    ],
)
def test_create_staff_user_refuses_bad_input_and_writes_nothing(args, message):
    StoreFactory(code="S1")
    with pytest.raises(CommandError) as error:
        run("create_staff_user", "x@shop.example", *args, "--no-input")
    assert message in str(error.value)
    assert not User.objects.exists()


def test_create_staff_user_refuses_a_bad_email():
    with pytest.raises(CommandError) as error:
        run("create_staff_user", "not-an-email", "--role", "owner", "--no-input")
    assert "EMAIL: not-an-email is not a valid email address." in str(error.value)
