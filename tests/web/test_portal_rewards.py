"""The member's rewards pages: the catalog with what they can afford and why
not the rest, redeeming with a confirmation (once, however often it is
sent), event waitlists, the voucher wallet and the voucher to show at the
till; another member's voucher is a 404; the home page's nudge."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from loyalty.models import LedgerEntry, MemberTier, PointsAccount
from loyalty.services.ledger import points_credit
from loyalty.services.program import program_get
from members.exceptions import LoyaltyError
from rewards.models import PartnerCode, Reward, Voucher, WaitlistEntry
from rewards.services.redemption import reward_redeem, reward_redeemable_check
from rewards.services.vouchers import voucher_cancel, voucher_use
from tests.factories import CharityFactory, MemberFactory, RewardFactory, TierFactory, UserFactory
from tests.web.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def portal(users):
    return client_for(users["member"])


def give(member, points: int, key: str = "gift") -> None:
    points_credit(member=member, points=points, kind=LedgerEntry.Kind.BONUS, idempotency_key=key)


def available(member) -> int:
    return PointsAccount.objects.get(member=member).available


def redeem(member, reward, key: str) -> Voucher:
    return reward_redeem(member=member, reward=reward, idempotency_key=key, channel=Voucher.Channel.PORTAL).voucher


def form_key(response) -> str:
    match = re.search(r'name="key" value="([^"]+)"', response.content.decode())
    assert match, "the confirmation form carries an idempotency key"
    return match.group(1)


def text(response) -> str:
    """The page's text as read: inline tags dropped, other tags a space, white space collapsed."""
    html = re.sub(r"</?(strong|em|a|span|time)\b[^>]*>", "", response.content.decode())
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.fixture
def shelf(program, member):
    """One reward of each situation for a member with 250 points and no tier."""
    now = timezone.now()
    gold = TierFactory(code="gold", name_en="Gold", rank=2)
    give(member, 250)
    limited = RewardFactory(code="limited", name_en="Cinema ticket", points_cost=50, member_limit=1,
                            member_limit_period=Reward.LimitPeriod.MONTH)
    redeem(member, limited, "earlier")  # 200 points left; the month's one is used
    return {
        "afford": RewardFactory(code="coffee", name_en="Free coffee", kind="product", points_cost=150),
        "short": RewardFactory(code="bag", name_en="Tote bag", kind="product", points_cost=500),
        "tier": RewardFactory(code="lounge", name_en="Lounge pass", points_cost=100, min_tier=gold),
        "limit": limited,
        "stock": RewardFactory(code="mug", name_en="Mug", kind="product", points_cost=100, stock=0),
        "full": RewardFactory(code="tasting", name_en="Wine tasting", kind="event", points_cost=100, stock=0,
                              event_at=now + dt.timedelta(days=10), place="Cellar"),
        "partner": RewardFactory(code="partner", name_en="Spa day", kind="partner", points_cost=100),
        "not_yet": RewardFactory(code="later", name_en="Summer hat", points_cost=10,
                                 available_from=now + dt.timedelta(days=5)),
        "ended": RewardFactory(code="ended", name_en="Winter scarf", points_cost=10,
                               available_until=now - dt.timedelta(days=1)),
    }


# -- the catalog ------------------------------------------------------------------------------


def test_catalog_sorts_rewards_by_what_the_member_can_do_and_says_why(portal, shelf):
    response = portal.get(reverse("me:rewards"))
    assert response.status_code == 200
    catalog = response.context["catalog"]
    states = {item.reward.code: item.state for item in catalog.items}
    assert states == {
        "coffee": "afford", "bag": "short", "lounge": "tier", "limited": "limit", "mug": "sold_out",
        "tasting": "full", "partner": "sold_out", "later": "not_now", "ended": "closed",
    }
    page = text(response)
    assert "You have 200 points to spend." in page
    assert "You can redeem 1 reward now" in page
    assert "You would have 50 points left." in page
    assert "You have 200 of 500 points: 300 more points to go." in page
    assert "Lounge pass is for Gold members and above." in page
    assert "Cinema ticket can be redeemed 1 time a month; try again next month." in page
    assert "Mug is out of stock." in page
    assert "Spa day is out of stock." in page  # a partner reward with no free code
    assert "Wine tasting is full. You can join the waitlist." in page
    assert "Join the waitlist" in page
    assert "Summer hat can be redeemed from" in page
    assert "Winter scarf could be redeemed until" in page


