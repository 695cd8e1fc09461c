"""Staff CSV exports (/staff/analytics/exports/): members and the ledger,
streamed, formula-safe, filtered, logged, in a fixed number of queries."""

import csv
import datetime as dt
import io
import logging
from decimal import Decimal

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from loyalty.models import LedgerEntry, MemberTier
from loyalty.services.ledger import points_credit
from loyalty.services.purchases import refund_record
from members.models import Member
from tests.factories import MemberFactory, TierFactory
from tests.web.conftest import buy, client_for

pytestmark = pytest.mark.django_db

URL = reverse("staff:exports")
MEMBER_HEADER = [
    "card number", "external id", "first name", "last name", "email", "phone", "language", "enrolled at",
    "enrollment store", "tier", "available points", "pending points", "marketing consent", "SMS consent",
    "last purchase date", "purchases", "net spend",
]
LEDGER_HEADER = [
    "id", "effective at", "kind", "points", "available change", "pending change", "debt change", "card number",
    "purchase external id", "store", "reason",
]


def download(client, **params):
    response = client.get(URL, params)
    assert response.status_code == 200, response.content[:500]
    assert isinstance(response, StreamingHttpResponse)
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:])))


def by_card(rows):
    return {row[0]: dict(zip(MEMBER_HEADER, row, strict=True)) for row in rows[1:]}


# -- the page --------------------------------------------------------------------


def test_the_page_offers_both_exports_in_the_analytics_menu(users):
    response = client_for(users["marketing"]).get(URL)
    assert response.status_code == 200
    content = response.content.decode()
    assert 'name="export" value="members"' in content and 'name="export" value="ledger"' in content
    assert f'href="{URL}"' in content  # the Analytics menu item
    assert response.context["section"] == "analytics"


def test_a_cashier_or_member_gets_no_file(users):
    for who in ("cashier", "member"):
        assert client_for(users[who]).get(URL, {"export": "members"}).status_code == 403
    anonymous = client_for(None).get(URL, {"export": "members"})
    assert anonymous.status_code == 302 and not isinstance(anonymous, StreamingHttpResponse)


# -- members ---------------------------------------------------------------------


def test_members_export_has_every_column_with_purchases_net_of_refunds(users, program, store, other_store):
    warsaw = program.tz
    ada = MemberFactory(
        first_name="Ada", last_name="Kowalska", email="ada@example.com", phone="+48601234567", language="pl",
        external_id="OLD-7", enrollment_store=store, marketing_consent=True, sms_consent=False,
        enrolled_at=dt.datetime(2024, 3, 1, 23, 30, tzinfo=dt.UTC),  # 2 March 00:30 in Warsaw
    )
    gold = TierFactory(code="gold", name_en="Gold", threshold=Decimal("100000"))
    MemberTier.objects.update_or_create(member=ada, defaults={"tier": gold})
    # Bought on 9 June 23:30 UTC, i.e. 10 June in Warsaw: the last purchase's local day.
    late = dt.datetime(2025, 6, 9, 23, 30, tzinfo=dt.UTC)
    first = buy(ada, store, "100.00", external_id="A-1", at=late - dt.timedelta(days=30)).purchase
    refund_record(external_id="A-1-R", purchase=first, amount=Decimal("40.00"), source="till")
    buy(ada, other_store, "25.50", external_id="A-2", at=late)
    whole = buy(ada, store, "80.00", external_id="A-3", at=late + dt.timedelta(hours=1)).purchase
    refund_record(external_id="A-3-R", purchase=whole, amount=Decimal("80.00"), source="till")  # counts nowhere
    quiet = MemberFactory(first_name="Quiet", email="", phone="", enrollment_store=None)
    gone = MemberFactory(first_name="Gone", status=Member.Status.DELETED)

    rows = download(client_for(users["manager"]), export="members")

    assert rows[0] == MEMBER_HEADER
    members = by_card(rows)
    assert gone.card_number not in members
    assert len(members) == Member.objects.exclude(status=Member.Status.DELETED).count()
    account = ada.points_account
    account.refresh_from_db()
    assert members[ada.card_number] == {
        "card number": ada.card_number, "external id": "OLD-7", "first name": "Ada", "last name": "Kowalska",
        "email": "ada@example.com", "phone": "+48601234567",  # a phone number is no formula: as it is
        "language": "pl", "enrolled at": "2024-03-02T00:30:00+01:00", "enrollment store": "WAW", "tier": "gold",
        "available points": str(account.available), "pending points": str(account.pending),
        "marketing consent": "yes", "SMS consent": "no",
        "last purchase date": "2025-06-10",
        "purchases": "2",  # A-1 (partly refunded) and A-2; A-3 was refunded in full
        "net spend": "85.50",  # (100.00 - 40.00) + 25.50
    }
    assert account.available + account.pending > 0
    assert members[quiet.card_number] | {"card number": ""} == {
        **dict.fromkeys(MEMBER_HEADER, ""),
        "first name": "Quiet", "last name": quiet.last_name, "language": quiet.language,
        "enrolled at": quiet.enrolled_at.astimezone(warsaw).isoformat(), "available points": "0",
        "pending points": "0", "marketing consent": "no", "SMS consent": "no", "purchases": "0",
        "net spend": "0.00",
    }


