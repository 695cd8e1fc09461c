"""``/staff/vouchers/`` and ``/staff/campaigns/``: finding a voucher by code or
member, its page, cancelling it (owner and manager), and campaigns created
and issued by marketing, to one member or a list."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from loyalty.models import LedgerEntry, PointsAccount
from loyalty.services.ledger import points_credit
from members.models import Member
from rewards.codes import voucher_code_new
from rewards.models import Campaign, Voucher
from rewards.services.gifts import campaign_create, campaign_issue
from rewards.services.redemption import reward_redeem
from rewards.services.vouchers import voucher_use
from tests.factories import MemberFactory, RewardFactory, card_number, code_mistyped
from tests.web.conftest import client_for

pytestmark = pytest.mark.django_db


def give_points(member, points: int, key: str = "gift") -> None:
    points_credit(member=member, points=points, kind=LedgerEntry.Kind.BONUS, idempotency_key=key)


def available(member) -> int:
    return PointsAccount.objects.get(member=member).available


def redeemed(member, reward=None, key="r") -> Voucher:
    reward = reward or RewardFactory(code="coffee", name_en="Free coffee", points_cost=100, stock=5)
    return reward_redeem(member=member, reward=reward, idempotency_key=key, channel="portal").voucher


@pytest.fixture
def voucher(member):
    give_points(member, 500)
    return redeemed(member)


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


# -- finding a voucher ---------------------------------------------------------------------


def test_a_code_typed_with_dashes_and_lower_case_opens_the_voucher(users, voucher):
    client = client_for(users["marketing"])
    response = client.get(reverse("staff:vouchers"), {"code": voucher.display_code.lower()})
    assert response.status_code == 302
    assert response["Location"] == reverse("staff:voucher", kwargs={"code": voucher.code})
    response = client.get(reverse("staff:vouchers"), {"code": f" {voucher.code[:7]} {voucher.code[7:]} "})
    assert response["Location"] == reverse("staff:voucher", kwargs={"code": voucher.code})


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("mistyped", "This voucher code has a typing mistake"),
        ("ABC0E", "Voucher codes never contain “0”"),
        ("ABCDE-FGH", "This voucher code is too short: a code has 15 characters"),
        ("unknown", "No voucher has this code."),
    ],
)
def test_a_wrong_code_says_what_is_wrong_with_it(users, voucher, typed, expected):
    code = {"mistyped": code_mistyped(voucher.code), "unknown": voucher_code_new()}.get(typed, typed)
    response = client_for(users["manager"]).get(reverse("staff:vouchers"), {"code": code})
    assert response.status_code == 200
    assert expected in text(response)
    assert response.context["code_form"].errors["code"]


@override_settings(VOUCHER_WRONG_CODES_LIMIT=2)
def test_a_burst_of_wrong_codes_blocks_every_code_for_a_while(users, voucher):
    client = client_for(users["manager"])
    for _ in range(3):
        client.get(reverse("staff:vouchers"), {"code": voucher_code_new()})
    response = client.get(reverse("staff:vouchers"), {"code": voucher.code})
    assert response.status_code == 429
    assert "Too many wrong voucher codes" in text(response)
    # The address is a lookup by code too.
    assert client.get(reverse("staff:voucher", kwargs={"code": voucher.code})).status_code == 429
    # Another user is not blocked.
    assert client_for(users["owner"]).get(reverse("staff:vouchers"), {"code": voucher.code}).status_code == 302


def test_the_voucher_address_takes_any_typed_form_and_refuses_a_wrong_code(users, voucher):
    client = client_for(users["marketing"])
    response = client.get(reverse("staff:voucher", kwargs={"code": voucher.display_code.lower()}))
    assert response["Location"] == reverse("staff:voucher", kwargs={"code": voucher.code})
    response = client.get(reverse("staff:voucher", kwargs={"code": code_mistyped(voucher.code)}))
    assert response.status_code == 404
    assert "typing mistake" in text(response)


def test_a_members_vouchers_are_found_by_card_number_email_or_name(users, member, voucher):
    other = MemberFactory(first_name="Adam", last_name="Nowicki", email="adam@example.com")
    give_points(other, 500)
    theirs = redeemed(other, key="o")
    client = client_for(users["marketing"])
    for query in (member.card_number, member.email.upper(), "Ada Nowak"):
        response = client.get(reverse("staff:vouchers"), {"member": query})
        assert response.context["member"] == member, query
        assert [v.pk for v in response.context["page_obj"]] == [voucher.pk]
    # "Ada" starts both names: the page asks which member.
    response = client.get(reverse("staff:vouchers"), {"member": "ada"})
    assert response.context["member"] is None
    assert {m.pk for m in response.context["member_choices"]} == {member.pk, other.pk}
    assert response.context["page_obj"] is None
    assert f"member={other.card_number}" in response.content.decode()
    response = client.get(reverse("staff:vouchers"), {"member": other.card_number})
    assert [v.pk for v in response.context["page_obj"]] == [theirs.pk]
    response = client.get(reverse("staff:vouchers"), {"member": "nobody@example.com"})
    assert "No member matches “nobody@example.com”." in text(response)
    assert response.context["page_obj"] is None


def test_the_list_filters_by_status_reward_and_origin(users, member, store, cashier):
    give_points(member, 1000)
    coffee = RewardFactory(code="coffee", points_cost=100)
    cake = RewardFactory(code="cake", points_cost=100, kind="product", sku="CAKE")
    used = redeemed(member, coffee, key="1")
    voucher_use(code=used.code, channel="till", store=store, user=cashier)
    open_ = redeemed(member, coffee, key="2")
    past = redeemed(member, cake, key="3")
    Voucher.objects.filter(pk=past.pk).update(valid_until=timezone.now() - dt.timedelta(minutes=1))
    campaign = campaign_create(name="Gift", reward=cake, valid_until=timezone.now() + dt.timedelta(days=9))
    campaign_issue(campaign=campaign, member_ids=[member.pk])
    gift = campaign.vouchers.get()
    client = client_for(users["manager"])

    def listed(**params):
        response = client.get(reverse("staff:vouchers"), params)
        return {v.pk for v in response.context["page_obj"]}

    assert listed() == {used.pk, open_.pk, past.pk, gift.pk}
    assert listed(state="used") == {used.pk}
    assert listed(state="issued") == {open_.pk, gift.pk}
    assert listed(state="expired") == {past.pk}  # issued, but past its end
    assert listed(reward="cake") == {past.pk, gift.pk}
    assert listed(origin="campaign") == {gift.pk}
    assert listed(reward="coffee", state="issued") == {open_.pk}


@pytest.mark.parametrize("count", [3, 30])
def test_the_voucher_list_uses_a_fixed_number_of_queries(users, store, count, django_assert_num_queries):
    reward = RewardFactory(code="coffee", points_cost=10)
    campaign = campaign_create(name="Gift", reward=reward, valid_until=timezone.now() + dt.timedelta(days=9))
    members = MemberFactory.create_batch(count)
    campaign_issue(campaign=campaign, member_ids=[m.pk for m in members])
    for v in Voucher.objects.all()[:2]:
        voucher_use(code=v.code, channel="till", store=store)
    client = client_for(users["owner"])
    url = reverse("staff:vouchers")
    client.get(url)  # warm the program cache
    # session, user, reward choices, count, page
    with django_assert_num_queries(5):
        response = client.get(url, {"origin": "campaign"})
    assert len(response.context["page_obj"]) == min(count, 25)
    # a member's vouchers: + the member search
    with django_assert_num_queries(6):
        client.get(url, {"member": members[0].card_number})


# -- a voucher's page ------------------------------------------------------------------------


def test_the_voucher_page_tells_its_whole_story(users, member, store, cashier, voucher):
    voucher_use(code=voucher.code, channel="till", store=store, user=cashier, receipt="R-77")
    response = client_for(users["marketing"]).get(reverse("staff:voucher", kwargs={"code": voucher.code}))
    page = text(response)
    assert voucher.display_code in page
    assert "Free coffee" in page and member.card_number in page
    assert reverse("staff:member-detail", kwargs={"pk": member.pk}) in page
    assert "Redeemed for points" in page and "Member portal" in page
    assert "Warsaw Centre" in page and "cashier@example.com" in page and "R-77" in page
    assert "This voucher was already used on" in page
    assert "A used voucher cannot be cancelled." in page
    assert [e.kind for e in response.context["entries"]] == ["redeem"]
    assert "−100" in page


def test_an_api_use_shows_the_client(users, voucher):
    voucher_use(code=voucher.code, channel="api", client="webshop", receipt="ORDER-9")
    page = text(client_for(users["owner"]).get(reverse("staff:voucher", kwargs={"code": voucher.code})))
    assert "webshop" in page and "ORDER-9" in page and "API" in page


# -- cancelling ---------------------------------------------------------------------------------


def cancel(client, voucher, reason="Customer changed their mind", follow=False, **extra):
    url = reverse("staff:voucher-cancel", kwargs={"code": voucher.code})
    return client.post(url, {"reason": reason, **extra}, follow=follow)


def test_cancelling_returns_the_points_once_and_a_second_cancel_is_refused(users, member, voucher):
    assert available(member) == 400
    client = client_for(users["manager"])
    response = cancel(client, voucher)
    assert response.status_code == 302
    assert response["Location"] == reverse("staff:voucher", kwargs={"code": voucher.code})
    assert available(member) == 500
    voucher.refresh_from_db()
    assert voucher.status == "cancelled" and voucher.cancelled_by == users["manager"]
    assert voucher.cancel_reason == "Customer changed their mind"
    page = text(client.get(response["Location"]))
    assert f"Voucher {voucher.display_code} was cancelled; 100 points went back to Ada Nowak." in page
    assert "Customer changed their mind" in page and "Returned" in page and "+100" in page

    again = cancel(client_for(users["owner"]), voucher, reason="twice", follow=True)
    assert again.redirect_chain == [(reverse("staff:voucher", kwargs={"code": voucher.code}), 302)]
    assert 'role="alert">This voucher was cancelled on' in text(again)
    assert available(member) == 500
    assert LedgerEntry.objects.filter(account__member=member, kind="redeem_cancel").count() == 1


def test_a_cancel_needs_a_reason(users, member, voucher):
    response = cancel(client_for(users["owner"]), voucher, reason="  ")
    assert response.status_code == 200
    assert response.context["cancel_form"].errors["reason"]
    voucher.refresh_from_db()
    assert voucher.status == "issued" and available(member) == 400


def test_an_expired_voucher_is_not_cancelled_and_its_points_are_not_returned(users, member, voucher):
    Voucher.objects.filter(pk=voucher.pk).update(valid_until=timezone.now() - dt.timedelta(hours=1))
    client = client_for(users["manager"])
    page = text(client.get(reverse("staff:voucher", kwargs={"code": voucher.code})))
    assert "the points of an expired voucher are not returned" in page
    assert "An expired voucher cannot be cancelled." in page
    assert 'name="reason"' not in page
    response = cancel(client, voucher, follow=True)
    assert 'role="alert">This voucher expired on' in text(response)
    assert "the points of an expired voucher are not returned" in text(response)
    assert available(member) == 400
    assert Voucher.objects.get(pk=voucher.pk).status == "issued"  # the task marks it expired; not cancelled


def test_a_used_voucher_is_not_cancelled(users, member, store, voucher):
    voucher_use(code=voucher.code, channel="till", store=store)
    response = cancel(client_for(users["manager"]), voucher, follow=True)
    assert 'role="alert">This voucher was already used on' in text(response)
    assert Voucher.objects.get(pk=voucher.pk).status == "used"
    assert available(member) == 400


@pytest.mark.parametrize(("who", "status"), [("marketing", 403), ("cashier", 403), ("member", 403)])
def test_only_owner_and_manager_cancel(users, member, voucher, who, status):
    assert cancel(client_for(users[who]), voucher).status_code == status
    assert Voucher.objects.get(pk=voucher.pk).status == "issued"
    assert available(member) == 400


def test_marketing_sees_the_voucher_but_no_cancel_form(users, voucher, member):
    page = text(client_for(users["marketing"]).get(reverse("staff:voucher", kwargs={"code": voucher.code})))
    assert "Only an owner or a manager can cancel a voucher" in page
    assert 'name="reason"' not in page
    member_page = text(client_for(users["marketing"]).get(reverse("staff:member-detail", kwargs={"pk": member.pk})))
    assert voucher.display_code in member_page and "voucher-cancel" not in member_page


def test_a_campaign_voucher_cancelled_returns_no_points(users, member):
    reward = RewardFactory(code="cake", kind="product", sku="CAKE")
    campaign = campaign_create(name="Gift", reward=reward, valid_until=timezone.now() + dt.timedelta(days=9))
    campaign_issue(campaign=campaign, member_ids=[member.pk])
    gift = campaign.vouchers.get()
    client = client_for(users["owner"])
    response = cancel(client, gift, reason="sent by mistake")
    page = text(client.get(response["Location"]))
    assert "It cost no points, so none went back to Ada Nowak." in page
    assert not LedgerEntry.objects.filter(account__member=member).exists()


def test_the_member_page_lists_vouchers_and_cancels_back_to_itself(users, member, voucher):
    client = client_for(users["manager"])
    url = reverse("staff:member-detail", kwargs={"pk": member.pk})
    page = text(client.get(url))
    assert voucher.display_code in page and "Ready to use" in page
    assert "Cancel and return 100 points" in page
    response = cancel(client, voucher, next=url)
    assert response["Location"] == url
    page = text(client.get(url))
    assert "Cancelled" in page and "100 points went back" in page
    # Somewhere else is not a place to go back to.
    give_points(member, 100, key="more")
    second = redeemed(member, key="r2")
    response = cancel(client, second, next="https://evil.example.com/")
    assert response["Location"] == reverse("staff:voucher", kwargs={"code": second.code})


# -- campaigns ------------------------------------------------------------------------------------


@pytest.fixture
def cake():
    return RewardFactory(code="cake", name_en="Free cake", kind="product", sku="CAKE", points_cost=0)


@pytest.fixture
def campaign(cake):
    return campaign_create(name="Birthday", reward=cake, valid_until=timezone.now() + dt.timedelta(days=30))


def test_marketing_creates_a_campaign_with_times_in_the_programs_zone(users, cake):
    RewardFactory(code="gala", kind="event", event_at=timezone.now() + dt.timedelta(days=5))
    client = client_for(users["marketing"])
    response = client.get(reverse("staff:campaign-create"))
    assert [r.code for r in response.context["form"].fields["reward"].queryset] == ["cake"]
    response = client.post(reverse("staff:campaign-create"), {
        "name": "Win-back", "reward": cake.pk, "valid_from": "2031-03-01T00:00", "valid_until": "2031-04-01T00:00",
    })
    campaign = Campaign.objects.get()
    assert response["Location"] == reverse("staff:campaign", kwargs={"pk": campaign.pk})
    assert campaign.valid_from == dt.datetime(2031, 2, 28, 23, 0, tzinfo=dt.UTC)  # midnight in Warsaw (CET)
    assert campaign.valid_until == dt.datetime(2031, 3, 31, 22, 0, tzinfo=dt.UTC)  # CEST by April
    assert campaign.created_by == users["marketing"]


def test_a_campaign_must_end_after_it_starts_and_in_the_future(users, cake):
    client = client_for(users["manager"])
    response = client.post(reverse("staff:campaign-create"), {
        "name": "Late", "reward": cake.pk, "valid_from": "2031-03-01T00:00", "valid_until": "2031-02-01T00:00",
    })
    assert "The end must come after the start." in text(response)
    response = client.post(reverse("staff:campaign-create"), {
        "name": "Past", "reward": cake.pk, "valid_from": "2020-01-01T00:00", "valid_until": "2020-02-01T00:00",
    })
    assert "The end must be in the future." in text(response)
    assert not Campaign.objects.exists()


def test_a_campaign_is_given_to_one_member_by_card_or_email_and_only_once(users, member, campaign):
    client = client_for(users["marketing"])
    url = reverse("staff:campaign-issue", kwargs={"pk": campaign.pk})
    response = client.post(url, {"form": "one", "one-member": member.card_number})
    assert response["Location"] == reverse("staff:campaign", kwargs={"pk": campaign.pk})
    assert "Ada Nowak was given the campaign&#x27;s voucher." in text(client.get(response["Location"]))
    response = client.post(url, {"form": "one", "one-member": member.email.upper()}, follow=True)
    assert "Ada Nowak already has this campaign&#x27;s voucher; nothing was issued." in text(response)
    assert campaign.vouchers.count() == 1
    voucher = campaign.vouchers.get()
    assert voucher.member == member and voucher.points == 0 and voucher.issued_by == users["marketing"]
    response = client.post(url, {"form": "one", "one-member": "nobody@example.com"})
    assert response.status_code == 200
    assert "No member has the email nobody@example.com." in text(response)


def test_a_list_with_a_wrong_line_issues_nothing_and_names_the_lines(users, member, campaign):
    others = MemberFactory.create_batch(2)
    typed = "\n".join([
        others[0].card_number,
        "",
        member.email,
        card_number(999),  # valid, but nobody's
        "hello",
        others[1].email.upper(),
        "2900000000002",  # a wrong check digit
    ])
    response = client_for(users["marketing"]).post(
        reverse("staff:campaign-issue", kwargs={"pk": campaign.pk}), {"form": "list", "list-members": typed}
    )
    assert response.status_code == 200
    page = text(response)
    assert "3 lines are wrong; nobody was given a voucher." in page
    assert f"Line 4: No member has the card number {card_number(999)}." in page
    assert "Line 5: “hello” is neither a card number nor an email address." in page
    assert "Line 7: 2900000000002 is not a valid card number" in page
    assert not Voucher.objects.exists()


def test_a_list_issued_again_gives_nobody_a_second_voucher(users, member, campaign):
    others = MemberFactory.create_batch(2)
    blocked = MemberFactory(status=Member.Status.BLOCKED)
    client = client_for(users["manager"])
    url = reverse("staff:campaign-issue", kwargs={"pk": campaign.pk})
    typed = f"{member.card_number}\n{others[0].email}\n{blocked.card_number}\n{member.email}\n"
    page = text(client.post(url, {"form": "list", "list-members": typed}, follow=True))
    assert "2 vouchers issued." in page and "1 member was skipped: their account is blocked." in page
    typed += others[1].card_number
    page = text(client.post(url, {"form": "list", "list-members": typed}, follow=True))
    assert "1 voucher issued. 2 members already had this campaign&#x27;s voucher and were not given another." in page
    assert sorted(campaign.vouchers.values_list("member_id", flat=True)) == sorted(
        [member.pk, others[0].pk, others[1].pk]
    )


def test_a_csv_file_with_a_card_number_or_email_column_is_read(users, member, campaign):
    other = MemberFactory()
    content = f"\ufefffirst_name,email,card_number\nAda,,{member.card_number}\nX,{other.email},\n".encode()
    response = client_for(users["marketing"]).post(
        reverse("staff:campaign-issue", kwargs={"pk": campaign.pk}),
        {"form": "list", "list-file": SimpleUploadedFile("list.csv", content, content_type="text/csv")},
        follow=True,
    )
    assert "2 vouchers issued." in text(response)
    assert set(campaign.vouchers.values_list("member_id", flat=True)) == {member.pk, other.pk}


def test_a_csv_file_without_the_columns_is_refused(users, campaign):
    content = b"name,phone\nAda,+48601234567\n"
    response = client_for(users["marketing"]).post(
        reverse("staff:campaign-issue", kwargs={"pk": campaign.pk}),
        {"form": "list", "list-file": SimpleUploadedFile("list.csv", content, content_type="text/csv")},
    )
    assert "The first line must be a header with a card_number or an email column." in text(response)
    assert not Voucher.objects.exists()


def test_an_ended_campaign_is_not_issued(users, member, campaign):
    Campaign.objects.filter(pk=campaign.pk).update(
        valid_from=timezone.now() - dt.timedelta(days=9), valid_until=timezone.now() - dt.timedelta(days=1)
    )
    client = client_for(users["marketing"])
    page = text(client.get(reverse("staff:campaign", kwargs={"pk": campaign.pk})))
    assert "This campaign ended on" in page and "one-member" not in page
    response = client.post(
        reverse("staff:campaign-issue", kwargs={"pk": campaign.pk}),
        {"form": "one", "one-member": member.card_number}, follow=True,
    )
    assert "This campaign has ended" in text(response)
    assert not Voucher.objects.exists()


@pytest.mark.parametrize("who", ["cashier", "member"])
def test_only_staff_issue_campaigns(users, member, campaign, who):
    response = client_for(users[who]).post(
        reverse("staff:campaign-issue", kwargs={"pk": campaign.pk}), {"form": "one", "one-member": member.card_number}
    )
    assert response.status_code == 403
    response = client_for(users[who]).post(reverse("staff:campaign-create"), {"name": "x"})
    assert response.status_code == 403
    assert not Voucher.objects.exists()


def test_the_campaign_list_shows_issued_and_used_counts(users, member, store, campaign):
    others = MemberFactory.create_batch(2)
    campaign_issue(campaign=campaign, member_ids=[member.pk, *(m.pk for m in others)])
    voucher_use(code=campaign.vouchers.first().code, channel="till", store=store)
    response = client_for(users["marketing"]).get(reverse("staff:campaigns"))
    row = response.context["campaigns"][0]
    assert (row.vouchers_issued, row.vouchers_used, row.vouchers_open) == (3, 1, 2)
    assert "Birthday" in text(response) and "Free cake" in text(response)


@pytest.mark.parametrize("count", [2, 30])
def test_the_campaign_pages_use_a_fixed_number_of_queries(users, cake, count, django_assert_num_queries):
    members = MemberFactory.create_batch(count)
    for n in range(count):
        campaign = campaign_create(name=f"C{n}", reward=cake, valid_until=timezone.now() + dt.timedelta(days=9))
        campaign_issue(campaign=campaign, member_ids=[m.pk for m in members])
    client = client_for(users["owner"])
    client.get(reverse("staff:campaigns"))  # warm the program cache
    # session, user, count, page
    with django_assert_num_queries(4):
        client.get(reverse("staff:campaigns"))
    url = reverse("staff:campaign", kwargs={"pk": campaign.pk})
    # session, user, campaign with counts, vouchers count + page
    with django_assert_num_queries(5):
        client.get(url)


@pytest.mark.parametrize("count", [1, 12])
def test_the_member_page_reads_the_vouchers_in_one_query(users, member, store, count, django_assert_num_queries):
    give_points(member, 100 * count)
    reward = RewardFactory(code="coffee", points_cost=100)
    for n in range(count):
        voucher = redeemed(member, reward, key=f"k{n}")
    voucher_use(code=voucher.code, channel="till", store=store)
    client = client_for(users["owner"])
    url = reverse("staff:member-detail", kwargs={"pk": member.pk})
    client.get(url)
    # as tests/web/test_staff.py counts it (the member's scores included), with one ledger entry per voucher
    with django_assert_num_queries(12):
        response = client.get(url)
    assert len(response.context["member_vouchers"]) == min(count, 10)
