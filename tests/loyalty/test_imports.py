"""CSV imports of members and purchases: bad input, idempotency, and the ledger they yield."""

import datetime as dt
import random
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from loyalty.imports import import_members, import_purchases
from loyalty.ledger.verify import ledger_offenders
from loyalty.models import LedgerEntry, PointsAccount, PointsLot, Purchase, Refund, Source
from loyalty.services.ledger import points_expire_due, points_release_due
from loyalty.services.purchases import purchase_record, refund_record
from members.models import ConsentChange, Member
from tests.factories import MemberFactory, ProgramFactory, StoreFactory, card_number

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
PURCHASES_HEADER = "external_id,member,store,purchased_at,amount,currency,kind,refers_to"
MEMBERS_HEADER = "external_id,card_number,email,phone,first_name,last_name,birth_date,enrolled_at,store,language,marketing_consent,referred_by"  # noqa: E501


@pytest.fixture
def program():
    program = ProgramFactory(return_window_days=14, expiry_months=6)
    StoreFactory(code="WAW-01")
    StoreFactory(code="KRK-01")
    return program


@pytest.fixture
def member(program):
    return MemberFactory(external_id="M-1", card_number=card_number(1))


def write(tmp_path, text, *, name="data.csv", encoding="utf-8", bom=False):
    path = tmp_path / name
    data = text.encode(encoding)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def purchases_csv(tmp_path, *rows, header=PURCHASES_HEADER, **kwargs):
    return write(tmp_path, "\n".join([header, *rows]) + "\n", **kwargs)


def nothing_written():
    return not (
        Purchase.objects.exists() or Refund.objects.exists() or LedgerEntry.objects.exists()
        or PointsLot.objects.exists()
    )


def only_error(result):
    assert not result.ok
    assert result.error_count == len(result.errors) == 1, result.errors
    return result.errors[0]


# -- purchases: bad input -------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "words"),
    [("0", "positive"), ("-5.00", "positive"), ("\"12,50\"", "positive"), ("1.999", "2 decimal places")],
)
def test_bad_amount_names_line_and_field_and_writes_nothing(tmp_path, member, amount, words):
    path = purchases_csv(
        tmp_path,
        "R-1,M-1,WAW-01,2025-05-01T10:00,10.00,,,",
        f"R-2,M-1,WAW-01,2025-05-02T10:00,{amount},,,",
    )
    error = only_error(import_purchases(file=path, now=NOW))
    assert (error.line, error.field) == (3, "amount")
    assert words in error.message
    assert nothing_written()


def test_other_currency_is_refused(tmp_path, member):
    path = purchases_csv(tmp_path, "R-1,M-1,WAW-01,2025-05-01T10:00,10.00,EUR,,")
    error = only_error(import_purchases(file=path, now=NOW))
    assert (error.line, error.field) == (2, "currency")
    assert error.message == "The currency EUR is not the program currency PLN."
    assert nothing_written()


def test_unknown_store_is_refused(tmp_path, member):
    path = purchases_csv(tmp_path, "R-1,M-1,GDN-09,2025-05-01T10:00,10.00,,,")
    error = only_error(import_purchases(file=path, now=NOW))
    assert (error.line, error.field) == (2, "store")
    assert "GDN-09" in error.message
    assert nothing_written()


def test_unknown_member_is_refused(tmp_path, member):
    path = purchases_csv(tmp_path, "R-1,M-404,WAW-01,2025-05-01T10:00,10.00,,,")
    error = only_error(import_purchases(file=path, now=NOW))
    assert (error.line, error.field) == (2, "member")
    assert "M-404" in error.message
    assert nothing_written()


def test_member_is_found_by_card_number(tmp_path, member):
    path = purchases_csv(tmp_path, f"R-1,{member.card_number},WAW-01,2025-05-01T10:00,10.00,,,")
    assert import_purchases(file=path, now=NOW).ok
    assert Purchase.objects.get().member == member