def test_a_name_that_looks_like_a_formula_is_neutralised(users, program):
    member = MemberFactory(first_name='=HYPERLINK("http://evil.example","x")', last_name="@SUM(A1:A9)")
    row = by_card(download(client_for(users["owner"]), export="members"))[member.card_number]
    assert row["first name"] == "'" + member.first_name
    assert row["last name"] == "'@SUM(A1:A9)"


def test_members_export_is_streamed_as_an_attachment(users, program):
    MemberFactory()
    response = client_for(users["owner"]).get(URL, {"export": "members"})
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    today = timezone.localdate(timezone=program.tz).isoformat()
    assert response["Content-Disposition"] == f'attachment; filename="members-{today}.csv"'
    assert response["Cache-Control"] == "private, no-store"


def _queries_to_export(client, **params) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(URL, params)
        b"".join(response.streaming_content)  # the test client closes the response at the end
    return len(captured.captured_queries)


def test_the_members_export_takes_the_same_queries_for_3_and_for_40_members(users, program, store):
    client = client_for(users["owner"])
    for n in range(3):
        buy(MemberFactory(), store, "10.00", external_id=f"F-{n}")
    few = _queries_to_export(client, export="members")
    for n in range(37):
        member = MemberFactory()
        buy(member, store, "10.00", external_id=f"M-{n}")
        MemberTier.objects.create(member=member, tier=None)
    many = _queries_to_export(client, export="members")
    assert many == few
    assert few <= 6  # session, user, program, the export itself


def test_marketing_may_export_members_and_the_log_says_who_and_what_but_no_personal_data(users, program, caplog):
    MemberFactory(first_name="Zuzanna", email="zuzanna@example.com")
    with caplog.at_level(logging.INFO, logger="analytics.views.exports"):
        download(client_for(users["marketing"]), export="members")
    [record] = [r for r in caplog.records if r.name == "analytics.views.exports"]
    message = record.getMessage()
    assert "members" in message and f"user {users['marketing'].pk}" in message and "marketing" in message
    assert "Zuzanna" not in message and "zuzanna@" not in message


# -- ledger ----------------------------------------------------------------------


@pytest.fixture
def ledger_world(program, store, other_store):
    """Entries around 1-2 June 2025 in Warsaw (UTC+2): purchases at both stores
    and a bonus (no purchase) for a member enrolled at the other store."""
    ada = MemberFactory(enrollment_store=store)
    bea = MemberFactory(enrollment_store=other_store)
    june_1 = dt.datetime(2025, 6, 1, tzinfo=program.tz)
    buy(ada, store, "10.00", external_id="BEFORE", at=june_1 - dt.timedelta(minutes=1))
    buy(ada, store, "20.00", external_id="WAW-1", at=june_1)
    buy(ada, other_store, "30.00", external_id="KRK-1", at=june_1 + dt.timedelta(hours=5))
    points_credit(member=bea, points=50, kind="bonus", idempotency_key="b-1", reason="=1+1 welcome",
                  effective_at=june_1 + dt.timedelta(hours=6), now=june_1 + dt.timedelta(hours=6))
    buy(bea, store, "40.00", external_id="LAST", at=june_1 + dt.timedelta(days=1, hours=23, minutes=59))
    buy(bea, store, "50.00", external_id="AFTER", at=june_1 + dt.timedelta(days=2))
    return {"ada": ada, "bea": bea}


def ledger_rows(client, **filters):
    rows = download(client, export="ledger", **filters)
    assert rows[0] == LEDGER_HEADER
    return [dict(zip(LEDGER_HEADER, row, strict=True)) for row in rows[1:]]


