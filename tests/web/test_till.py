"""The till: pick a store once, find a member, record purchases and refunds."""

import pytest
from django.urls import reverse

from loyalty.models import PointsAccount, Purchase, Refund
from members.models import Member
from members.permissions import TILL_STORE_COOKIE
from tests.factories import MemberFactory, card_number
from tests.web.conftest import buy, client_for

pytestmark = pytest.mark.django_db


def member_url(member, name="till:member", **kwargs):
    return reverse(name, kwargs={"card": member.card_number, **kwargs})


# -- the store of this device -----------------------------------------------------


def test_a_cashier_with_one_store_gets_it_chosen(cashier, store):
    client = client_for(cashier)
    response = client.get(reverse("till:search"))
    assert response["Location"] == reverse("till:store-select")
    response = client.get(reverse("till:store-select"))
    assert response.status_code == 302 and response["Location"] == reverse("till:search")
    assert client.get(reverse("till:search")).context["store"] == store


def test_a_cashier_with_two_stores_picks_one_and_the_device_remembers(cashier, store, other_store):
    cashier.stores.add(other_store)
    client = client_for(cashier)
    page = client.get(reverse("till:store-select"))
    assert page.status_code == 200
    assert [s.pk for s in page.context["stores"]] == sorted([store.pk, other_store.pk], key=lambda pk: (
        {store.pk: store.name, other_store.pk: other_store.name}[pk]))
    response = client.post(reverse("till:store-select"), {"store": other_store.pk})
    assert response.status_code == 302
    assert response.cookies[TILL_STORE_COOKIE]["max-age"] >= 300 * 24 * 3600
    # The next login on this device (a new session, the same cookie) keeps the store.
    later = client_for(cashier)
    later.cookies[TILL_STORE_COOKIE] = response.cookies[TILL_STORE_COOKIE].value
    assert later.get(reverse("till:search")).context["store"] == other_store


def test_a_cashier_cannot_pick_a_store_they_are_not_assigned_to(cashier, store, other_store):
    response = client_for(cashier).post(reverse("till:store-select"), {"store": other_store.pk})
    assert response.status_code == 400
    assert TILL_STORE_COOKIE not in response.cookies


def test_a_forged_store_cookie_is_ignored(cashier, store):
    client = client_for(cashier)
    client.cookies[TILL_STORE_COOKIE] = str(store.pk)
    assert client.get(reverse("till:search"))["Location"] == reverse("till:store-select")


def test_an_inactive_store_cannot_be_used(cashier, store, till):
    store.is_active = False
    store.save()
    assert till.get(reverse("till:search"))["Location"] == reverse("till:store-select")


# -- the search box --------------------------------------------------------------


def test_card_number_opens_the_member(till, member):
    response = till.get(reverse("till:search"), {"q": member.card_number})
    assert response.status_code == 302
    assert response["Location"] == member_url(member)


def test_card_number_with_a_wrong_check_digit_is_refused(till, member):
    wrong = member.card_number[:-1] + str((int(member.card_number[-1]) + 1) % 10)
    response = till.get(reverse("till:search"), {"q": wrong})
    assert response.status_code == 200
    assert "not a valid card number" in response.context["search_form"].errors["q"][0]


def test_unknown_card_says_so(till, member):
    response = till.get(reverse("till:search"), {"q": card_number(4242)})
    assert "No member has the card" in response.context["search_form"].errors["q"][0]


@pytest.mark.parametrize("typed", ["601 234 567", "+48 601-234-567", "0048601234567"])
def test_phone_in_national_or_international_form_finds_the_member(till, member, typed):
    member.phone = "+48601234567"
    member.save()
    response = till.get(reverse("till:search"), {"q": typed})
    assert response.status_code == 302 and response["Location"] == member_url(member)


def test_email_in_any_case_finds_the_member(till, member):
    response = till.get(reverse("till:search"), {"q": f"  {member.email.upper()} "})
    assert response["Location"] == member_url(member)


def test_digits_that_are_no_card_and_no_phone_are_explained(till, member):
    response = till.get(reverse("till:search"), {"q": "12345"})
    assert "card number" in response.context["search_form"].errors["q"][0]
    assert "Ada" not in response.content.decode()  # no list of members
    assert "enroll_url" not in response.context  # nothing to enroll with


def test_deleted_members_are_not_found_at_the_till(till):
    gone = MemberFactory(status=Member.Status.DELETED)
    response = till.get(reverse("till:search"), {"q": gone.card_number})
    assert response.status_code == 200
    assert till.get(member_url(gone)).status_code == 404


def test_search_page_has_one_autofocused_box(till):
    content = till.get(reverse("till:search")).content.decode()
    assert content.count("autofocus") == 1
    assert 'name="q"' in content


# -- purchases -------------------------------------------------------------------


def purchase_form(till, member):
    return till.get(member_url(member)).context["purchase_form"]


def test_purchase_is_recorded_and_shows_points_and_balance(till, member, cashier, store):
    form = purchase_form(till, member)
    response = till.post(
        member_url(member, "till:purchase-create"),
        {"purchase-amount": "45.50", "purchase-receipt": "", "purchase-token": form.initial["token"]},
        follow=True,
    )
    purchase = Purchase.objects.get()
    assert (purchase.store, purchase.member, purchase.source, purchase.recorded_by) == (
        store, member, "till", cashier,
    )
    assert purchase.external_id.startswith("till:")
    content = response.content.decode()
    assert "45 points earned" in content
    assert "pending until" in content  # the program's 14-day return window
    assert response.context["member"].pending == 45