def test_refund_above_what_is_still_refundable_counts_earlier_refunds_in_the_file(tmp_path, member):
    path = purchases_csv(
        tmp_path,
        "R-1,M-1,WAW-01,2025-05-01T10:00,100.00,,,",
        "RF-1,,WAW-01,2025-05-02T10:00,60.00,,refund,R-1",
        "RF-2,,WAW-01,2025-05-03T10:00,40.01,,refund,R-1",
    )
    error = only_error(import_purchases(file=path, now=NOW))
    assert (error.line, error.field) == (4, "amount")
    assert error.message == "At most 40.00 of this purchase can still be refunded."
    assert nothing_written()


def test_refund_above_what_an_imported_purchase_still_allows(tmp_path, member):
    purchases_csv(tmp_path, "R-1,M-1,WAW-01,2025-05-01T10:00,100.00,,,", name="first.csv")
    assert import_purchases(file=tmp_path / "first.csv", now=NOW).ok
    path = purchases_csv(
        tmp_path,
        "RF-1,,WAW-01,2025-05-02T10:00,70.00,,refund,R-1",
        "RF-2,,WAW-01,2025-05-03T10:00,30.01,,refund,R-1",
    )
    error = only_error(import_purchases(file=path, now=NOW))
    assert (error.line, error.field) == (3, "amount")
    assert "30.00" in error.message
    assert not Refund.objects.exists()


@pytest.mark.parametrize(
    ("row", "field", "words"),
    [
        ("RF-1,,WAW-01,2025-05-02T10:00,10.00,,refund,R-9", "refers_to", "No purchase"),
        ("RF-1,,WAW-01,2025-05-02T10:00,10.00,,refund,", "refers_to", "required"),
        ("RF-1,,WAW-01,2025-04-30T10:00,10.00,,refund,R-1", "purchased_at", "before its purchase"),
        ("RF-1,M-2,WAW-01,2025-05-02T10:00,10.00,,refund,R-1", "member", "another member"),
        ("R-2,M-1,WAW-01,2025-05-02T10:00,10.00,,purchase,R-1", "refers_to", "Only a refund"),
        ("R-2,M-1,WAW-01,2025-05-02T10:00,10.00,,gift,", "kind", "gift"),
        ("R-2,M-1,WAW-01,2027-05-02T10:00,10.00,,,", "purchased_at", "future"),
    ],
)
def test_bad_refund_and_kind_rows(tmp_path, member, row, field, words):
    MemberFactory(external_id="M-2")
    path = purchases_csv(tmp_path, "R-1,M-1,WAW-01,2025-05-01T10:00,100.00,,,", row)
    error = only_error(import_purchases(file=path, now=NOW))
    assert (error.line, error.field) == (3, field)
    assert words in error.message
    assert nothing_written()


def test_refund_listed_before_its_purchase_is_refused(tmp_path, member):
    path = purchases_csv(
        tmp_path,
        "RF-1,,WAW-01,2025-05-02T10:00,10.00,,refund,R-1",
        "R-1,M-1,WAW-01,2025-05-01T10:00,100.00,,,",
    )
    error = only_error(import_purchases(file=path, now=NOW))
    assert (error.line, error.field) == (2, "refers_to")
    assert "line 3" in error.message
    assert nothing_written()


@pytest.mark.parametrize("value", ["yesterday", "2025-13-01T10:00", "2025-05-01", "01/05/2025 10:00"])
def test_unparseable_date_names_the_field(tmp_path, member, value):
    path = purchases_csv(tmp_path, f"R-1,M-1,WAW-01,{value},10.00,,,")
    error = only_error(import_purchases(file=path, now=NOW))
    assert (error.line, error.field) == (2, "purchased_at")
    assert value in error.message and "ISO 8601" in error.message
    assert nothing_written()


def test_wrong_header_names_the_unknown_and_the_missing_columns(tmp_path, member):
    path = purchases_csv(
        tmp_path, "R-1,M-1,WAW-01,2025-05-01T10:00,10.00",
        header="receipt,member,store,purchased_at,amount",
    )
    result = import_purchases(file=path, now=NOW)
    assert [(error.line, error.field) for error in result.errors] == [(1, "external_id"), (1, "receipt")]
    assert "Required column external_id is missing." in result.errors[0].message
    assert "Unknown column 'receipt'" in result.errors[1].message
    assert nothing_written()


