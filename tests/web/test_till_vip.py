"""The till takes a paid-tier fee: under the member's card, the receipt number
as external id, logged as a till action in the same transaction."""

from decimal import Decimal

import pytest
from django.urls import reverse

from loyalty.models import LedgerEntry, MemberTier, TillAction, VipFee
from loyalty.services.tiers import VipFeeConflict
from loyalty.services.till import till_vip_fee_record
from tests.factories import MemberFactory, TierFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def vip(program):
    return TierFactory(code="vip", name_en="VIP", rank=5, threshold=None, is_paid=True, fee=Decimal("99.00"),
                       period_months=12)


def vip_url(member):
    return reverse("till:vip-fee", kwargs={"card": member.card_number})


def form_token(till, member):
    return till.get(vip_url(member)).context["form"].initial["token"]


def test_member_page_links_to_the_fee_and_shows_the_tier(till, member, vip):
    MemberTier.objects.create(member=member, tier=vip)
    content = till.get(reverse("till:member", kwargs={"card": member.card_number})).content.decode()
    assert vip_url(member) in content and "Tier: <strong>VIP</strong>" in content


def test_no_link_without_a_paid_tier(till, member, program):
    content = till.get(reverse("till:member", kwargs={"card": member.card_number})).content.decode()
    assert vip_url(member) not in content


def test_cashier_takes_a_fee_with_the_receipt_number(till, cashier, store, member, vip):
    page = till.get(vip_url(member))
    assert page.status_code == 200
    assert page.context["form"].initial["tier"] == vip.pk  # the one paid tier is chosen already
    data = {"vip-token": page.context["form"].initial["token"], "vip-tier": vip.pk, "vip-receipt": "R-77"}
    response = till.post(vip_url(member), data)
    fee = VipFee.objects.get()
    assert response["Location"] == reverse("till:vip-done", kwargs={"card": member.card_number, "pk": fee.pk})
    assert (fee.external_id, fee.amount, fee.store, fee.recorded_by, fee.source) == (
        "R-77", Decimal("99.00"), store, cashier, "till")
    action = TillAction.objects.get(kind=TillAction.Kind.VIP_FEE)
    assert (action.vip_fee, action.member, action.store, action.user) == (fee, member, store, cashier)
    assert MemberTier.objects.get(member=member).tier == vip
    assert not LedgerEntry.objects.exists()  # a fee earns no points
    done = till.get(response["Location"]).content.decode()
    assert "receipt R-77" in done and "VIP until" in done
    # The same receipt again: taken once, logged once.
    till.post(vip_url(member), {**data, "vip-token": form_token(till, member)})
    assert VipFee.objects.count() == 1 and TillAction.objects.filter(kind=TillAction.Kind.VIP_FEE).count() == 1


def test_without_a_receipt_the_form_token_is_the_external_id(till, member, vip):
    token = form_token(till, member)
    data = {"vip-token": token, "vip-tier": vip.pk, "vip-receipt": ""}
    till.post(vip_url(member), data)
    till.post(vip_url(member), data)  # a double press
    fee = VipFee.objects.get()
    assert fee.external_id.startswith("till-vip:")
    assert "receipt" not in till.get(reverse("till:vip-done", kwargs={"card": member.card_number, "pk": fee.pk})
                                     ).content.decode().split("alert-success")[1].split("</div>")[0]


def test_a_receipt_used_for_another_member_is_refused_on_the_receipt_field(till, cashier, store, member, vip):
    till_vip_fee_record(user=cashier, store=store, member=MemberFactory(), tier=vip, external_id="R-1")
    response = till.post(vip_url(member), {"vip-token": form_token(till, member), "vip-tier": vip.pk,
                                            "vip-receipt": "R-1"})
    assert response.status_code == 400
    assert "different paid tier fee" in response.context["form"].errors["receipt"][0]
    assert response.context["form"].fields["receipt"].widget.attrs.get("autofocus")


def test_a_refused_fee_is_not_logged(cashier, store, member, vip):
    till_vip_fee_record(user=cashier, store=store, member=member, tier=vip, external_id="X")
    with pytest.raises(VipFeeConflict):
        till_vip_fee_record(user=cashier, store=store, member=MemberFactory(), tier=vip, external_id="X")
    assert TillAction.objects.filter(kind=TillAction.Kind.VIP_FEE).count() == 1


def test_vip_page_without_paid_tiers(till, member, program):
    response = till.get(vip_url(member))
    assert "The program sells no paid tier." in response.content.decode()


def test_till_member_page_costs_no_query_without_tiers(till, member, program, django_assert_num_queries):
    url = reverse("till:member", kwargs={"card": member.card_number})
    till.get(url)
    with django_assert_num_queries(5):  # as before tiers existed: session, user, store, member, purchases
        till.get(url)