def test_purchase_sent_twice_is_taken_once(till, member):
    form = purchase_form(till, member)
    data = {"purchase-amount": "20.00", "purchase-receipt": "", "purchase-token": form.initial["token"]}
    first = till.post(member_url(member, "till:purchase-create"), data)
    second = till.post(member_url(member, "till:purchase-create"), data)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    assert Purchase.objects.count() == 1
    assert PointsAccount.objects.get(member=member).pending == 20


def test_receipt_number_is_the_external_id_and_is_taken_once(till, member):
    url = member_url(member, "till:purchase-create")
    responses = []
    for _ in range(2):  # even from two renderings of the form (a reload)
        token = purchase_form(till, member).initial["token"]
        data = {"purchase-amount": "12.00", "purchase-receipt": "R-77", "purchase-token": token}
        responses.append(till.post(url, data))
    assert [r.status_code for r in responses] == [302, 302]
    assert responses[0]["Location"] == responses[1]["Location"]
    assert list(Purchase.objects.values_list("external_id", flat=True)) == ["R-77"]
    assert PointsAccount.objects.get(member=member).pending == 12
    page = till.get(responses[1]["Location"])
    assert "already recorded" in page.content.decode()


def test_receipt_reused_for_another_amount_names_the_receipt_field(till, member):
    url = member_url(member, "till:purchase-create")
    token = purchase_form(till, member).initial["token"]
    till.post(url, {"purchase-amount": "12.00", "purchase-receipt": "R-78", "purchase-token": token})
    response = till.post(url, {"purchase-amount": "99.00", "purchase-receipt": "R-78", "purchase-token": token})
    assert response.status_code == 200
    assert "R-78" in response.context["purchase_form"].errors["receipt"][0]
    assert Purchase.objects.count() == 1


@pytest.mark.parametrize("amount", ["0", "-5", "abc", "1.999"])
def test_bad_amount_names_the_amount_field(till, member, amount):
    token = purchase_form(till, member).initial["token"]
    response = till.post(
        member_url(member, "till:purchase-create"), {"purchase-amount": amount, "purchase-token": token}
    )
    assert response.status_code == 200
    assert "amount" in response.context["purchase_form"].errors
    assert not Purchase.objects.exists()


def test_tampered_token_is_refused_and_renewed(till, member):
    response = till.post(
        member_url(member, "till:purchase-create"), {"purchase-amount": "10", "purchase-token": "forged"}
    )
    form = response.context["purchase_form"]
    assert "token" in form.errors
    assert 'value="forged"' not in response.content.decode()
    assert not Purchase.objects.exists()


def test_blocked_member_purchase_is_refused_with_a_message(till, member):
    member.status = Member.Status.BLOCKED
    member.save()
    token = purchase_form(till, member).initial["token"]
    response = till.post(
        member_url(member, "till:purchase-create"), {"purchase-amount": "10", "purchase-token": token}
    )
    assert "not active" in " ".join(response.context["purchase_form"].non_field_errors())
    assert not Purchase.objects.exists()


# -- refunds ---------------------------------------------------------------------


def refund_token(till, member):
    return till.get(member_url(member)).context["refund_form"].initial["token"]


def test_refund_too_large_shows_an_error_naming_the_amount(till, member, store):
    purchase = buy(member, store, "30.00", external_id="R-30").purchase
    response = till.post(
        member_url(member, "till:refund-create"),
        {"refund-purchase": purchase.pk, "refund-amount": "31.00", "refund-token": refund_token(till, member)},
    )
    assert response.status_code == 200
    errors = response.context["refund_form"].errors
    assert list(errors) == ["amount"]
    assert "30" in errors["amount"][0]
    assert 'id="id_refund-amount"' in response.content.decode()
    assert not Refund.objects.exists()


def test_refund_reverses_points_and_is_taken_once(till, member, store):
    purchase = buy(member, store, "40.00", external_id="R-40").purchase
    data = {"refund-purchase": purchase.pk, "refund-amount": "10.00", "refund-token": refund_token(till, member)}
    first = till.post(member_url(member, "till:refund-create"), data)
    till.post(member_url(member, "till:refund-create"), data)
    refund = Refund.objects.get()
    assert first["Location"] == member_url(member, "till:refund-done", pk=refund.pk)
    page = till.get(first["Location"])
    assert "10 points taken back" in page.content.decode()
    assert page.context["member"].pending == 30


def test_refund_of_another_members_purchase_is_refused(till, member, store):
    other = MemberFactory()
    purchase = buy(other, store, "30.00", external_id="R-OTHER").purchase
    response = till.post(
        member_url(member, "till:refund-create"),
        {"refund-purchase": purchase.pk, "refund-amount": "1.00", "refund-token": refund_token(till, member)},
    )
    assert "purchase" in response.context["refund_form"].errors
    assert not Refund.objects.exists()


def test_purchase_result_of_another_member_is_404(till, member, store):
    other = MemberFactory()
    purchase = buy(other, store, "30.00", external_id="R-OTHER").purchase
    assert till.get(member_url(member, "till:purchase-done", pk=purchase.pk)).status_code == 404


def test_till_member_page_shows_no_adjustments_or_lists(till, member, store):
    buy(member, store, "30.00", external_id="R-1")
    content = till.get(member_url(member)).content.decode()
    assert "Adjust" not in content
    assert "/staff/" not in content


@pytest.mark.parametrize("count", [5, 50])
def test_till_member_page_uses_a_fixed_number_of_queries(till, member, store, count, django_assert_num_queries):
    for n in range(count):
        buy(member, store, "3.00", external_id=f"M-{n}")
    till.get(member_url(member))
    # session, user, store, member with balances, refundable purchases
    with django_assert_num_queries(5):
        till.get(member_url(member))