def test_unknown_column_is_an_error(tmp_path, member):
    path = purchases_csv(
        tmp_path, "R-1,M-1,WAW-01,2025-05-01T10:00,10.00,,,,x", header=PURCHASES_HEADER + ",cashier"
    )
    error = only_error(import_purchases(file=path, now=NOW))
    assert (error.line, error.field) == (1, "cashier")
    assert "Unknown column 'cashier'" in error.message
    assert nothing_written()


def test_missing_required_column_is_an_error(tmp_path, member):
    path = purchases_csv(tmp_path, "R-1,M-1,WAW-01,2025-05-01T10:00", header="external_id,member,store,purchased_at")
    error = only_error(import_purchases(file=path, now=NOW))
    assert (error.line, error.field) == (1, "amount")
    assert error.message == "Required column amount is missing."
    assert nothing_written()


def test_file_that_is_not_utf8_is_refused(tmp_path, member):
    path = purchases_csv(
        tmp_path, "R-1,M-1,WAW-01,2025-05-01T10:00,10.00,,,", "R-2,M-1,WAW-01,2025-05-01T10:00,10.00,,,",
        "R-3,M-1,WAW-01,2025-05-01T10:00,10.00,,,", "R-Łódź,M-1,WAW-01,2025-05-01T10:00,10.00,,,",
        encoding="cp1250",
    )
    error = only_error(import_purchases(file=path, now=NOW))
    assert error.line == 5
    assert "not UTF-8" in error.message
    assert nothing_written()


def test_semicolon_separated_file_gets_a_clear_message(tmp_path, member):
    path = purchases_csv(
        tmp_path, "R-1;M-1;WAW-01;2025-05-01T10:00;10.00;;;", header=PURCHASES_HEADER.replace(",", ";")
    )
    error = only_error(import_purchases(file=path, now=NOW))
    assert error.line == 1
    assert "semicolons" in error.message and "commas" in error.message
    assert nothing_written()


def test_empty_file_and_wrong_cell_count(tmp_path, member):
    error = only_error(import_purchases(file=write(tmp_path, ""), now=NOW))
    assert error.line == 1 and "empty" in error.message
    path = purchases_csv(tmp_path, "R-1,M-1,WAW-01,2025-05-01T10:00,10.00,,,,,")
    error = only_error(import_purchases(file=path, now=NOW))
    assert error.line == 2 and "10 values; the header has 8" in error.message
    assert nothing_written()


def test_duplicate_external_id_within_the_file(tmp_path, member):
    path = purchases_csv(
        tmp_path,
        "R-1,M-1,WAW-01,2025-05-01T10:00,10.00,,,",
        "R-2,M-1,WAW-01,2025-05-01T11:00,10.00,,,",
        "R-1,,WAW-01,2025-05-01T12:00,20.00,,,",
    )
    error = only_error(import_purchases(file=path, now=NOW))
    assert (error.line, error.field) == (4, "external_id")
    assert error.message == "R-1 is already used on line 2 of this file."
    assert nothing_written()


def test_every_bad_row_is_reported_in_line_order(tmp_path, member):
    path = purchases_csv(
        tmp_path,
        "R-1,M-1,XXX,2025-05-01T10:00,10.00,EUR,,",
        "R-2,M-1,WAW-01,2025-05-01T10:00,10.00,,,",
        "R-3,M-404,WAW-01,soon,0,,,",
        "R-1,,WAW-01,2025-05-01T11:00,10.00,,,",
        "RF-1,,WAW-01,2025-05-02T10:00,5.00,,refund,R-3",
    )
    result = import_purchases(file=path, now=NOW)
    assert [(error.line, error.field) for error in result.errors] == [
        (2, "currency"), (2, "store"), (4, "amount"), (4, "member"), (4, "purchased_at"), (5, "external_id"),
    ]  # the refund of the bad line 4 is not reported again
    assert result.errors[-1].message == "R-1 is already used on line 2 of this file."
    assert nothing_written()