def test_the_catalogs_bulk_facts_give_the_same_answer_as_the_check_reading_per_reward(portal, member, shelf):
    items = portal.get(reverse("me:rewards")).context["catalog"].items
    for item in items:
        try:
            reward_redeemable_check(reward=item.reward, member=member, account=None, program=program_get(),
                                    now=timezone.now(), stock=True)
        except LoyaltyError as error:
            assert item.reason == error.message, item.reward.code
        else:
            assert item.can_redeem, item.reward.code


def test_catalog_leaves_out_archived_rewards_and_those_outside_the_catalog(portal, member, program):
    RewardFactory(code="old", name_en="Old reward", status=Reward.Status.ARCHIVED)
    RewardFactory(code="gift-only", name_en="Birthday cake", in_catalog=False)
    page = text(portal.get(reverse("me:rewards")))
    assert "Old reward" not in page and "Birthday cake" not in page
    assert "There are no rewards in the catalog yet." in page
    assert portal.get(reverse("me:reward", kwargs={"code": "old"})).status_code == 404
    assert portal.get(reverse("me:reward", kwargs={"code": "gift-only"})).status_code == 404


def test_catalog_counts_this_periods_redemptions_and_free_partner_codes(portal, member, program, users):
    give(member, 1000)
    weekly = RewardFactory(code="weekly", points_cost=10, member_limit=2, member_limit_period=Reward.LimitPeriod.WEEK)
    old = redeem(member, weekly, "last-week")
    Voucher.objects.filter(pk=old.pk).update(issued_at=timezone.now() - dt.timedelta(days=8))
    redeem(member, weekly, "this-week")
    cancelled = redeem(member, weekly, "cancelled")
    voucher_cancel(voucher=cancelled, actor=users["manager"], reason="changed my mind")
    partner = RewardFactory(code="spa", kind="partner", points_cost=10)
    PartnerCode.objects.create(reward=partner, code="SPA-1")
    items = {item.reward.code: item for item in portal.get(reverse("me:rewards")).context["catalog"].items}
    assert items["weekly"].state == "afford"  # one this week: last week's and the cancelled one do not count
    assert (items["spa"].state, items["spa"].free_codes) == ("afford", 1)
    redeem(member, weekly, "this-week-2")
    items = {item.reward.code: item for item in portal.get(reverse("me:rewards")).context["catalog"].items}
    assert items["weekly"].state == "limit"


def test_a_member_of_the_tier_can_redeem_a_tier_reward(portal, member, shelf):
    MemberTier.objects.create(member=member, tier=shelf["tier"].min_tier)
    items = {item.reward.code: item for item in portal.get(reverse("me:rewards")).context["catalog"].items}
    assert items["lounge"].state == "afford"


@pytest.mark.parametrize("count", [1, 4])
def test_catalog_uses_a_fixed_number_of_queries(portal, member, program, count, django_assert_num_queries):
    give(member, 300)
    gold = TierFactory(code="gold", rank=2)
    MemberTier.objects.create(member=member, tier=gold)
    now = timezone.now()
    for n in range(count):
        RewardFactory(code=f"plain-{n}", points_cost=100 + n)
        RewardFactory(code=f"tier-{n}", min_tier=gold)
        RewardFactory(code=f"daily-{n}", member_limit=1, member_limit_period=Reward.LimitPeriod.DAY)
        RewardFactory(code=f"ever-{n}", member_limit=3)
        PartnerCode.objects.create(reward=RewardFactory(code=f"partner-{n}", kind="partner"), code=f"P{n}")
        RewardFactory(code=f"event-{n}", kind="event", stock=0, event_at=now + dt.timedelta(days=3))
    redeem(member, Reward.objects.get(code="daily-0"), "daily")
    portal.get(reverse("me:rewards"))
    # session, user, member, rewards, account, tier rank, limit counts, partner codes, waitlist
    with django_assert_num_queries(9):
        response = portal.get(reverse("me:rewards"))
    assert len(response.context["catalog"].items) == 6 * count


# -- redeeming --------------------------------------------------------------------------------


def test_reward_page_confirms_with_the_balance_before_and_after(portal, member, program):
    give(member, 250)
    RewardFactory(code="coffee", name_en="Free coffee", kind="product", points_cost=150, voucher_valid_days=14)
    response = portal.get(reverse("me:reward", kwargs={"code": "coffee"}))
    page = text(response)
    assert "Your points now 250" in page
    assert "This reward \u2212150" in page
    assert "Your points after 100" in page
    assert "Redeem for 150 points" in page
    assert "14 days after you redeem it" in page
    assert len(form_key(response)) >= 16


