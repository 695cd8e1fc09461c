"""Who may post to the till's new actions (enroll, undo, claim link, card), and
what a cashier never sees; the pages themselves are in test_permissions."""

import pytest
from django.urls import reverse

from loyalty.models import TillAction
from members.models import Delivery, Member
from tests.factories import MemberFactory
from tests.web.conftest import client_for

pytestmark = pytest.mark.django_db

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