def test_bom_is_accepted_and_column_order_is_free(tmp_path, member):
    path = write(
        tmp_path,
        "amount,purchased_at,store,external_id,member\n10.00,2025-05-01T10:00,WAW-01,R-1,M-1\n",
        bom=True,
    )
    result = import_purchases(file=path, now=NOW)
    assert result.ok and result.purchases == 1
    purchase = Purchase.objects.get()
    assert purchase.source == Source.IMPORT
    assert purchase.purchased_at == dt.datetime(2025, 5, 1, 8, 0, tzinfo=dt.UTC)  # naive = Warsaw (UTC+2)


def test_rerunning_the_same_file_changes_nothing(tmp_path, member):
    path = purchases_csv(
        tmp_path,
        "R-1,M-1,WAW-01,2025-05-01T10:00,100.00,PLN,,",
        "R-2,,KRK-01,2025-05-01T11:00:00+00:00,20.00,,,",
        "RF-1,,WAW-01,2025-05-03T10:00,25.50,,refund,R-1",
    )
    first = import_purchases(file=path, now=NOW)
    assert (first.purchases, first.refunds, first.skipped) == (2, 1, 0)
    snapshot = sorted(LedgerEntry.objects.values_list("kind", "points", "effective_at", "idempotency_key"))
    again = import_purchases(file=path, now=NOW + dt.timedelta(days=30))
    assert again.ok and (again.purchases, again.refunds, again.skipped) == (0, 0, 3)
    assert (Purchase.objects.count(), Refund.objects.count()) == (2, 1)
    assert sorted(LedgerEntry.objects.values_list("kind", "points", "effective_at", "idempotency_key")) == snapshot


def test_same_external_id_with_other_data_is_refused(tmp_path, member):
    purchases_csv(tmp_path, "R-1,M-1,WAW-01,2025-05-01T10:00,100.00,,,", name="first.csv")
    assert import_purchases(file=tmp_path / "first.csv", now=NOW).ok
    path = purchases_csv(tmp_path, "R-1,M-1,WAW-01,2025-05-01T10:00,100.01,,,", "R-2,M-1,WAW-01,2025-05-01T10:00,5,,,")
    error = only_error(import_purchases(file=path, now=NOW))
    assert (error.line, error.field) == (2, "external_id")
    assert "already used for a different purchase" in error.message
    assert Purchase.objects.count() == 1


def test_live_resend_of_an_imported_purchase_is_taken_once(tmp_path, member):
    path = purchases_csv(tmp_path, "R-1,M-1,WAW-01,2025-05-01T10:00:00+02:00,100.00,,,")
    assert import_purchases(file=path, now=NOW).ok
    result = purchase_record(
        external_id="R-1", store=StoreFactory(code="WAW-01"), member=member,
        purchased_at=dt.datetime(2025, 5, 1, 8, 0, tzinfo=dt.UTC), amount="100.00", source=Source.API, now=NOW,
    )
    assert not result.created and result.points == 100
    assert LedgerEntry.objects.filter(kind="earn").count() == 1


def test_non_member_purchases_move_no_points(tmp_path, program):
    path = purchases_csv(
        tmp_path, "R-1,,WAW-01,2025-05-01T10:00,100.00,,,", "RF-1,,WAW-01,2025-05-02T10:00,100.00,,refund,R-1"
    )
    result = import_purchases(file=path, now=NOW)
    assert result.ok and (result.purchases, result.refunds) == (1, 1)
    purchase = Purchase.objects.get()
    assert (purchase.points, purchase.refunded_amount) == (0, Decimal("100.00"))
    assert not LedgerEntry.objects.exists() and not PointsAccount.objects.exists()


def test_command_prints_errors_and_fails(tmp_path, member, capsys):
    path = purchases_csv(tmp_path, "R-1,M-1,WAW-01,2025-05-01T10:00,0,,,")
    with pytest.raises(CommandError, match=r"1 error in .*nothing was imported"):
        call_command("import_purchases", str(path))
    assert "line 2, amount: The amount must be a positive number" in capsys.readouterr().err


def test_command_prints_a_summary(tmp_path, member, capsys):
    path = purchases_csv(tmp_path, "R-1,M-1,WAW-01,2025-05-01T10:00,12.00,,,")
    call_command("import_purchases", str(path))
    assert "Imported 1 purchases and 0 refunds" in capsys.readouterr().out


# -- the ledger: an import yields what live use would have ---------------------------------