def test_redeeming_debits_the_points_and_shows_the_voucher(portal, member, program):
    give(member, 250)
    reward = RewardFactory(code="coffee", name_en="Free coffee", kind="product", points_cost=150)
    url = reverse("me:reward", kwargs={"code": "coffee"})
    response = portal.post(url, {"key": form_key(portal.get(url))}, follow=True)
    voucher = Voucher.objects.get(member=member)
    assert response.redirect_chain == [(reverse("me:voucher", kwargs={"code": voucher.code}), 302)]
    assert (voucher.reward, voucher.issued_via, voucher.points) == (reward, Voucher.Channel.PORTAL, 150)
    assert available(member) == 100
    page = text(response)
    assert "Your voucher for Free coffee is ready. Show it at the till." in page
    assert voucher.display_code in page
    assert "Ready to use" in page


def test_the_same_confirmation_sent_twice_gives_one_voucher(portal, member, program):
    give(member, 1000)
    RewardFactory(code="coffee", points_cost=100)
    url = reverse("me:reward", kwargs={"code": "coffee"})
    key = form_key(portal.get(url))
    first = portal.post(url, {"key": key})
    second = portal.post(url, {"key": key})
    assert Voucher.objects.filter(member=member).count() == 1
    assert available(member) == 900
    assert first["Location"] == second["Location"]
    assert portal.get(url).status_code == 200 and form_key(portal.get(url)) != key  # each page load, a new key


def test_a_refused_redemption_is_a_form_error_with_the_services_message(portal, member, program):
    give(member, 50)
    RewardFactory(code="coffee", points_cost=100)
    url = reverse("me:reward", kwargs={"code": "coffee"})
    response = portal.post(url, {"key": "k" * 20})
    assert response.status_code == 200
    assert "You need 100 points; you have 50." in text(response)
    assert 'role="alert"' in response.content.decode()
    assert not Voucher.objects.exists() and available(member) == 50


def test_a_form_without_a_valid_key_redeems_nothing(portal, member, program):
    give(member, 500)
    RewardFactory(code="coffee", points_cost=100)
    response = portal.post(reverse("me:reward", kwargs={"code": "coffee"}), {"key": "short"})
    assert "This form is out of date." in text(response)
    assert not Voucher.objects.exists()


def test_a_donation_is_given_at_once_with_thanks(portal, member, program):
    give(member, 500)
    charity = CharityFactory(code="shelter", name_en="City Shelter")
    RewardFactory(code="give", name_en="Give 5.00", kind="donation", points_cost=100, value=Decimal("5.00"),
                  charity=charity)
    url = reverse("me:reward", kwargs={"code": "give"})
    assert "Confirm your donation" in text(portal.get(url))
    response = portal.post(url, {"key": form_key(portal.get(url))}, follow=True)
    page = text(response)
    assert "Thank you! Your donation has been given." in page
    assert "You gave" in page and "City Shelter" in page
    assert "City Shelter has received 1 donation from our members so far." in page
    assert 'class="qr"' not in response.content.decode()  # nothing to show at a till
    charity.refresh_from_db()
    assert charity.donations == 1


def test_joining_and_leaving_the_waitlist_of_a_full_event(portal, member, program):
    give(member, 500)
    event = RewardFactory(code="tasting", name_en="Wine tasting", kind="event", points_cost=100, stock=0,
                          event_at=timezone.now() + dt.timedelta(days=7), place="Cellar")
    url = reverse("me:reward", kwargs={"code": "tasting"})
    page = text(portal.get(url))
    assert "This event is full" in page and "Cellar" in page and "Places left 0" in page
    response = portal.post(url, {"waitlist": "join"}, follow=True)
    assert "You are on the waitlist for Wine tasting." in text(response)
    assert WaitlistEntry.objects.get(member=member, reward=event).status == WaitlistEntry.Status.WAITING
    assert "Leave the waitlist" in text(response)
    response = portal.post(url, {"waitlist": "leave"}, follow=True)
    assert "You left the waitlist for Wine tasting." in text(response)
    assert WaitlistEntry.objects.get(member=member, reward=event).status == WaitlistEntry.Status.LEFT
    assert not Voucher.objects.exists() and available(member) == 500


def test_joining_the_waitlist_without_the_points_is_refused_with_the_reason(portal, member, program):
    give(member, 10)
    RewardFactory(code="tasting", kind="event", points_cost=100, stock=0,
                  event_at=timezone.now() + dt.timedelta(days=7))
    response = portal.post(reverse("me:reward", kwargs={"code": "tasting"}), {"waitlist": "join"})
    assert "You need 100 points; you have 10." in text(response)
    assert not WaitlistEntry.objects.exists()