def test_ledger_export_has_the_entries_of_the_days_in_the_program_zone(users, program, ledger_world):
    rows = ledger_rows(client_for(users["owner"]), date_from="2025-06-01", date_to="2025-06-02")
    assert [row["purchase external id"] for row in rows] == ["WAW-1", "KRK-1", "", "LAST"]
    # Their releases (14 days on) took effect after the period.
    release = LedgerEntry.objects.get(purchase__external_id="WAW-1", kind="release")
    assert release.effective_at.astimezone(program.tz).date() == dt.date(2025, 6, 15)
    waw = rows[0]
    entry = LedgerEntry.objects.get(purchase__external_id="WAW-1", kind="earn")
    assert waw == {
        "id": str(entry.pk), "effective at": "2025-06-01T00:00:00+02:00", "kind": "earn", "points": "20",
        "available change": "0", "pending change": "20", "debt change": "0",
        "card number": ledger_world["ada"].card_number, "purchase external id": "WAW-1", "store": "WAW",
        "reason": entry.reason,
    }
    bonus = rows[2]
    assert (bonus["kind"], bonus["points"], bonus["store"], bonus["reason"]) == ("bonus", "50", "KRK", "'=1+1 welcome")


def test_ledger_export_filters_by_store_as_the_kpis_do_and_by_kind(users, store, other_store, ledger_world):
    client = client_for(users["manager"])
    period = {"date_from": "2025-06-01", "date_to": "2025-06-02"}
    at_krk = ledger_rows(client, **period, store=other_store.pk)
    assert [(row["purchase external id"], row["kind"]) for row in at_krk] == [("KRK-1", "earn"), ("", "bonus")]
    at_waw = ledger_rows(client, **period, store=store.pk)
    assert [row["purchase external id"] for row in at_waw] == ["WAW-1", "LAST"]
    bonuses = ledger_rows(client, **period, kind="bonus")
    assert [row["kind"] for row in bonuses] == ["bonus"]
    one_day = ledger_rows(client, date_from="2025-06-02", date_to="2025-06-02", store=store.pk, kind="earn")
    assert [row["purchase external id"] for row in one_day] == ["LAST"]


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"date_from": "2025-06-05", "date_to": "2025-06-01"}, "date_to", "The end date is before the start date."),
        ({"date_from": "yesterday", "date_to": "2025-06-01"}, "date_from", "Enter a valid date."),
        ({"date_to": "2025-06-01"}, "date_from", "This field is required."),
        ({"date_from": "0001-01-01", "date_to": "0001-01-02"}, "date_from", "The period cannot start before 1970."),
        ({"date_from": "9999-12-30", "date_to": "9999-12-31"}, "date_to", "The period cannot end after 9998."),
        ({"date_from": "2025-06-01", "date_to": "2025-06-01", "kind": "gift"}, "kind", "Select a valid choice."),
        ({"date_from": "2025-06-01", "date_to": "2025-06-01", "store": "999999"}, "store", "Select a valid choice."),
    ],
)
def test_bad_ledger_filters_name_the_field_and_stream_nothing(users, ledger_world, params, field, message, caplog):
    with caplog.at_level(logging.INFO, logger="analytics.views.exports"):
        response = client_for(users["owner"]).get(URL, {"export": "ledger", **params})
    assert response.status_code == 400
    assert not isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"].startswith("text/html")
    form = response.context["ledger_form"]
    assert list(form.errors) == [field]
    assert message in form.errors[field][0]
    assert message in response.content.decode().replace("&#x27;", "'")
    assert not [r for r in caplog.records if r.name == "analytics.views.exports"]


def test_an_unknown_export_is_refused(users, program):
    response = client_for(users["owner"]).get(URL, {"export": "passwords"})
    assert response.status_code == 400
    assert not isinstance(response, StreamingHttpResponse)
    assert "passwords is not one of the exports here" in response.content.decode()


def test_the_ledger_export_takes_the_same_queries_for_few_and_many_entries(users, program, store, other_store):
    client = client_for(users["owner"])
    period = {"export": "ledger", "date_from": "2025-06-01", "date_to": "2025-06-30", "store": store.pk}
    at = dt.datetime(2025, 6, 10, 12, tzinfo=program.tz)
    buy(MemberFactory(enrollment_store=store), store, "10.00", external_id="L-0", at=at)
    few = _queries_to_export(client, **period)
    for n in range(1, 30):
        buy(MemberFactory(enrollment_store=other_store), store, "10.00", external_id=f"L-{n}", at=at)
    filters = {key: value for key, value in period.items() if key != "export"}
    assert len(ledger_rows(client, **filters)) == 60  # an earn and a release each
    assert _queries_to_export(client, **period) == few


def test_ledger_export_logs_its_filters(users, store, ledger_world, caplog):
    with caplog.at_level(logging.INFO, logger="analytics.views.exports"):
        ledger_rows(client_for(users["manager"]), date_from="2025-06-01", date_to="2025-06-02", store=store.pk)
    [record] = [r for r in caplog.records if r.name == "analytics.views.exports"]
    message = record.getMessage()
    assert "ledger" in message and f"user {users['manager'].pk}" in message
    assert "'date_from': '2025-06-01'" in message and "'store': 'WAW'" in message