def _scenario(seed: int, members: list[str], *, start: dt.datetime, days: int, solo: str | None = None):
    """Purchases and refunds (some partial, some after release or expiry) in time order."""
    rng = random.Random(seed)
    events = []
    purchases = []
    for index in range(60):
        at = start + dt.timedelta(days=rng.uniform(0, days), seconds=index)
        member = rng.choice([*members, None])
        events.append(("p", f"P{index}", member, at, Decimal(rng.randint(100, 20000)) / 100))
    events.sort(key=lambda event: event[3])
    for event in events:
        purchases.append(event)
    refunds = []
    refunded: dict[str, Decimal] = {}
    for index in range(25):
        _kind, purchase_id, member, at, amount = rng.choice(purchases)
        left = amount - refunded.get(purchase_id, Decimal(0))
        if left <= 0:
            continue
        part = left if rng.random() < 0.4 else (left * Decimal(rng.uniform(0.1, 0.9))).quantize(Decimal("0.01"))
        if part <= 0:
            continue
        refunded[purchase_id] = refunded.get(purchase_id, Decimal(0)) + part
        when = at + dt.timedelta(days=rng.choice([0.5, 3, 10, 20, 90, 200, 250]))
        refunds.append(("r", f"F{index}", purchase_id, min(when, NOW - dt.timedelta(hours=1)), part))
    if solo:
        # A refund after the lot expired, with nothing else to take from: a debt
        # (or, without debts, forgiven) that the next release repays.
        day = dt.timedelta(days=1)
        events += [
            ("p", "S1", solo, start, Decimal("100.00")),
            ("p", "S2", solo, start + 150 * day, Decimal("30.00")),
            ("p", "S3", solo, start + 200 * day, Decimal("50.00")),
        ]
        refunds += [
            ("r", "SF1", "S1", start + 170 * day, Decimal("100.00")),
            ("r", "SF3", "S3", start + 203 * day, Decimal("10.00")),
        ]
    return sorted(events + refunds, key=lambda event: event[3])


def _feed_live(events, *, prefix: str, member_of, store):
    purchases = {}
    for event in events:
        if event[0] == "p":
            _kind, external_id, member, at, amount = event
            purchases[external_id] = purchase_record(
                external_id=prefix + external_id, store=store, member=member_of(member), purchased_at=at,
                amount=amount, source=Source.TILL, now=at,
            ).purchase
        else:
            _kind, external_id, purchase_id, at, amount = event
            purchase = Purchase.objects.get(pk=purchases[purchase_id].pk)
            refund_record(
                external_id=prefix + external_id, purchase=purchase, amount=amount, refunded_at=at,
                source=Source.TILL, now=at,
            )


def _rows(events, *, prefix: str, member_ref):
    rows = []
    for event in events:
        if event[0] == "p":
            _kind, external_id, member, at, amount = event
            ref = member_ref(member) if member else ""
            rows.append(f"{prefix}{external_id},{ref},WAW-01,{at.isoformat()},{amount},,purchase,")
        else:
            _kind, external_id, purchase_id, at, amount = event
            rows.append(f"{prefix}{external_id},,WAW-01,{at.isoformat()},{amount},,refund,{prefix}{purchase_id}")
    return rows


def _ledger_of(member: Member):
    """A member's ledger with keys by external id, comparable across members."""
    prefix = len("L-")

    def name(entry):
        if entry.refund_id:
            return entry.refund.external_id[prefix:]
        if entry.purchase_id:
            return entry.purchase.external_id[prefix:]
        return entry.lot.purchase.external_id[prefix:]

    entries = sorted(
        (
            entry.kind, entry.points, entry.available_delta, entry.pending_delta, entry.debt_delta,
            entry.effective_at, entry.idempotency_key.split(":")[0], name(entry),
        )
        for entry in LedgerEntry.objects.filter(account__member=member).select_related(
            "purchase", "refund", "lot__purchase"
        )
    )
    lots = sorted(
        (lot.purchase.external_id[prefix:], lot.points, lot.remaining, lot.status, lot.earned_at,
         lot.available_at, lot.expires_at)
        for lot in PointsLot.objects.filter(account__member=member).select_related("purchase")
    )
    account = PointsAccount.objects.filter(member=member).first()
    balances = (account.available, account.pending, account.debt, account.next_due_at) if account else None
    return entries, lots, balances


