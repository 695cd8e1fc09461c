"""Undo at the till: GET shows the cashier's last action and asks; POST undoes
a purchase once, in time; everything else says plainly why not."""

import datetime as dt

import pytest
from django.urls import reverse

from loyalty.models import PointsAccount, Refund, TillAction
from tests.web.conftest import client_for

pytestmark = pytest.mark.django_db

UNDO = "/till/undo/"


def record_purchase(till, member, amount="30.00", receipt=""):
    url = reverse("till:member", kwargs={"card": member.card_number})
    token = till.get(url).context["purchase_form"].initial["token"]
    response = till.post(
        reverse("till:purchase-create", kwargs={"card": member.card_number}),
        {"purchase-amount": amount, "purchase-receipt": receipt, "purchase-token": token},
    )
    assert response.status_code == 302
    return TillAction.objects.filter(kind=TillAction.Kind.PURCHASE).latest("pk")


def test_undo_url_is_stable():
    assert reverse("till:undo") == UNDO


def test_the_confirmation_shows_the_last_purchase_and_changes_nothing(till, member):
    action = record_purchase(till, member, "30.00", receipt="R-55")
    response = till.get(UNDO)
    assert response.status_code == 200
    assert response.context["action"] == action
    content = response.content.decode()
    assert "R-55" in content and "Yes, undo this purchase" in content
    assert f'name="action" value="{action.pk}"' in content
    assert not Refund.objects.exists()


def test_the_done_page_links_to_the_undo(till, member):
    record_purchase(till, member)
    purchase_done = till.get(reverse("till:purchase-done", kwargs={
        "card": member.card_number, "pk": TillAction.objects.get().purchase_id}))
    assert f'href="{UNDO}"' in purchase_done.content.decode()


def test_confirming_undoes_the_purchase_and_says_so(till, member):
    action = record_purchase(till, member, "30.00")
    assert PointsAccount.objects.get(member=member).pending == 30
    response = till.post(UNDO, {"action": action.pk}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("till:member", kwargs={"card": member.card_number})
    assert "undone: 30 points taken back" in response.content.decode()
    assert PointsAccount.objects.get(member=member).pending == 0
    refund = Refund.objects.get()
    assert refund.external_id == f"undo-{action.purchase.external_id}"


def test_a_double_submit_undoes_once(till, member):
    action = record_purchase(till, member)
    till.post(UNDO, {"action": action.pk})
    again = till.post(UNDO, {"action": action.pk}, follow=True)
    assert "already undone" in again.content.decode()
    assert Refund.objects.count() == 1
    assert "already undone" in till.get(UNDO).content.decode()


def test_after_the_window_the_undo_is_refused_plainly(till, member, settings):
    settings.TILL_UNDO_SECONDS = 120
    action = record_purchase(till, member)
    TillAction.objects.filter(pk=action.pk).update(at=action.at - dt.timedelta(seconds=121))
    page = till.get(UNDO)
    assert "Too late to undo" in page.content.decode() and "2 minutes" in page.content.decode()
    assert "Yes, undo" not in page.content.decode()
    response = till.post(UNDO, {"action": action.pk})
    assert response.status_code == 409
    assert not Refund.objects.exists()


def test_a_refund_cannot_be_undone_and_the_page_says_so(till, member):
    action = record_purchase(till, member, "30.00")
    url = reverse("till:member", kwargs={"card": member.card_number})
    token = till.get(url).context["refund_form"].initial["token"]
    till.post(reverse("till:refund-create", kwargs={"card": member.card_number}),
              {"refund-purchase": action.purchase_id, "refund-amount": "5.00", "refund-token": token})
    page = till.get(UNDO)
    assert "A refund cannot be undone" in page.content.decode()
    response = till.post(UNDO, {"action": TillAction.objects.latest("pk").pk})
    assert response.status_code == 409
    # Nor can the purchase before it: it is no longer the last action.
    assert till.post(UNDO, {"action": action.pk}).status_code == 409
    assert Refund.objects.count() == 1


def test_an_enrollment_cannot_be_undone(till):
    till.post(reverse("till:enroll"), {"first_name": "Ola", "email": "ola@example.com", "language": "en"})
    assert "cannot be" in till.get(UNDO).content.decode()


def test_nothing_to_undo_says_so(till):
    page = till.get(UNDO)
    assert "no action at this till to undo" in page.content.decode()
    assert till.post(UNDO, {"action": "nope"}).status_code == 409


def test_another_cashiers_purchase_cannot_be_undone(till, member, store):
    action = record_purchase(till, member)
    from tests.factories import UserFactory

    colleague = UserFactory(email="colleague@example.com", role="cashier")
    colleague.stores.add(store)
    other = client_for(colleague, store=store)
    assert "no action at this till to undo" in other.get(UNDO).content.decode()
    assert other.post(UNDO, {"action": action.pk}).status_code == 409
    assert not Refund.objects.exists()
