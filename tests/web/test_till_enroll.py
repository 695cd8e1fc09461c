"""Enrolling at the till: a few fields, consents recorded, duplicates offered
instead, a card issued or scanned, the claim link sent, a card to print."""

import pytest
from django.urls import reverse

from loyalty.models import TillAction
from members.cards import card_number_is_valid
from members.models import ConsentChange, Delivery, Member
from tests.factories import MemberFactory, card_number

pytestmark = pytest.mark.django_db


def enroll(till, **data):
    return till.post(reverse("till:enroll"), {"first_name": "Ola", "language": "pl", **data})


def test_the_form_is_prefilled_from_the_search_and_focuses_the_next_empty_field(till):
    response = till.get(reverse("till:enroll"), {"email": "ola@example.com", "evil": "x"})
    form = response.context["form"]
    assert form.initial == {"email": "ola@example.com"}
    assert form.fields["first_name"].widget.attrs.get("autofocus")
    response = till.get(reverse("till:enroll"), {"first_name": "Ola", "last_name": "Lis"})
    assert response.context["form"].fields["email"].widget.attrs.get("autofocus")
    assert response.content.decode().count("autofocus") == 1


def test_enroll_issues_a_card_records_consents_sends_the_claim_and_logs(till, cashier, store):
    response = enroll(till, last_name="Lis", email="ola@example.com", phone="601 222 333",
                      marketing_consent="on", sms_consent="on", birth_date="1990-05-17")
    member = Member.objects.get(email="ola@example.com")
    assert response.status_code == 302
    assert response["Location"] == reverse("till:member", kwargs={"card": member.card_number})
    assert card_number_is_valid(member.card_number)
    assert (member.first_name, member.last_name, str(member.phone), member.language, str(member.birth_date)) == (
        "Ola", "Lis", "+48601222333", "pl", "1990-05-17")
    assert member.enrollment_store == store
    consents = set(member.consent_changes.values_list("channel", "given", "source", "actor"))
    assert consents == {("email", True, "till", cashier.pk), ("sms", True, "till", cashier.pk)}
    delivery = Delivery.objects.get(member=member)
    assert (delivery.kind, delivery.channel, delivery.status) == ("claim", "email", Delivery.Status.LOGGED)
    assert "/me/claim/" in delivery.body
    assert list(TillAction.objects.order_by("pk").values_list("kind", "user", "store")) == [
        ("enroll", cashier.pk, store.pk), ("claim", cashier.pk, store.pk)]
    page = till.get(response["Location"])
    content = page.content.decode()
    assert "Ola Lis is enrolled with card" in content
    assert "delivery log" in content  # no email service in tests


def test_consents_not_ticked_are_not_given(till):
    enroll(till, phone="+48601222444")
    member = Member.objects.get(phone="+48601222444")
    assert not member.marketing_consent and not member.sms_consent
    assert not ConsentChange.objects.exists()
    assert Delivery.objects.get(member=member).channel == "sms"


def test_a_scanned_card_is_attached(till):
    number = card_number(555)
    response = enroll(till, email="card@example.com", card_number=f" {number} ")
    assert response.status_code == 302
    assert Member.objects.get(email="card@example.com").card_number == number
    assert TillAction.objects.filter(kind=TillAction.Kind.CARD_ATTACH).count() == 1


def test_a_card_with_a_wrong_check_digit_is_refused_on_the_card_field(till):
    bad = card_number(555)[:-1] + str((int(card_number(555)[-1]) + 1) % 10)
    response = enroll(till, email="card@example.com", card_number=bad)
    assert response.status_code == 400
    assert "not a valid card number" in response.context["form"].errors["card_number"][0]
    assert not Member.objects.filter(email="card@example.com").exists()
    assert not TillAction.objects.exists()


@pytest.mark.parametrize(("field", "typed"), [("email", "ADA@example.com"), ("phone", "601 234 567")])
def test_a_duplicate_email_or_phone_offers_the_existing_member(till, member, field, typed):
    member.email, member.phone = "ada@example.com", "+48601234567"
    member.save()
    response = enroll(till, **{field: typed}, marketing_consent="on")
    assert response.status_code == 400
    assert "already exists" in response.context["form"].errors[field][0]
    assert response.context["duplicate"] == member
    content = response.content.decode()
    link = reverse("till:member", kwargs={"card": member.card_number})
    assert f'href="{link}" autofocus' in content
    assert "Already a member" in content
    assert Member.objects.count() == 1
    assert not ConsentChange.objects.exists() and not TillAction.objects.exists()