def assert_balances_equal_the_ledger():
    assert list(ledger_offenders()) == []  # what verify_ledger checks, in one query
    for account in PointsAccount.objects.all():
        entries = LedgerEntry.objects.filter(account=account)
        assert account.available == sum(entries.values_list("available_delta", flat=True))
        assert account.pending == sum(entries.values_list("pending_delta", flat=True))
        assert account.debt == sum(entries.values_list("debt_delta", flat=True))
        lots = PointsLot.objects.filter(account=account)
        assert account.available == sum(lots.filter(status="available").values_list("remaining", flat=True))
        assert account.pending == sum(lots.filter(status="pending").values_list("remaining", flat=True))


def _keys_are_the_live_ones():
    for entry in LedgerEntry.objects.select_related("purchase", "refund"):
        kind = entry.kind
        expected = {
            "earn": f"purchase:{entry.purchase_id}", "reversal": f"refund:{entry.refund_id}",
        }.get(kind, f"{kind}:{entry.lot_id}")
        assert entry.idempotency_key == expected


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("allow_debt", [True, False])
def test_import_yields_the_ledger_of_live_use(tmp_path, seed, allow_debt):
    ProgramFactory(return_window_days=14, expiry_months=3, allow_debt=allow_debt)
    store = StoreFactory(code="WAW-01")
    names = ["a", "b", "c", "solo"]
    live = {name: MemberFactory(external_id=f"L-{name}") for name in names}
    imported = {name: MemberFactory(external_id=f"I-{name}") for name in names}
    events = _scenario(seed, names[:3], start=NOW - dt.timedelta(days=330), days=320, solo="solo")

    _feed_live(events, prefix="L-", member_of=lambda name: live.get(name), store=store)
    points_release_due(as_of=NOW)
    points_expire_due(as_of=NOW)

    path = purchases_csv(tmp_path, *_rows(events, prefix="I-", member_ref=lambda name: f"I-{name}"))
    result = import_purchases(file=path, now=NOW)
    assert result.ok, result.errors

    kinds = set(LedgerEntry.objects.values_list("kind", flat=True))
    assert {"earn", "release", "expire", "reversal"} <= kinds
    assert LedgerEntry.objects.exclude(debt_delta=0).exists() == allow_debt
    for name in names:
        assert _ledger_of(imported[name]) == _ledger_of(live[name])
    def purchases(prefix):
        return sorted(
            (p.external_id[2:], p.points, p.points_kept, p.refunded_amount)
            for p in Purchase.objects.filter(external_id__startswith=prefix)
        )

    def refunds(prefix):
        return sorted(
            Refund.objects.filter(external_id__startswith=prefix).values_list("amount", "points_reversed")
        )

    assert purchases("I-") == purchases("L-")
    assert refunds("I-") == refunds("L-")
    assert_balances_equal_the_ledger()
    _keys_are_the_live_ones()


def test_import_appends_to_an_existing_ledger_as_live_use_would(tmp_path):
    ProgramFactory(return_window_days=7, expiry_months=2)
    store = StoreFactory(code="WAW-01")
    live, imported = MemberFactory(external_id="L-a"), MemberFactory(external_id="I-a")
    events = _scenario(7, ["a"], start=NOW - dt.timedelta(days=200), days=190)
    events = [event for event in events if event[0] == "r" or event[2] == "a"]
    events = [event for event in events if event[0] == "p" or any(e[1] == event[2] for e in events)]
    half = len(events) // 2
    member_of = {"a": None}

    member_of["a"] = live
    _feed_live(events, prefix="L-", member_of=member_of.get, store=store)
    points_release_due(as_of=NOW)
    points_expire_due(as_of=NOW)

    member_of["a"] = imported
    _feed_live(events[:half], prefix="I-", member_of=member_of.get, store=store)  # live history first
    path = purchases_csv(tmp_path, *_rows(events[half:], prefix="I-", member_ref=lambda name: "I-a"))
    result = import_purchases(file=path, now=NOW)
    assert result.ok, result.errors

    assert _ledger_of(imported) == _ledger_of(live)
    assert_balances_equal_the_ledger()


