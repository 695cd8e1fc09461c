"""Enrollment records the consents a new member gives, as the start of their history."""

import pytest

from members.exceptions import DuplicateMember
from members.models import ConsentChange, Member
from members.services.enrollment import member_enroll
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_each_consent_given_is_recorded_with_its_source_and_actor():
    cashier = UserFactory(role="cashier")
    member = member_enroll(
        email="ola@example.com", first_name="Ola", marketing_consent=True, sms_consent=True,
        consent_source=ConsentChange.Source.TILL, consent_actor=cashier,
    )
    member.refresh_from_db()
    assert member.marketing_consent and member.sms_consent
    rows = list(member.consent_changes.order_by("channel").values_list("channel", "given", "source", "actor", "at"))
    assert rows == [
        ("email", True, "till", cashier.pk, member.enrolled_at),
        ("sms", True, "till", cashier.pk, member.enrolled_at),
    ]


def test_only_the_consents_given_are_recorded():
    member = member_enroll(phone="+48601234567", sms_consent=True)
    assert list(member.consent_changes.values_list("channel", "source")) == [("sms", "signup")]
    assert not member.marketing_consent
    quiet = member_enroll(email="quiet@example.com")
    assert not quiet.consent_changes.exists()


def test_a_refused_enrollment_records_no_consent():
    MemberFactory(email="taken@example.com")
    with pytest.raises(DuplicateMember):
        member_enroll(email="TAKEN@example.com", marketing_consent=True, sms_consent=True)
    assert not ConsentChange.objects.exists()
    assert Member.objects.count() == 1


def test_attaching_a_card_replaces_the_number_once():
    from members.exceptions import InvalidCardNumber
    from members.services.enrollment import member_card_attach
    from tests.factories import card_number

    member = member_enroll(email="card@example.com")
    new = card_number(77)
    assert member_card_attach(member_id=member.pk, card_number=new) == (member, True)
    member.refresh_from_db()
    assert member.card_number == new
    assert member_card_attach(member_id=member.pk, card_number=new)[1] is False
    with pytest.raises(DuplicateMember):
        member_card_attach(member_id=MemberFactory().pk, card_number=new)
    with pytest.raises(InvalidCardNumber):
        member_card_attach(member_id=member.pk, card_number=new[:-1] + str((int(new[-1]) + 1) % 10))