# -- the wallet and the voucher ------------------------------------------------------------------


def test_wallet_shows_ready_vouchers_first_then_the_history(portal, member, program, store, cashier, users):
    give(member, 10_000)
    now = timezone.now()
    soon = redeem(member, RewardFactory(code="soon", name_en="Soon", voucher_valid_days=3), "soon")
    later = redeem(member, RewardFactory(code="later", name_en="Later", voucher_valid_days=60), "later")
    forever = redeem(member, RewardFactory(code="forever", name_en="Forever", voucher_valid_days=None), "forever")
    used = redeem(member, RewardFactory(code="used", name_en="Used one"), "used")
    voucher_use(code=used.code, channel=Voucher.Channel.TILL, store=store, user=cashier)
    cancelled = redeem(member, RewardFactory(code="cancelled", name_en="Cancelled one"), "cancelled")
    voucher_cancel(voucher=cancelled, actor=users["manager"], reason="asked")
    lapsed = redeem(member, RewardFactory(code="lapsed", name_en="Lapsed"), "lapsed")
    Voucher.objects.filter(pk=lapsed.pk).update(valid_until=now - dt.timedelta(hours=1))  # not marked yet
    response = portal.get(reverse("me:vouchers"))
    assert [v.code for v in response.context["ready"]] == [soon.code, later.code, forever.code]
    history = [v.code for v in response.context["history_page"].object_list]
    assert history == [lapsed.code, cancelled.code, used.code]
    page = text(response)
    assert page.index("Soon") < page.index("Forever") < page.index("Used, expired and cancelled") < page.index("Lapsed")
    assert "Expired on" in page and "Cancelled on" in page and "Used on" in page


def test_wallet_history_is_paginated(portal, member, program):
    give(member, 10_000)
    reward = RewardFactory(code="coffee", points_cost=10)
    for n in range(23):
        redeem(member, reward, f"k{n}")
    Voucher.objects.update(status=Voucher.Status.EXPIRED)
    first = portal.get(reverse("me:vouchers"))
    second = portal.get(reverse("me:vouchers"), {"page": 2})
    assert len(first.context["history_page"].object_list) == 20
    assert len(second.context["history_page"].object_list) == 3
    assert "Page 1 of 2" in text(first)


@pytest.mark.parametrize("count", [2, 12])
def test_wallet_uses_a_fixed_number_of_queries(portal, member, program, count, django_assert_num_queries):
    give(member, 10_000)
    charity = CharityFactory(code="shelter")
    for n in range(count):
        redeem(member, RewardFactory(code=f"ready-{n}"), f"r{n}")
        redeem(member, RewardFactory(code=f"gift-{n}", kind="donation", charity=charity, points_cost=1), f"d{n}")
    portal.get(reverse("me:vouchers"))
    # session, user, member, ready vouchers, history count, history page
    with django_assert_num_queries(6):
        response = portal.get(reverse("me:vouchers"))
    assert len(response.context["ready"]) == count


def test_voucher_page_draws_the_code_as_qr_barcode_and_grouped_text(portal, member, program):
    give(member, 500)
    voucher = redeem(member, RewardFactory(code="ten-off", name_en="10 off", value=Decimal("10.00")), "k")
    response = portal.get(reverse("me:voucher", kwargs={"code": voucher.code}))
    html = response.content.decode()
    assert re.search(r'<svg role="img" class="qr"[^>]*><title>QR code of voucher ' + voucher.display_code, html)
    assert re.search(r'<svg role="img" class="barcode"[^>]*><title>Barcode of voucher ' + voucher.display_code, html)
    assert re.fullmatch(r"[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}", voucher.display_code)
    page = text(response)
    assert voucher.display_code in page
    assert "off your purchase" in page and "Valid until" in page and "Ready to use" in page
    # The code people read out works in the address too.
    assert portal.get(reverse("me:voucher", kwargs={"code": voucher.display_code})).status_code == 200


def test_a_used_voucher_shows_its_state_and_no_codes_to_scan(portal, member, program, store, cashier):
    give(member, 500)
    voucher = redeem(member, RewardFactory(code="ten-off"), "k")
    voucher_use(code=voucher.code, channel=Voucher.Channel.TILL, store=store, user=cashier)
    response = portal.get(reverse("me:voucher", kwargs={"code": voucher.code}))
    page = text(response)
    assert "Used on" in page and store.name in page
    assert 'class="qr"' not in response.content.decode()