# -- members ----------------------------------------------------------------------------


def members_csv(tmp_path, *rows, header=MEMBERS_HEADER, **kwargs):
    return write(tmp_path, "\n".join([header, *rows]) + "\n", **kwargs)


def test_members_import_creates_members_with_cards_phones_and_referrals(tmp_path, program):
    path = members_csv(
        tmp_path,
        f"OLD-1,{card_number(7)},anna@example.pl,,Anna,Nowak,1990-04-01,2024-01-15,WAW-01,pl,yes,",
        "OLD-2,,,601 234 567,Jan,Kowalski,,2024-02-01T09:30,KRK-01,,no,OLD-3",
        "OLD-3,,ewa@example.pl,+48 512 345 678,,,,2024-03-01T10:00:00+00:00,,,,OLD-1",
        bom=True,
    )
    result = import_members(file=path, now=NOW)
    assert result.ok, result.errors
    assert result.created == 3
    anna = Member.objects.get(external_id="OLD-1")
    assert anna.card_number == card_number(7)
    assert anna.language == "pl" and anna.marketing_consent and anna.enrollment_store.code == "WAW-01"
    assert anna.enrolled_at == dt.datetime(2024, 1, 14, 23, 0, tzinfo=dt.UTC)  # midnight in Warsaw
    jan = Member.objects.get(external_id="OLD-2")
    assert str(jan.phone) == "+48601234567"
    assert len(jan.card_number) == 13 and jan.card_number != anna.card_number
    assert jan.referred_by.external_id == "OLD-3"
    assert Member.objects.get(external_id="OLD-3").referred_by == anna


def test_members_import_starts_the_consent_history_once(tmp_path, program):
    path = members_csv(
        tmp_path, "OLD-1,,anna@example.pl,,Anna,,,2024-01-15,,,yes,", "OLD-2,,jan@example.pl,,Jan,,,2024-01-16,,,no,"
    )
    assert import_members(file=path, now=NOW).ok
    assert import_members(file=path, now=NOW).ok  # a re-run adds nothing
    history = list(ConsentChange.objects.values_list("member__external_id", "channel", "given", "at", "source"))
    assert history == [("OLD-1", "email", True, dt.datetime(2024, 1, 14, 23, 0, tzinfo=dt.UTC), "import")]


def test_members_import_rerun_changes_nothing_and_other_data_is_refused(tmp_path, program):
    path = members_csv(tmp_path, "OLD-1,,anna@example.pl,,Anna,,,2024-01-15,,,,")
    assert import_members(file=path, now=NOW).created == 1
    card = Member.objects.get().card_number
    again = import_members(file=path, now=NOW)
    assert again.ok and (again.created, again.skipped) == (0, 1)
    assert Member.objects.get().card_number == card
    changed = members_csv(tmp_path, "OLD-1,,anna@example.pl,,Anna,Nowak,,2024-01-15,,,,", name="changed.csv")
    error = only_error(import_members(file=changed, now=NOW))
    assert (error.line, error.field) == (2, "external_id")
    assert Member.objects.get().last_name == ""


