"""Campaign vouchers: reading a pasted or uploaded list of members (every wrong
line named, each member once), issuing once per member however often, and
the staff reads of vouchers and campaigns (states as read now, counts)."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.utils import timezone

from members.models import Member
from rewards.models import Voucher
from rewards.selectors import vouchers as selectors
from rewards.selectors.vouchers import (
    campaign_list_for_staff,
    recipients_from_csv,
    recipients_from_text,
    recipients_resolve,
    voucher_get_for_staff,
    voucher_list_for_staff,
)
from rewards.services.gifts import campaign_create, campaign_issue
from rewards.services.vouchers import voucher_cancel, voucher_use
from tests.factories import MemberFactory, ProgramFactory, RewardFactory, StaffFactory, StoreFactory, card_number

pytestmark = pytest.mark.django_db


@pytest.fixture
def program(db):
    return ProgramFactory()


@pytest.fixture
def campaign(program):
    reward = RewardFactory(code="cake", kind="product", sku="CAKE")
    return campaign_create(name="Birthday", reward=reward, valid_until=timezone.now() + dt.timedelta(days=30))


# -- reading a list -------------------------------------------------------------------------


def test_card_numbers_and_emails_are_read_in_any_form_each_member_once(program, django_assert_num_queries):
    ada = MemberFactory(email="Ada@Example.com")
    bob = MemberFactory()
    spaced = f"{bob.card_number[:4]} {bob.card_number[4:8]}-{bob.card_number[8:]}"
    with django_assert_num_queries(2):  # one for the cards, one for the emails
        found = recipients_from_text(f"ada@example.COM\n\n  {spaced}  \n{ada.card_number}\n")
    assert found.errors == []
    assert found.member_ids == [ada.pk, bob.pk]
    assert found.entries == 3


def test_every_wrong_line_is_named_by_its_number(program):
    MemberFactory(email="twin@example.com")
    MemberFactory(email="TWIN@example.com")
    gone = MemberFactory(status=Member.Status.DELETED)
    found = recipients_from_text("\n".join([
        "12345",
        card_number(424242),
        "twin@example.com",
        "not-an-email@",
        "Ada Nowak",
        gone.card_number,
        "2900000000002",
    ]))
    assert found.member_ids == []
    assert found.errors == [
        (1, "“12345” is not a card number: a card number has 13 digits."),
        (2, f"No member has the card number {card_number(424242)}."),
        (3, "2 members have the email twin@example.com; give their card numbers instead."),
        (4, "“not-an-email@” is not an email address."),
        (5, "“Ada Nowak” is neither a card number nor an email address."),
        (6, f"No member has the card number {gone.card_number}."),
        (7, "2900000000002 is not a valid card number: a digit is wrong or two are swapped."),
    ]


def test_blocked_members_are_found_for_the_campaign_to_skip(program):
    blocked = MemberFactory(status=Member.Status.BLOCKED)
    assert recipients_resolve([(1, blocked.card_number)]).member_ids == [blocked.pk]


def test_an_empty_list_is_an_error(program):
    assert recipients_from_text(" \n\n").errors == [
        (0, "The list is empty: give one card number or email per line.")
    ]


def test_a_list_longer_than_the_limit_is_refused_without_lookups(program, monkeypatch, django_assert_num_queries):
    monkeypatch.setattr(selectors, "RECIPIENTS_MAX", 2)
    with django_assert_num_queries(0):
        found = recipients_from_text("a@example.com\nb@example.com\nc@example.com")
    assert found.member_ids == []
    assert found.errors[0][0] == 0 and "at most 2 members at a time" in found.errors[0][1]


def test_a_csv_names_members_by_card_number_or_email_with_line_numbers(program):
    ada, bob = MemberFactory(), MemberFactory()
    content = (
        "\ufeffEmail,Card_Number,first_name\n"
        f"{bob.email},{ada.card_number},Ada\n"  # the card number wins
        f"{bob.email},,Bob\n"
        ",,Nobody\n"
        "\n"
        "x@example.com,,X\n"
    ).encode()
    found = recipients_from_csv(io.BytesIO(content))
    assert found.member_ids == [ada.pk, bob.pk]
    assert found.errors == [
        (4, "This row has no card number and no email."),
        (6, "No member has the email x@example.com."),
    ]


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"name\nAda\n", (1, "The first line must be a header with a card_number or an email column.")),
        (b"", (1, "The first line must be a header with a card_number or an email column.")),
        (b"email\n", (0, "The file has no members: after the header, one member per row.")),
        ("email\nżółw@example.com\n".encode("cp1250"), (0, "The file is not UTF-8 text. Save it as \"CSV UTF-8\" "
                                                            "and upload it again.")),
    ],
)
def test_a_csv_that_cannot_be_read_says_why(program, content, error):
    assert recipients_from_csv(io.BytesIO(content)).errors == [error]


def test_a_csv_card_column_with_an_email_in_it_is_an_error(program):
    member = MemberFactory()
    found = recipients_from_csv(io.BytesIO(f"card_number\n{member.email}\n".encode()))
    assert found.errors == [(2, f"“{member.email}” is neither a card number nor an email address.")]


# -- issuing ------------------------------------------------------------------------------------


def test_issuing_again_gives_nobody_a_second_voucher(campaign):
    members = MemberFactory.create_batch(3)
    blocked = MemberFactory(status=Member.Status.BLOCKED)
    first = campaign_issue(campaign=campaign, member_ids=[m.pk for m in members[:2]] + [blocked.pk])
    again = campaign_issue(campaign=campaign, member_ids=[m.pk for m in members] + [members[0].pk])
    assert (first.issued, first.already, first.inactive) == (2, 0, 1)
    assert (again.issued, again.already, again.inactive) == (1, 2, 0)
    assert sorted(campaign.vouchers.values_list("member_id", flat=True)) == sorted(m.pk for m in members)
    assert set(campaign.vouchers.values_list("points", flat=True)) == {0}


# -- staff reads --------------------------------------------------------------------------------


def test_states_read_now_and_campaign_counts(campaign):
    store = StoreFactory()
    manager = StaffFactory()
    members = MemberFactory.create_batch(4)
    campaign_issue(campaign=campaign, member_ids=[m.pk for m in members])
    used, cancelled, past, open_ = (campaign.vouchers.get(member=m) for m in members)
    voucher_use(code=used.code, channel="till", store=store)
    voucher_cancel(voucher=cancelled, actor=manager, reason="mistake")
    Voucher.objects.filter(pk=past.pk).update(valid_until=timezone.now() - dt.timedelta(seconds=1))

    states = {v.pk: v.state for v in voucher_list_for_staff(campaign=campaign)}
    assert states == {used.pk: "used", cancelled.pk: "cancelled", past.pk: "expired", open_.pk: "issued"}
    assert [v.pk for v in voucher_list_for_staff(state="expired")] == [past.pk]
    assert voucher_get_for_staff(pk=past.pk).state == "expired"
    row = campaign_list_for_staff().get(pk=campaign.pk)
    assert (row.vouchers_issued, row.vouchers_used, row.vouchers_open, row.vouchers_cancelled,
            row.vouchers_expired) == (4, 1, 1, 1, 1)


def test_a_voucher_page_reads_everything_in_one_query(campaign, django_assert_num_queries):
    member = MemberFactory()
    campaign_issue(campaign=campaign, member_ids=[member.pk])
    voucher = campaign.vouchers.get()
    with django_assert_num_queries(1):
        found = voucher_get_for_staff(pk=voucher.pk)
        assert (found.reward.code, found.member.pk, found.campaign.name) == ("cake", member.pk, "Birthday")
        assert found.issued_by is None and found.used_store is None and found.redeem_entry is None
