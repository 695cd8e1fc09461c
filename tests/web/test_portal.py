"""The member portal: balances, next expiry, the program in plain words, the
history in the member's words, and nobody else's data."""

import datetime as dt

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from loyalty.models import Program, Source
from loyalty.services.ledger import points_adjust
from loyalty.services.purchases import refund_record
from tests.factories import MemberFactory, UserFactory
from tests.web.conftest import buy, client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def portal(users):
    return client_for(users["member"])


def test_home_shows_balances_and_the_next_expiry_in_program_time(portal, member, store, program):
    # Earned 2 years minus 10 days ago: released, expires in 10 days.
    at = timezone.now() - dt.timedelta(days=720)
    buy(member, store, "30.00", external_id="OLD", at=at)
    buy(member, store, "12.00", external_id="NEW")  # pending for 14 days
    response = portal.get(reverse("me:home"))
    balances, expiry = response.context["balances"], response.context["next_expiry"]
    assert (balances.available, balances.pending, balances.debt) == (30, 12, 0)
    assert expiry.points == 30
    local = expiry.expires_at.astimezone(program.tz)
    content = response.content.decode()
    assert f"{local.day} " in content or f" {local.day}," in content
    assert "30 points</strong> will expire on" in content


def test_home_explains_how_points_are_earned(portal, member, program):
    Program.objects.filter(pk=1).update(earn_rate="1.5")
    cache.clear()
    content = portal.get(reverse("me:home")).content.decode()
    assert "You earn 1.5 points for every" in content
    assert "pending for 14 days" in content
    assert "expire 24 months after you earn them" in content


def test_home_without_points(portal, member, program):
    response = portal.get(reverse("me:home"))
    assert response.context["next_expiry"] is None
    assert "None of your points are due to expire." in response.content.decode()


def test_history_is_in_the_members_words(portal, member, store, users, program):
    buy(member, store, "25.00", external_id="R-25")
    points_adjust(member=member, points=5, reason="Sorry for the wait", actor=users["owner"], idempotency_key="k1")
    content = portal.get(reverse("me:history")).content.decode()
    assert "Purchase at Warsaw Centre" in content
    assert "pending until" in content
    assert "+25 points" in content
    assert "Correction by our team: Sorry for the wait" in content


def test_history_paginates(portal, member, store):
    for n in range(25):
        buy(member, store, "2.00", external_id=f"H-{n}")
    page_two = portal.get(reverse("me:history"), {"page": 2})
    assert len(page_two.context["entries_page"].object_list) == 5


@pytest.mark.parametrize("count", [5, 50])
def test_history_uses_a_fixed_number_of_queries(portal, member, store, count, django_assert_num_queries):
    for n in range(count):
        buy(member, store, "2.00", external_id=f"H-{n}")
    portal.get(reverse("me:history"))
    # session, user, member, count, page
    with django_assert_num_queries(5):
        portal.get(reverse("me:history"))


def test_home_uses_a_fixed_number_of_queries(portal, member, store, django_assert_num_queries):
    for n in range(20):
        buy(member, store, "2.00", external_id=f"H-{n}")
    portal.get(reverse("me:home"))
    # session, user, member, balances, catalog rewards (the nudge), next expiry (2), latest entries
    with django_assert_num_queries(8):
        portal.get(reverse("me:home"))


def test_a_member_sees_only_their_own_data(portal, member, store):
    mine = buy(member, store, "10.00", external_id="MINE").purchase
    other = MemberFactory(user=UserFactory(email="other@example.com"), first_name="Zed")
    theirs = buy(other, store, "99.00", external_id="THEIRS").purchase
    assert portal.get(reverse("me:purchase-detail", kwargs={"pk": mine.pk})).status_code == 200
    assert portal.get(reverse("me:purchase-detail", kwargs={"pk": theirs.pk})).status_code == 404
    assert portal.get(reverse("me:purchase-detail", kwargs={"pk": theirs.pk + 1000})).status_code == 404
    for name in ["me:home", "me:history", "me:account"]:
        content = portal.get(reverse(name)).content.decode()
        assert "THEIRS" not in content and "99.00" not in content and "Zed" not in content
    assert "other@example.com" not in portal.get(reverse("me:account")).content.decode()


def test_the_portal_takes_no_member_id_from_the_request(portal, member, store):
    other = MemberFactory()
    buy(other, store, "77.00", external_id="THEIRS")
    for params in ({"member": other.pk}, {"pk": other.pk}, {"card": other.card_number}):
        response = portal.get(reverse("me:home"), params)
        assert response.context["member"] == member
        assert response.context["balances"].pending == 0


def test_purchase_detail_shows_refunds_and_status(portal, member, store):
    purchase = buy(member, store, "50.00", external_id="R-50").purchase
    refund_record(external_id="RF-1", purchase=purchase, amount="20.00", source=Source.TILL)
    content = portal.get(reverse("me:purchase-detail", kwargs={"pk": purchase.pk})).content.decode()
    assert "20 points taken back" in content
    assert "Pending until" in content