def test_voucher_page_shows_a_partner_code_and_an_events_date_and_place(portal, member, program):
    give(member, 500)
    partner = RewardFactory(code="spa", name_en="Spa day", kind="partner", points_cost=10)
    PartnerCode.objects.create(reward=partner, code="SPA-XYZ-123")
    event = RewardFactory(code="tasting", kind="event", points_cost=10, stock=5, place="Cellar",
                          event_at=timezone.now() + dt.timedelta(days=7))
    page = text(portal.get(reverse("me:voucher", kwargs={"code": redeem(member, partner, "p").code})))
    assert "Your partner code SPA-XYZ-123" in page
    page = text(portal.get(reverse("me:voucher", kwargs={"code": redeem(member, event, "e").code})))
    assert "Place Cellar" in page and " at Cellar" in page


def test_another_members_voucher_is_not_found(portal, member, program):
    other = MemberFactory(user=UserFactory(email="zed@example.com"), first_name="Zed")
    give(other, 500, key="theirs")
    theirs = redeem(other, RewardFactory(code="coffee"), "theirs")
    assert portal.get(reverse("me:voucher", kwargs={"code": theirs.code})).status_code == 404
    assert portal.get(reverse("me:voucher", kwargs={"code": "2345678923456789"})).status_code == 404
    assert theirs.code not in portal.get(reverse("me:vouchers")).content.decode()


# -- the home page's nudge ---------------------------------------------------------------------


def test_home_names_the_closest_reward_and_the_points_missing(portal, member, program):
    give(member, 120)
    gold = TierFactory(code="gold", rank=2)
    RewardFactory(code="lounge", name_en="Lounge pass", points_cost=130, min_tier=gold)  # not for this member
    RewardFactory(code="bag", name_en="Tote bag", points_cost=300)
    RewardFactory(code="mug", name_en="Mug", points_cost=200)
    page = text(portal.get(reverse("me:home")))
    assert "Next: Mug, 80 more points to go." in page
    assert "You can redeem" not in page


def test_home_says_what_the_member_can_redeem_now(portal, member, program):
    give(member, 250)
    RewardFactory(code="coffee", name_en="Free coffee", points_cost=100)
    RewardFactory(code="cake", name_en="Cake", points_cost=200)
    page = text(portal.get(reverse("me:home")))
    assert "You can redeem 2 rewards now, such as Cake." in page
    assert "See all rewards" in page


def test_home_without_rewards_shows_no_nudge(portal, member, program):
    assert "Rewards for your points" not in text(portal.get(reverse("me:home")))


@pytest.mark.parametrize("who", ["cashier", "marketing", "owner"])
def test_only_members_redeem_and_join_waitlists(users, member, program, who):
    give(member, 500)
    RewardFactory(code="coffee", points_cost=100)
    RewardFactory(code="tasting", kind="event", points_cost=100, stock=0,
                  event_at=timezone.now() + dt.timedelta(days=3))
    client = client_for(users[who])
    assert client.post(reverse("me:reward", kwargs={"code": "coffee"}), {"key": "k" * 20}).status_code == 403
    assert client.post(reverse("me:reward", kwargs={"code": "tasting"}), {"waitlist": "join"}).status_code == 403
    anonymous = client_for(None).post(reverse("me:reward", kwargs={"code": "coffee"}), {"key": "k" * 20})
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("account_login"))
    assert not Voucher.objects.exists() and not WaitlistEntry.objects.exists()


@pytest.mark.parametrize("count", [1, 5])
def test_home_nudge_uses_a_fixed_number_of_queries(portal, member, program, count, django_assert_num_queries):
    give(member, 150)
    gold = TierFactory(code="gold", rank=2)
    for n in range(count):
        RewardFactory(code=f"plain-{n}", points_cost=100 + n)
        RewardFactory(code=f"tier-{n}", min_tier=gold)
        RewardFactory(code=f"limited-{n}", points_cost=400, member_limit=1, member_limit_period=Reward.LimitPeriod.WEEK)
        PartnerCode.objects.create(reward=RewardFactory(code=f"partner-{n}", kind="partner"), code=f"P{n}")
    portal.get(reverse("me:home"))
    # session, user, member, balances, rewards, tier rank, limit counts, partner codes, next expiry (2),
    # latest entries, and the tier card's four (there is a tier)
    with django_assert_num_queries(15):
        response = portal.get(reverse("me:home"))
    assert response.context["reward_closest"].reward.code == "limited-0"