def test_a_card_that_belongs_to_a_member_offers_that_member(till, member):
    response = enroll(till, email="new@example.com", card_number=member.card_number)
    assert response.status_code == 400
    assert response.context["duplicate"] == member
    assert "card number already exists" in response.content.decode()


@pytest.mark.parametrize(("data", "field", "message"), [
    ({}, "email", "email address or a phone number"),
    ({"email": "not-an-email"}, "email", "valid email"),
    ({"phone": "12"}, "phone", "not a valid phone number"),
    ({"email": "x@example.com", "first_name": ""}, "first_name", "required"),
])
def test_bad_input_names_the_field_and_enrolls_nobody(till, data, field, message):
    response = enroll(till, **data)
    assert response.status_code == 400
    assert message in response.context["form"].errors[field][0]
    assert response.context["form"].fields[field].widget.attrs.get("autofocus")
    assert Member.objects.count() == 1  # the fixture's member


def test_the_printable_card_shows_the_barcode_qr_and_number(till, member):
    response = till.get(reverse("till:card-print", kwargs={"card": member.card_number}))
    assert response.status_code == 200
    content = response.content.decode()
    assert f"Barcode of card {member.card_number}" in content
    assert f"QR code of card {member.card_number}" in content
    assert 'class="barcode"' in content and 'class="qr"' in content
    assert "css/till.css" in content  # with the print styles


def test_the_printable_card_of_an_unknown_or_deleted_member_is_404(till):
    gone = MemberFactory(status=Member.Status.DELETED)
    assert till.get(reverse("till:card-print", kwargs={"card": gone.card_number})).status_code == 404
    assert till.get(reverse("till:card-print", kwargs={"card": card_number(99)})).status_code == 404


def test_the_claim_link_can_be_sent_again_to_a_member_without_a_login(till, cashier):
    member = MemberFactory(email="nologin@example.com")
    page = till.get(reverse("till:member", kwargs={"card": member.card_number}))
    assert "Send the account link again" in page.content.decode()
    response = till.post(reverse("till:claim-send", kwargs={"card": member.card_number}), follow=True)
    assert Delivery.objects.get(member=member).recipient == "nologin@example.com"
    assert TillAction.objects.get().kind == TillAction.Kind.CLAIM_SENT
    assert "delivery log" in response.content.decode()


def test_a_member_with_a_login_gets_no_claim_link(till, member):
    page = till.get(reverse("till:member", kwargs={"card": member.card_number}))
    assert "Send the account link again" not in page.content.decode()
    till.post(reverse("till:claim-send", kwargs={"card": member.card_number}))
    assert not Delivery.objects.exists()


# -- a physical card for a member who has none (or a new one) -----------------------


def attach(till, member, number):
    return till.post(reverse("till:card-attach", kwargs={"card": member.card_number}), {"card-card_number": number})


def test_a_scanned_card_replaces_the_members_number_and_is_logged(till, member, cashier, store):
    old, new = member.card_number, card_number(901)
    response = attach(till, member, f"{new}  ")
    assert response["Location"] == reverse("till:member", kwargs={"card": new})
    member.refresh_from_db()
    assert member.card_number == new
    action = TillAction.objects.get()
    assert (action.kind, action.user, action.store, action.member) == ("card", cashier, store, member)
    assert f"the number {old} no longer works" in till.get(response["Location"]).content.decode()
    assert till.get(reverse("till:member", kwargs={"card": old})).status_code == 404
    # The same card again (a double submit) changes and logs nothing.
    attach(till, member, new)
    assert TillAction.objects.count() == 1


def test_a_card_of_another_member_or_with_a_wrong_digit_is_refused_on_the_card_field(till, member):
    other = MemberFactory()
    response = attach(till, member, other.card_number)
    assert response.status_code == 400
    assert "card number already exists" in response.context["card_form"].errors["card_number"][0]
    assert response.context["card_form"].fields["card_number"].widget.attrs.get("autofocus")
    assert response.content.decode().count("autofocus") == 1
    bad = card_number(902)[:-1] + str((int(card_number(902)[-1]) + 1) % 10)
    assert "not a valid card number" in attach(till, member, bad).context["card_form"].errors["card_number"][0]
    old = member.card_number
    member.refresh_from_db()
    assert member.card_number == old
    assert not TillAction.objects.exists()
