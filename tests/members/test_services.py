import pytest

from members.cards import card_number_generate, card_number_is_valid, ean13_check_digit
from members.exceptions import ContactRequired, DuplicateMember, InvalidCardNumber
from members.models import Member
from members.services.enrollment import member_enroll
from tests.factories import MemberFactory, card_number


def test_generated_card_numbers_carry_a_valid_ean13_check_digit():
    numbers = {card_number_generate() for _ in range(200)}
    assert all(card_number_is_valid(n) and n.startswith("29") and len(n) == 13 for n in numbers)


def test_a_mistyped_digit_or_swapped_neighbours_fail_the_check():
    number = card_number(123)
    typo = number[:5] + str((int(number[5]) + 1) % 10) + number[6:]
    assert card_number_is_valid(number) and not card_number_is_valid(typo)
    assert ean13_check_digit("400638133393") == "1"  # a published EAN-13


@pytest.mark.django_db
def test_enroll_issues_a_card_and_refuses_the_same_person_twice():
    member = member_enroll(email="Ala@Example.com", first_name="Ala")
    assert card_number_is_valid(member.card_number)
    with pytest.raises(DuplicateMember) as error:
        member_enroll(email="ala@example.com")
    assert error.value.field == "email" and member.card_number in error.value.message
    assert Member.objects.count() == 1


@pytest.mark.django_db
def test_enroll_refuses_a_taken_phone_a_bad_card_and_no_contact():
    MemberFactory(phone="+48601234567")
    with pytest.raises(DuplicateMember) as error:
        member_enroll(phone="+48601234567")
    assert error.value.field == "phone"
    with pytest.raises(InvalidCardNumber):
        member_enroll(email="x@example.com", card_number="2900000000000")
    with pytest.raises(ContactRequired):
        member_enroll(first_name="Nobody")


@pytest.mark.django_db
def test_enroll_attaches_a_scanned_physical_card():
    number = card_number(777)
    assert member_enroll(email="b@example.com", card_number=number).card_number == number
