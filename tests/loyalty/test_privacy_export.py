"""The member's own data download (loyalty.privacy): every section, only
their rows, decimals as strings, bounded queries; the ZIP of CSV files."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile
from decimal import Decimal

import pytest
from django.utils import timezone

from loyalty.models import LedgerEntry, PointsAccount, Source
from loyalty.privacy import COLUMNS, member_export_json_chunks, member_export_zip_write
from loyalty.services.ledger import points_adjust
from loyalty.services.purchases import LineInput, purchase_record, refund_record
from members.models import ConsentChange, Delivery, Feedback, Role
from tests.factories import MemberFactory, ProgramFactory, StoreFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def store(db):
    ProgramFactory(return_window_days=14, expiry_months=24)
    return StoreFactory(code="WAW", name="Warsaw Centre")


def _buy(member, store, external_id, amount, *, lines=(), days_ago=1):
    return purchase_record(
        external_id=external_id, store=store, member=member,
        purchased_at=timezone.now() - dt.timedelta(days=days_ago), amount=Decimal(amount),
        lines=lines, source=Source.TILL,
    ).purchase


@pytest.fixture
def member(store):
    member = MemberFactory(
        user=UserFactory(email="ada@example.com"), first_name="Ada", last_name="Nowak",
        email="ada@example.com", phone="+48601234567", birth_date=dt.date(1990, 5, 17), marketing_consent=True,
    )
    ConsentChange.objects.create(member=member, channel="email", given=True, source="signup")
    purchase = _buy(member, store, "R-1", "50.00", lines=[
        LineInput(sku="BEANS", amount=Decimal("30.00"), quantity=Decimal("2"), category="coffee"),
        LineInput(sku="=HYPERLINK(1)", amount=Decimal("20.00")),
    ], days_ago=40)
    refund_record(external_id="RF-1", purchase=purchase, amount="10.00", source=Source.TILL)
    _buy(member, store, "R-2", "12.50")
    points_adjust(member=member, points=5, reason="Sorry", actor=UserFactory(role=Role.OWNER), idempotency_key="k")
    Feedback.objects.create(member=member, score=9, comment="-Nice")
    Delivery.objects.create(member=member, channel="email", kind="claim", recipient="ada@example.com",
                            subject="Your card", body="secret link", status="logged")
    return member


@pytest.fixture
def other(store):
    other = MemberFactory(first_name="Zed", email="zed@example.com")
    _buy(other, store, "THEIRS", "99.00")
    Feedback.objects.create(member=other, score=1, comment="Zed was here")
    return other


def _json(member, **kwargs):
    return json.loads("".join(member_export_json_chunks(member=member, **kwargs)))


def test_json_holds_every_section(member, other):
    data = _json(member, program_name="Coffee Club")
    assert data["format"] == "loyalty-member-export" and data["version"] == 1
    assert data["program"] == "Coffee Club"
    assert list(data) == [
        "format", "version", "exported_at", "program", "profile",
        "consents", "purchases", "refunds", "ledger", "lots", "feedback", "messages", "vouchers",
    ]
    profile = data["profile"]
    assert (profile["first_name"], profile["email"], profile["phone"], profile["birth_date"]) == (
        "Ada", "ada@example.com", "+48601234567", "1990-05-17",
    )
    assert profile["card_number"] == member.card_number and profile["login_email"] == "ada@example.com"
    account = PointsAccount.objects.get(member=member)
    assert (profile["points_available"], profile["points_pending"], profile["points_debt"]) == (
        account.available, account.pending, account.debt,
    )
    assert [(c["channel"], c["given"], c["source"]) for c in data["consents"]] == [("email", True, "signup")]
    assert [p["receipt"] for p in data["purchases"]] == ["R-1", "R-2"]
    first = data["purchases"][0]
    assert (first["amount"], first["refunded_amount"], first["store"]) == ("50.00", "10.00", "Warsaw Centre")
    assert first["lines"] == [
        {"sku": "BEANS", "category": "coffee", "quantity": "2.000", "amount": "30.00"},
        {"sku": "=HYPERLINK(1)", "category": "", "quantity": "1.000", "amount": "20.00"},
    ]
    assert [(r["refund_id"], r["receipt"], r["amount"]) for r in data["refunds"]] == [("RF-1", "R-1", "10.00")]
    assert data["feedback"] == [{"given_at": data["feedback"][0]["given_at"], "score": 9, "comment": "-Nice"}]
    assert data["messages"][0]["recipient"] == "ada@example.com"
    assert "body" not in data["messages"][0]  # a logged message may hold a one-time link
    assert len(data["lots"]) == 3  # two purchases and the adjustment


def test_json_ledger_sums_to_the_balances(member):
    data = _json(member)
    account = PointsAccount.objects.get(member=member)
    assert sum(e["available_change"] for e in data["ledger"]) == account.available
    assert sum(e["pending_change"] for e in data["ledger"]) == account.pending
    assert len(data["ledger"]) == LedgerEntry.objects.filter(account_id=member.pk).count()
    assert {e["kind"] for e in data["ledger"]} >= {"earn", "release", "reversal", "adjust"}
    assert [e["reason"] for e in data["ledger"] if e["kind"] == "adjust"] == ["Sorry"]


def test_json_holds_nothing_of_another_member(member, other):
    text = "".join(member_export_json_chunks(member=member))
    for theirs in ("THEIRS", "Zed", "zed@example.com", other.card_number, "99.00"):
        assert theirs not in text


def test_json_of_a_member_with_nothing_is_still_valid(store):
    data = _json(MemberFactory(user=None))
    assert data["purchases"] == [] and data["ledger"] == [] and data["profile"]["login_email"] is None
    assert data["profile"]["points_available"] == 0


def test_json_is_streamed_in_pieces(member):
    chunks = list(member_export_json_chunks(member=member))
    assert len(chunks) > 10
    assert max(len(chunk) for chunk in chunks) < 2000


@pytest.mark.parametrize("purchases", [2, 40])
def test_export_queries_do_not_grow_with_a_short_history(store, purchases, django_assert_max_num_queries):
    member = MemberFactory()
    for n in range(purchases):
        _buy(member, store, f"N-{n}", "3.00", lines=[LineInput(sku="A", amount=Decimal("3.00"))])
    # profile, account, user + one per section (purchases: + lines)
    with django_assert_max_num_queries(12):
        _json(member)
    with django_assert_max_num_queries(14):
        member_export_zip_write(member=member, fileobj=io.BytesIO())


def _zip(member) -> dict[str, list[dict]]:
    buffer = io.BytesIO()
    member_export_zip_write(member=member, fileobj=buffer)
    with zipfile.ZipFile(buffer) as archive:
        files = {}
        for name in archive.namelist():
            raw = archive.read(name)
            assert raw.startswith(b"\xef\xbb\xbf")  # a BOM, so spreadsheets read UTF-8
            reader = csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))
            assert reader.fieldnames == COLUMNS[name.removesuffix(".csv")]
            files[name] = list(reader)
    return files


def test_zip_has_one_csv_per_section(member, other):
    files = _zip(member)
    assert set(files) == {
        "profile.csv", "consents.csv", "purchases.csv", "purchase_lines.csv", "refunds.csv", "ledger.csv",
        "lots.csv", "feedback.csv", "messages.csv", "vouchers.csv",
    }
    assert [row["email"] for row in files["profile.csv"]] == ["ada@example.com"]
    assert [row["receipt"] for row in files["purchases.csv"]] == ["R-1", "R-2"]
    assert [(row["receipt"], row["sku"]) for row in files["purchase_lines.csv"]] == [
        ("R-1", "BEANS"), ("R-1", "'=HYPERLINK(1)"),
    ]
    assert [row["refund_id"] for row in files["refunds.csv"]] == ["RF-1"]
    assert len(files["ledger.csv"]) == LedgerEntry.objects.filter(account_id=member.pk).count()
    assert "THEIRS" not in json.dumps(files)


def test_zip_cells_cannot_run_as_spreadsheet_formulas_but_phones_stay(member):
    files = _zip(member)
    assert files["feedback.csv"][0]["comment"] == "'-Nice"
    assert files["profile.csv"][0]["phone"] == "+48601234567"


def test_the_export_lists_the_members_own_vouchers(member, other):
    from rewards.services.gifts import campaign_create, campaign_issue
    from tests.factories import RewardFactory

    campaign = campaign_create(
        name="Gift", reward=RewardFactory(name_en="Free latte"), valid_until=timezone.now() + dt.timedelta(days=9)
    )
    campaign_issue(campaign=campaign, member_ids=[member.pk, other.pk])
    mine = campaign.vouchers.get(member=member)

    data = _json(member)
    files = _zip(member)

    assert [(row["code"], row["reward"], row["origin"]) for row in data["vouchers"]] == [
        (mine.display_code, "Free latte", "campaign")
    ]
    assert [row["code"] for row in files["vouchers.csv"]] == [mine.display_code]
