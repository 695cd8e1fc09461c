"""Who may open the till's new pages (enroll, undo, printable card, claim link),
every kind of user, as in test_permissions; and what a cashier never sees."""

import pytest
from django.urls import reverse

from loyalty.models import TillAction
from members.models import Delivery, Member
from tests.factories import MemberFactory
from tests.web.conftest import buy, client_for
from tests.web.test_permissions import LOGIN, PICK_STORE, TILL_PAGE, WHO

pytestmark = pytest.mark.django_db

PAGES = [
    ("till:enroll", {}),
    ("till:undo", {}),
    ("till:card-print", {"card": "card"}),
    ("till:refund-done", {"card": "card", "pk": "refund"}),
]


@pytest.fixture
def world(users, member, store, other_store):
    users["cashier"].stores.add(other_store)  # two stores: the picker shows
    purchase = buy(member, store).purchase
    from loyalty.services.purchases import refund_record

    refund = refund_record(external_id="RF-ACCESS", purchase=purchase, amount="1.00", source="till").refund
    return {"card": member.card_number, "refund": refund.pk}


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize(("name", "kwargs"), PAGES, ids=[p[0] for p in PAGES])
def test_till_page_access(world, users, store, who, name, kwargs):
    url = reverse(name, kwargs={key: world[value] for key, value in kwargs.items()})
    response = client_for(users.get(who), store=store).get(url)
    want = TILL_PAGE[who]
    if want == LOGIN:
        assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))
    elif want == PICK_STORE:
        assert response.status_code == 302 and response["Location"] == reverse("till:store-select")
    else:
        assert response.status_code == want, (url, who)


POSTS = [
    ("till:enroll", {}, {"first_name": "Eve", "email": "eve@example.com", "language": "en"}),
    ("till:undo", {}, {"action": "1"}),
    ("till:claim-send", {"card": "nologin"}, {}),
    ("till:card-attach", {"card": "nologin"}, {"card-card_number": "2900000009011"}),
]


@pytest.mark.parametrize("who", ["anonymous", "member", "marketing", "manager", "owner"])
@pytest.mark.parametrize(("name", "kwargs", "data"), POSTS, ids=[p[0] for p in POSTS])
def test_only_a_cashier_of_the_store_may_post(users, store, who, name, kwargs, data):
    nologin = MemberFactory(email="nologin@example.com")
    url = reverse(name, kwargs=dict.fromkeys(kwargs, nologin.card_number))
    response = client_for(users.get(who), store=store).post(url, data)
    assert response.status_code in (302, 403)
    if response.status_code == 302:
        assert response["Location"].startswith((reverse("account_login"), reverse("till:store-select")))
    assert not Member.objects.filter(email="eve@example.com").exists()
    assert not Delivery.objects.exists() and not TillAction.objects.exists()
    assert Member.objects.filter(card_number=nologin.card_number).exists()


def test_a_cashier_at_another_store_cannot_enroll_there(users, other_store):
    response = client_for(users["cashier"], store=other_store).post(
        reverse("till:enroll"), {"first_name": "Eve", "email": "eve@example.com", "language": "en"})
    assert response["Location"] == reverse("till:store-select")
    assert not Member.objects.filter(email="eve@example.com").exists()


def test_till_pages_show_no_staff_links_kpis_or_adjustments(users, store, member):
    till = client_for(users["cashier"], store=store)
    for url in [reverse("till:enroll"), reverse("till:undo"), reverse("till:search") + "?q=a",
                reverse("till:card-print", kwargs={"card": member.card_number})]:
        content = till.get(url).content.decode()
        assert "/staff/" not in content and "Adjust" not in content, url