@pytest.mark.parametrize(
    ("row", "field", "words"),
    [
        ("OLD-9,1234567890123,x@example.pl,,,,,2024-01-01,,,,", "card_number", "not a valid card number"),
        ("OLD-9,,not-an-email,,,,,2024-01-01,,,,", "email", "not a valid email"),
        ("OLD-9,,,12,,,,2024-01-01,,,,", "phone", "not a phone number"),
        ("OLD-9,,,,Ann,,,2024-01-01,,,,", "email", "email address or a phone number"),
        ("OLD-9,,x@example.pl,,,,1990-02-30,2024-01-01,,,,", "birth_date", "YYYY-MM-DD"),
        ("OLD-9,,x@example.pl,,,,,last year,,,,", "enrolled_at", "ISO 8601"),
        ("OLD-9,,x@example.pl,,,,,,,,,", "enrolled_at", "required"),
        ("OLD-9,,x@example.pl,,,,,2030-01-01,,,,", "enrolled_at", "future"),
        ("OLD-9,,x@example.pl,,,,,2024-01-01,XXX,,,", "store", "XXX"),
        ("OLD-9,,x@example.pl,,,,,2024-01-01,,de,,", "language", "en, pl, ro"),
        ("OLD-9,,x@example.pl,,,,,2024-01-01,,,maybe,", "marketing_consent", "maybe"),
        ("OLD-9,,x@example.pl,,,,,2024-01-01,,,,OLD-9", "referred_by", "themselves"),
        ("OLD-9,,x@example.pl,,,,,2024-01-01,,,,NOBODY", "referred_by", "NOBODY"),
        ("OLD-1,,x@example.pl,,,,,2024-01-01,,,,", "external_id", "already used on line 2"),
        ("OLD-9,,ANNA@example.pl,,,,,2024-01-01,,,,", "email", "already used on line 2"),
        ("OLD-9,,x@example.pl,+48601234567,,,,2024-01-01,,,,", "phone", "already used on line 2"),
        ("OLD-9,,taken@example.pl,,,,,2024-01-01,,,,", "email", "already exists"),
        ("OLD-9,,x@example.pl,+48 500 100 200,,,,2024-01-01,,,,", "phone", "already exists"),
    ],
)
def test_bad_member_rows(tmp_path, program, row, field, words):
    MemberFactory(email="taken@example.pl", phone="+48500100200")
    path = members_csv(tmp_path, "OLD-1,,anna@example.pl,601234567,,,,2024-01-01,,,,", row)
    result = import_members(file=path, now=NOW)
    error = only_error(result)
    assert (error.line, error.field) == (3, field)
    assert words in error.message
    assert Member.objects.count() == 1


def test_members_wrong_header_is_reported(tmp_path, program):
    path = members_csv(tmp_path, "OLD-1;a@example.pl;2024-01-01", header="external_id;email;enrolled_at")
    error = only_error(import_members(file=path, now=NOW))
    assert error.line == 1 and "semicolons" in error.message
    result = import_members(file=members_csv(tmp_path, "a@example.pl", header="email"), now=NOW)
    assert [(error.line, error.field) for error in result.errors] == [(1, "enrolled_at"), (1, "external_id")]


def test_members_every_bad_row_is_reported_with_checks_across_rows(tmp_path, program):
    path = members_csv(
        tmp_path,
        "OLD-1,,not-an-email,,,,,2024-01-01,,,,",
        "OLD-2,,b@example.pl,,,,,2024-01-01,,,,OLD-1",
        "OLD-1,,c@example.pl,,,,,2024-01-01,,,,",
    )
    result = import_members(file=path, now=NOW)
    assert [(error.line, error.field) for error in result.errors] == [(2, "email"), (4, "external_id")]
    assert not Member.objects.exists()


def test_an_imported_history_moves_the_member_up_a_tier_where_live_use_would(tmp_path, member):
    """Purchases already in the database count in the window; the tier reached by
    the second imported purchase multiplies the third."""
    from loyalty.models import MemberTier, TierChange
    from tests.factories import TierFactory

    gold = TierFactory(code="gold", rank=1, threshold=Decimal("250.00"), multiplier=Decimal("2"))
    store = member.enrollment_store or StoreFactory(code="GDN-01")
    purchase_record(external_id="LIVE-1", store=store, member=member, purchased_at=NOW - dt.timedelta(days=200),
                    amount="100.00", source=Source.API, now=NOW - dt.timedelta(days=200))
    path = purchases_csv(
        tmp_path,
        "R-1,M-1,WAW-01,2025-10-01T10:00,100.00,PLN,,",
        "R-2,M-1,WAW-01,2025-11-01T10:00,100.00,PLN,,",
        "R-3,M-1,WAW-01,2025-12-01T10:00,100.00,PLN,,",
    )
    assert import_purchases(file=path, now=NOW).ok
    assert [Purchase.objects.get(external_id=f"R-{n}").points for n in (1, 2, 3)] == [100, 100, 200]
    assert MemberTier.objects.get(member=member).tier == gold
    change = TierChange.objects.get(member=member)
    assert change.at == dt.datetime(2025, 11, 1, 9, 0, tzinfo=dt.UTC)  # 10:00 in Warsaw
