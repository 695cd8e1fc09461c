"""The staff face: landing page, program settings, stores, member search and
detail with adjustments, purchases."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from loyalty.models import LedgerEntry, PointsAccount, Program, Store
from loyalty.services.program import program_get
from loyalty.services.till import till_purchase_record
from members.messaging import message_send
from members.models import Member
from members.services.profile import member_consent_set
from tests.factories import MemberFactory, card_number
from tests.web.conftest import buy, client_for

pytestmark = pytest.mark.django_db


# -- landing page ----------------------------------------------------------------


def test_dashboard_shows_real_figures(users, member, store, program):
    buy(member, store, "120.00", external_id="R-1")  # 120 points, pending (14-day window)
    buy(None, store, "30.00", external_id="R-2")
    MemberFactory.create_batch(2)
    response = client_for(users["marketing"]).get(reverse("staff:dashboard"))
    assert response.status_code == 200
    board = response.context["dashboard"]
    assert board.members_total == 3
    assert board.purchases_month == 2
    assert board.amount_month == Decimal("150.00")
    assert board.points_pending == 120
    assert board.liability == Decimal("1.20")  # 120 points × 0.01
    content = response.content.decode()
    assert "PLN" in content or "zł" in content
    assert "R-1" in content and "no member" in content


def test_dashboard_counts_the_month_in_the_program_time_zone(users, member, store, program):
    now = timezone.now()
    local_month_start = now.astimezone(program.tz).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    buy(member, store, "10.00", external_id="IN", at=local_month_start + dt.timedelta(minutes=1))
    buy(member, store, "10.00", external_id="OUT", at=local_month_start - dt.timedelta(minutes=1))
    board = client_for(users["owner"]).get(reverse("staff:dashboard")).context["dashboard"]
    assert board.purchases_month == 1


def test_dashboard_uses_a_fixed_number_of_queries(users, member, store, django_assert_max_num_queries):
    for n in range(30):
        buy(member, store, "5.00", external_id=f"Q-{n}")
    client = client_for(users["owner"])
    client.get(reverse("staff:dashboard"))  # warm the program cache
    with django_assert_max_num_queries(8):
        client.get(reverse("staff:dashboard"))


# -- program settings ------------------------------------------------------------


def program_data(**changes):
    data = {
        "name": "Coffee Club", "currency": "PLN", "country": "PL", "timezone": "Europe/Warsaw",
        "earn_rate": "1", "point_value": "0.01", "return_window_days": "14", "expiry_months": "24",
        "allow_debt": "on",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_owner_saves_the_program_and_the_cache_follows(users, program):
    client = client_for(users["owner"])
    response = client.post(reverse("staff:program"), program_data(name="Bean Club", earn_rate="1.5"))
    assert response.status_code == 302
    assert program_get().name == "Bean Club"
    assert Program.objects.get().earn_rate == Decimal("1.5")


def test_program_form_refuses_a_return_window_as_long_as_the_expiry(users, program):
    response = client_for(users["manager"]).post(
        reverse("staff:program"), program_data(return_window_days="60", expiry_months="2")
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "return_window_days" in errors
    assert "must be shorter than the expiry period" in errors["return_window_days"][0]
    assert Program.objects.get().return_window_days == 14


def test_program_currency_cannot_change_once_purchases_exist(users, member, store, program):
    buy(member, store)
    response = client_for(users["owner"]).post(reverse("staff:program"), program_data(currency="EUR"))
    assert "currency" in response.context["form"].errors
    assert Program.objects.get().currency == "PLN"


def test_program_form_shows_the_2fa_switch_to_the_owner_only(users, program):
    owner_form = client_for(users["owner"]).get(reverse("staff:program")).context["form"]
    manager_form = client_for(users["manager"]).get(reverse("staff:program")).context["form"]
    assert "require_staff_2fa" in owner_form.fields
    assert "require_staff_2fa" not in manager_form.fields
    client_for(users["manager"]).post(reverse("staff:program"), program_data(require_staff_2fa="on"))
    assert Program.objects.get().require_staff_2fa is False


def test_program_can_be_set_up_from_scratch(users):
    response = client_for(users["owner"]).post(reverse("staff:program"), program_data())
    assert response.status_code == 302
    assert Program.objects.get().pk == 1


# -- stores ----------------------------------------------------------------------


def test_manager_adds_and_edits_a_store(users, program):
    client = client_for(users["manager"])
    response = client.post(
        reverse("staff:store-create"),
        {"code": "GDN-1", "name": "Gdańsk", "timezone": "Europe/Warsaw", "is_active": "on"},
    )
    assert response.status_code == 302
    store = Store.objects.get(code="GDN-1")
    client.post(
        reverse("staff:store-edit", kwargs={"pk": store.pk}),
        {"code": "GDN-1", "name": "Gdańsk Port", "timezone": "Europe/Warsaw"},
    )
    store.refresh_from_db()
    assert (store.name, store.is_active) == ("Gdańsk Port", False)


def test_store_code_with_spaces_is_refused_naming_the_field(users, program):
    response = client_for(users["owner"]).post(
        reverse("staff:store-create"), {"code": "bad code", "name": "X", "timezone": "Europe/Warsaw"}
    )
    assert "code" in response.context["form"].errors
    assert not Store.objects.filter(name="X").exists()


# -- member search ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("Nowak", True),
        ("ada now", True),
        ("member@example", False),  # the member's own email is member0@…, see below
        ("601 234 567", True),  # national form of the program country
        ("+48601234567", True),
        ("Kowalski", False),
    ],
)
def test_member_search_by_name_email_phone(users, member, query, found):
    member.phone = "+48601234567"
    member.save()
    response = client_for(users["marketing"]).get(reverse("staff:members"), {"q": query})
    assert (member in response.context["members"]) is found


def test_member_search_by_email_and_card_prefix(users, member):
    client = client_for(users["owner"])
    by_email = client.get(reverse("staff:members"), {"q": member.email.upper()}).context["members"]
    by_card = client.get(reverse("staff:members"), {"q": member.card_number[:8]}).context["members"]
    assert list(by_email) == [member]
    assert member in by_card


@pytest.mark.parametrize("count", [5, 50])
def test_member_search_uses_a_fixed_number_of_queries(users, store, count, django_assert_num_queries):
    members = MemberFactory.create_batch(count, last_name="Smith")
    for m in members[:3]:
        buy(m, store)
    client = client_for(users["manager"])
    client.get(reverse("staff:members"))  # warm the program cache
    # session, user, count, page
    with django_assert_num_queries(4):
        response = client.get(reverse("staff:members"), {"q": "smith"})
    assert response.context["paginator"].count == count
    assert len(response.context["members"]) == min(count, 25)


def test_member_list_paginates_and_keeps_the_query(users):
    MemberFactory.create_batch(30, last_name="Smith")
    response = client_for(users["owner"]).get(reverse("staff:members"), {"q": "smith", "page": 2})
    assert len(response.context["members"]) == 5
    assert "q=smith&amp;page=1" in response.content.decode()


# -- member detail and adjustments ---------------------------------------------------


def test_member_detail_shows_balances_lots_and_ledger_in_store_time(users, member, store):
    at = dt.datetime(2025, 7, 1, 10, 30, tzinfo=dt.UTC)  # 12:30 in Warsaw (CEST)
    buy(member, store, "40.00", external_id="R-40", at=at)
    response = client_for(users["marketing"]).get(reverse("staff:member-detail", kwargs={"pk": member.pk}))
    content = response.content.decode()
    assert response.context["member"].available == 40  # window passed long ago: released
    assert "12:30" in content and "CEST" in content
    assert "R-40" in content
    kinds = [entry.kind for entry in response.context["entries_page"]]
    assert kinds == ["release", "earn"]


@pytest.mark.parametrize("count", [5, 50])
def test_member_detail_uses_a_fixed_number_of_queries(users, member, store, count, django_assert_num_queries):
    for n in range(count):
        result = till_purchase_record(
            user=users["cashier"], store=store, member=member, external_id=f"D-{n}", amount=Decimal("3.00"),
            purchased_at=timezone.now(),
        )
        assert result.created
        member_consent_set(member=member, channel="email", given=n % 2 == 0, source="portal")
        message_send(channel="email", kind="claim", recipient="ada@example.com", body="-", member=member)
    client = client_for(users["owner"])
    url = reverse("staff:member-detail", kwargs={"pk": member.pk})
    client.get(url)
    # session, user, member, consents, messages, till actions, ledger count + page, lots count + page, vouchers,
    # the member's scores
    with django_assert_num_queries(12):
        client.get(url)


def test_member_detail_shows_consent_history_till_actions_and_messages(users, member, store):
    member_consent_set(member=member, channel="sms", given=True, source="portal")
    till_purchase_record(
        user=users["cashier"], store=store, member=member, external_id="TILL-7", amount=Decimal("9.00"),
        purchased_at=timezone.now(),
    )
    message_send(channel="email", kind="claim", recipient="ada@example.com", body="-", member=member)
    response = client_for(users["manager"]).get(reverse("staff:member-detail", kwargs={"pk": member.pk}))
    content = response.content.decode()
    assert [(c.channel, c.given) for c in response.context["consent_history"]] == [("sms", True)]
    assert "Member portal" in content
    assert "Recorded a purchase" in content and "TILL-7" in content and "cashier@example.com" in content
    assert "Account claim" in content


def test_adjustment_posted_twice_is_taken_once(users, member, program):
    client = client_for(users["manager"])
    url = reverse("staff:member-adjust", kwargs={"pk": member.pk})
    form = client.get(reverse("staff:member-detail", kwargs={"pk": member.pk})).context["adjust_form"]
    data = {"points": "75", "reason": "Broken machine", "idempotency_key": form.initial["idempotency_key"]}
    first = client.post(url, data)
    second = client.post(url, data)
    assert first.status_code == second.status_code == 302
    entries = LedgerEntry.objects.filter(account__member=member, kind="adjust")
    assert entries.count() == 1
    assert entries.get().actor == users["manager"]
    assert PointsAccount.objects.get(member=member).available == 75


def test_each_rendering_draws_a_new_idempotency_key(users, member):
    client = client_for(users["owner"])
    url = reverse("staff:member-detail", kwargs={"pk": member.pk})
    first = client.get(url).context["adjust_form"].initial["idempotency_key"]
    second = client.get(url).context["adjust_form"].initial["idempotency_key"]
    assert first != second


def test_adjustment_beyond_the_balance_shows_an_error_on_points(users, member, program):
    response = client_for(users["owner"]).post(
        reverse("staff:member-adjust", kwargs={"pk": member.pk}),
        {"points": "-10", "reason": "Oops", "idempotency_key": "b" * 32},
    )
    assert response.status_code == 200
    errors = response.context["adjust_form"].errors
    assert "need 10 points" in errors["points"][0]
    assert not LedgerEntry.objects.exists()


def test_adjustment_without_reason_or_points_names_the_fields(users, member, program):
    response = client_for(users["owner"]).post(
        reverse("staff:member-adjust", kwargs={"pk": member.pk}),
        {"points": "0", "reason": "", "idempotency_key": "c" * 32},
    )
    errors = response.context["adjust_form"].errors
    assert set(errors) == {"points", "reason"}
    assert not LedgerEntry.objects.exists()


def test_deleted_members_are_not_found(users):
    gone = MemberFactory(status=Member.Status.DELETED, card_number=card_number(99))
    client = client_for(users["owner"])
    assert client.get(reverse("staff:member-detail", kwargs={"pk": gone.pk})).status_code == 404
    assert gone not in client.get(reverse("staff:members")).context["members"]


# -- purchases -------------------------------------------------------------------


def test_purchases_filter_by_store_date_and_member(users, member, store, other_store, program):
    day = dt.datetime(2025, 3, 10, 23, 30, tzinfo=dt.UTC)  # 11 March 00:30 in Warsaw
    buy(member, store, "10.00", external_id="A", at=day)
    buy(None, store, "20.00", external_id="B", at=day - dt.timedelta(days=2))
    buy(member, other_store, "30.00", external_id="C", at=day)
    client = client_for(users["marketing"])

    def ids(**params):
        response = client.get(reverse("staff:purchases"), params)
        return sorted(p.external_id for p in response.context["purchases"])

    assert ids() == ["A", "B", "C"]
    assert ids(store=store.pk) == ["A", "B"]
    assert ids(date_from="2025-03-11", date_to="2025-03-11") == ["A", "C"]
    assert ids(date_to="2025-03-10") == ["B"]
    assert ids(member="no") == ["B"]
    assert ids(member="yes", store=other_store.pk) == ["C"]


def test_purchase_filter_with_end_before_start_names_the_field(users, program):
    response = client_for(users["owner"]).get(
        reverse("staff:purchases"), {"date_from": "2025-03-11", "date_to": "2025-03-01"}
    )
    assert "date_to" in response.context["filter_form"].errors


@pytest.mark.parametrize("count", [5, 50])
def test_purchase_list_uses_a_fixed_number_of_queries(users, store, count, django_assert_num_queries):
    members = MemberFactory.create_batch(5)
    for n in range(count):
        buy(members[n % 5] if n % 3 else None, store, "9.99", external_id=f"P-{n}")
    client = client_for(users["owner"])
    client.get(reverse("staff:purchases"))
    # session, user, the chosen store, the store choices, count, page
    with django_assert_num_queries(6):
        response = client.get(reverse("staff:purchases"), {"store": store.pk})
    assert response.context["paginator"].count == count


def test_store_list_uses_a_fixed_number_of_queries(users, django_assert_num_queries):
    for n in range(12):
        Store.objects.create(code=f"X{n}", name=f"Store {n}", timezone="Europe/Warsaw")
    client = client_for(users["marketing"])
    client.get(reverse("staff:stores"))
    with django_assert_num_queries(4):
        client.get(reverse("staff:stores"))
