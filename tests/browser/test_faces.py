"""The three faces in a real browser: keyboard only at the till, axe-core on
the main pages, screenshots at phone and desktop sizes."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from loyalty.models import PointsAccount, Purchase, Source
from loyalty.services.ledger import points_adjust
from loyalty.services.purchases import purchase_record, refund_record
from members.models import Role
from tests.browser.conftest import axe_serious, login, screenshot, tab_to
from tests.factories import MemberFactory, ProgramFactory, StoreFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pass-word-123"


@pytest.fixture
def shop():
    program = ProgramFactory(return_window_days=14, expiry_months=24)
    warsaw = StoreFactory(code="WAW-01", name="Warsaw Centre", timezone="Europe/Warsaw")
    krakow = StoreFactory(code="KRK-01", name="Kraków Old Town", timezone="Europe/Warsaw")
    owner = UserFactory(email="owner@example.com", role=Role.OWNER)
    cashier = UserFactory(email="cashier@example.com", role=Role.CASHIER)
    cashier.stores.add(warsaw, krakow)
    member = MemberFactory(
        user=UserFactory(email="ada@example.com"), first_name="Ada", last_name="Nowak",
        email="ada@example.com", phone="+48601234567",
    )
    now = timezone.now()
    for n, (days, amount) in enumerate([(400, "120.00"), (200, "64.90"), (40, "35.00"), (3, "25.00")]):
        purchase_record(
            external_id=f"R-{1000 + n}", store=warsaw if n % 2 else krakow, member=member,
            purchased_at=now - dt.timedelta(days=days), amount=Decimal(amount), source=Source.TILL,
        )
    refund_record(
        external_id="RF-1", purchase=Purchase.objects.get(external_id="R-1002"), amount="10.00",
        source=Source.TILL,
    )
    points_adjust(member=member, points=15, reason="Welcome gift", actor=owner, idempotency_key="gift")
    for n in range(8):
        other = MemberFactory()
        purchase_record(
            external_id=f"O-{n}", store=warsaw, member=other, purchased_at=now - dt.timedelta(days=n),
            amount=Decimal("19.99"), source=Source.TILL,
        )
    purchase_record(
        external_id="NOMEMBER-1", store=warsaw, member=None, purchased_at=now, amount=Decimal("5.00"),
        source=Source.TILL,
    )
    return {"program": program, "warsaw": warsaw, "krakow": krakow, "owner": owner, "cashier": cashier,
            "member": member}


def test_cashier_records_a_purchase_with_the_keyboard_only(page, live_server, shop):
    member = shop["member"]
    before = PointsAccount.objects.get(member=member)
    page.goto(f"{live_server.url}/accounts/login/")
    tab_to(page, "#id_login")
    page.keyboard.type("cashier@example.com")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")

    # Two stores: the till asks once; the first is focused, Enter picks it.
    expect(page.get_by_role("heading", name="Which store is this till in?")).to_be_visible()
    screenshot(page, "till-store-select")
    page.keyboard.press("Enter")

    expect(page.locator(".till-store")).to_contain_text("Kraków Old Town")
    expect(page.locator("#id_q")).to_be_focused()
    screenshot(page, "till-search")
    page.keyboard.type(member.card_number)
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Ada Nowak")).to_be_visible()
    expect(page.locator("#id_purchase-amount")).to_be_focused()
    screenshot(page, "till-member")
    page.keyboard.type("45.50")
    page.keyboard.press("Tab")
    expect(page.locator("#id_purchase-receipt")).to_be_focused()
    page.keyboard.type("R-2001")
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Purchase recorded")).to_be_visible()
    expect(page.get_by_text("45 points earned")).to_be_visible()
    balances = page.locator(".till-balances dd")
    expect(balances.nth(1)).to_have_text(str(before.pending + 45))  # pending: the return window
    expect(balances.nth(0)).to_have_text(str(before.available))
    expect(page.locator("#id_q")).to_be_focused()  # ready for the next customer
    screenshot(page, "till-purchase-done")
    purchase = Purchase.objects.get(external_id="R-2001")
    assert (purchase.store, purchase.member, purchase.recorded_by) == (shop["krakow"], member, shop["cashier"])


def test_till_refund_error_is_shown_on_the_amount(page, live_server, shop):
    login(page, live_server, shop["cashier"])
    page.goto(f"{live_server.url}/till/store/")
    page.get_by_role("button", name=re.compile("Warsaw Centre")).click()
    page.goto(f"{live_server.url}/till/members/{shop['member'].card_number}/")
    page.get_by_label(re.compile("receipt R-1003")).check()
    page.get_by_label("Amount to refund").fill("9999")
    page.get_by_role("button", name="Record refund").click()
    amount = page.get_by_label("Amount to refund")
    expect(amount).to_have_attribute("aria-invalid", "true")
    expect(amount).to_be_focused()
    expect(page.locator("#id_refund-amount").locator("xpath=..")).to_contain_text("can still be refunded")
    screenshot(page, "till-refund-error")


PAGES = {
    "login": (None, "/accounts/login/"),
    "staff-dashboard": ("owner", "/staff/"),
    "staff-members": ("owner", "/staff/members/?q=a"),
    "staff-member-detail": ("owner", "member-detail"),
    "staff-purchases": ("owner", "/staff/purchases/"),
    "staff-program": ("owner", "/staff/program/"),
    "staff-stores": ("owner", "/staff/stores/"),
    "staff-security": ("owner", "/accounts/2fa/"),
    "staff-tiers": ("owner", "/staff/tiers/"),
    "staff-tier-new": ("owner", "/staff/tiers/new/"),
    "staff-tiers-near": ("owner", "/staff/tiers/near/"),
    "till-search": ("cashier", "till-search"),
    "till-member": ("cashier", "till-member"),
    "me-home": ("member", "/me/"),
    "me-history": ("member", "/me/history/"),
    "me-account": ("member", "/me/account/"),
}


@pytest.mark.parametrize("name", list(PAGES))
def test_main_pages_have_no_serious_accessibility_violations(page, live_server, shop, name):
    who, path = PAGES[name]
    users = {"owner": shop["owner"], "cashier": shop["cashier"], "member": shop["member"].user}
    if who:
        login(page, live_server, users[who])
    if path == "member-detail":
        path = f"/staff/members/{shop['member'].pk}/"
    if path.startswith("till-"):
        page.goto(f"{live_server.url}/till/store/")
        page.get_by_role("button", name=re.compile("Warsaw Centre")).click()
        path = f"/till/members/{shop['member'].card_number}/" if path == "till-member" else "/till/?q=nobody"
    response = page.goto(f"{live_server.url}{path}")
    assert response.status == 200
    screenshot(page, name)
    assert axe_serious(page) == []


def test_member_portal_on_a_phone(page, live_server, shop):
    page.set_viewport_size({"width": 360, "height": 740})
    login(page, live_server, shop["member"].user)
    page.goto(f"{live_server.url}/me/")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav).to_be_visible()
    box = nav.bounding_box()
    assert box["y"] + box["height"] >= 740 - 2  # at the bottom of the screen
    expect(page.get_by_text("Points you can use")).to_be_visible()
    nav.get_by_role("link", name="History").click()
    expect(page.get_by_text("Correction by our team: Welcome gift")).to_be_visible()
    expect(page.get_by_text(re.compile("Refund of your purchase at"))).to_be_visible()
