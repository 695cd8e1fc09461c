"""The staff voucher and campaign pages in Chromium: a voucher found by its code
and cancelled with the keyboard alone, a campaign created and issued to a
pasted list; axe-core on every page, screenshots at phone and desktop sizes."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from loyalty.models import LedgerEntry, PointsAccount
from loyalty.services.ledger import points_credit
from members.models import Role
from rewards.models import Campaign, Voucher
from rewards.services.gifts import campaign_create, campaign_issue
from rewards.services.redemption import reward_redeem
from rewards.services.vouchers import voucher_use
from tests.browser.conftest import axe_serious, login, screenshot, tab_to
from tests.factories import MemberFactory, ProgramFactory, RewardFactory, StoreFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shop():
    ProgramFactory()
    store = StoreFactory(code="WAW-01", name="Warsaw Centre")
    manager = UserFactory(email="manager@example.com", role=Role.MANAGER)
    marketing = UserFactory(email="marketing@example.com", role=Role.MARKETING)
    cashier = UserFactory(email="cashier@example.com", role=Role.CASHIER)
    member = MemberFactory(first_name="Ada", last_name="Nowak", email="ada@example.com")
    points_credit(member=member, points=500, kind=LedgerEntry.Kind.BONUS, idempotency_key="gift")
    coffee = RewardFactory(code="coffee", name_en="Free coffee", kind="product", sku="COF", points_cost=100)
    voucher = reward_redeem(member=member, reward=coffee, idempotency_key="a", channel="portal").voucher
    used = reward_redeem(member=member, reward=coffee, idempotency_key="b", channel="portal").voucher
    voucher_use(code=used.code, channel="till", store=store, user=cashier, receipt="R-1001")
    cake = RewardFactory(code="cake", name_en="Free cake", kind="product", sku="CAKE", points_cost=0)
    campaign = campaign_create(name="Birthday", reward=cake, valid_until=timezone.now() + dt.timedelta(days=30))
    others = MemberFactory.create_batch(3)
    campaign_issue(campaign=campaign, member_ids=[member.pk, *(m.pk for m in others)])
    return {
        "manager": manager, "marketing": marketing, "member": member, "voucher": voucher, "used": used,
        "campaign": campaign, "cake": cake, "others": others,
    }


def test_a_voucher_is_found_by_its_code_and_cancelled_with_the_keyboard(page, live_server, shop):
    voucher, member = shop["voucher"], shop["member"]
    login(page, live_server, shop["manager"])
    page.goto(f"{live_server.url}/staff/vouchers/")
    tab_to(page, "#id_code")
    page.keyboard.type(f"{voucher.code[:5].lower()} {voucher.code[5:10]} {voucher.code[10:]}")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/staff/vouchers/{voucher.code}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text(voucher.display_code)
    expect(page.get_by_text("It can be used now.")).to_be_visible()
    screenshot(page, "staff-voucher")
    assert axe_serious(page) == []

    tab_to(page, "#id_reason")
    page.keyboard.type("Member asked at the counter")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Cancel the voucher"
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").filter(has_text="was cancelled")).to_contain_text(
        f"Voucher {voucher.display_code} was cancelled; 100 points went back to Ada Nowak."
    )
    expect(page.locator(".cancel-reason")).to_have_text("Member asked at the counter")
    screenshot(page, "staff-voucher-cancelled")
    assert axe_serious(page) == []
    assert Voucher.objects.get(pk=voucher.pk).status == "cancelled"
    assert PointsAccount.objects.get(member=member).available == 400


def test_a_wrong_code_is_explained_on_the_search_page(page, live_server, shop):
    login(page, live_server, shop["marketing"])
    page.goto(f"{live_server.url}/staff/vouchers/")
    page.get_by_label("Voucher code").fill("ABCDE-FGH0J")
    page.get_by_role("button", name="Find the voucher").click()
    expect(page.get_by_text("Voucher codes never contain “0”")).to_be_visible()
    screenshot(page, "staff-vouchers-wrong-code")
    assert axe_serious(page) == []


@pytest.mark.parametrize(
    ("who", "path", "name"),
    [
        ("marketing", "/staff/vouchers/", "staff-vouchers"),
        ("marketing", "/staff/vouchers/?member=ada%40example.com", "staff-vouchers-member"),
        ("marketing", "used", "staff-voucher-used"),
        ("manager", "member", "staff-member-vouchers"),
        ("marketing", "/staff/campaigns/", "staff-campaigns"),
        ("marketing", "/staff/campaigns/new/", "staff-campaign-new"),
        ("marketing", "campaign", "staff-campaign"),
    ],
)
def test_the_voucher_and_campaign_pages_pass_axe(page, live_server, shop, who, path, name):
    path = {
        "used": f"/staff/vouchers/{shop['used'].code}/",
        "member": f"/staff/members/{shop['member'].pk}/",
        "campaign": f"/staff/campaigns/{shop['campaign'].pk}/",
    }.get(path, path)
    login(page, live_server, shop[who])
    response = page.goto(f"{live_server.url}{path}")
    assert response.status == 200
    screenshot(page, name)
    assert axe_serious(page) == []
    page.set_viewport_size({"width": 360, "height": 740})
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # wide tables scroll in their box


def test_a_campaign_is_created_and_issued_to_a_pasted_list(page, live_server, shop):
    login(page, live_server, shop["marketing"])
    page.goto(f"{live_server.url}/staff/campaigns/new/")
    page.get_by_label("Name").fill("Win-back spring")
    page.get_by_label("Reward").select_option(label="Free cake")
    page.get_by_label("Valid until").fill("2031-04-01T00:00")
    page.get_by_role("button", name="Create campaign").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Win-back spring")
    campaign = Campaign.objects.get(name="Win-back spring")

    others = shop["others"]
    lines = page.get_by_label("Card numbers or emails")
    lines.fill(f"{others[0].card_number}\nnobody@example.com\n{others[1].email}")
    page.get_by_role("button", name="Give the vouchers").click()
    expect(page.get_by_text("Line 2: No member has the email nobody@example.com.")).to_be_visible()
    screenshot(page, "staff-campaign-list-errors")
    assert axe_serious(page) == []
    assert not campaign.vouchers.exists()

    page.get_by_label("Card numbers or emails").fill(f"{others[0].card_number}\n{others[1].email}")
    page.get_by_role("button", name="Give the vouchers").click()
    expect(page.get_by_role("status").filter(has_text="issued")).to_have_text("2 vouchers issued.")
    page.get_by_label("Card numbers or emails").fill(f"{others[0].card_number}\n{others[2].card_number}")
    page.get_by_role("button", name="Give the vouchers").click()
    expect(page.get_by_role("status").filter(has_text="issued")).to_have_text(
        "1 voucher issued. 1 member already had this campaign's voucher and was not given another."
    )
    screenshot(page, "staff-campaign-issued")
    assert campaign.vouchers.count() == 3


def test_a_voucher_is_cancelled_from_the_member_page_with_the_keyboard(page, live_server, shop):
    voucher, member = shop["voucher"], shop["member"]
    login(page, live_server, shop["manager"])
    url = f"{live_server.url}/staff/members/{member.pk}/"
    page.goto(url)
    row = page.get_by_role("row").filter(has_text=voucher.display_code)
    row.locator("summary").focus()
    page.keyboard.press("Enter")  # opens the form
    page.keyboard.press("Tab")
    page.keyboard.type("Duplicate redemption")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page).to_have_url(url)
    expect(page.get_by_role("status").filter(has_text="was cancelled")).to_contain_text("100 points went back")
    expect(page.get_by_role("row").filter(has_text=voucher.display_code)).to_contain_text("Cancelled")
    assert Voucher.objects.get(pk=voucher.pk).cancel_reason == "Duplicate redemption"
