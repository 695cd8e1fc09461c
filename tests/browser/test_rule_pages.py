"""Earning rules in Chromium: the staff rule pages and the simulator, the till's
points preview as the amount is typed, and the stamp progress after a sale;
axe-core on each, screenshots at phone and desktop sizes."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from loyalty.models import MemberTier, Purchase, StampCard
from members.models import Role
from tests.browser.conftest import axe_serious, login, screenshot
from tests.factories import EarnRuleFactory, MemberFactory, ProgramFactory, StoreFactory, TierFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shop():
    program = ProgramFactory(return_window_days=14)
    warsaw = StoreFactory(code="WAW-01", name="Warsaw Centre", timezone="Europe/Warsaw")
    marketing = UserFactory(email="marketing@example.com", role=Role.MARKETING)
    cashier = UserFactory(email="cashier@example.com", role=Role.CASHIER)
    cashier.stores.add(warsaw)
    gold = TierFactory(code="gold", name_en="Gold", multiplier=Decimal("1.5"))
    member = MemberFactory(first_name="Ada", last_name="Nowak", email="ada@example.com")
    MemberTier.objects.create(member=member, tier=gold)
    weekend = EarnRuleFactory(name="Double points weekend", kind="multiplier", value=Decimal("2"), weekdays=[5, 6],
                              priority=10, member_cap=500, member_cap_period="month")
    weekend.stores.set([warsaw])
    EarnRuleFactory(name="Coffee beans x3", kind="per_unit", value=Decimal("3"), categories=["coffee"],
                    budget=10000)
    EarnRuleFactory(name="Welcome bonus", kind="fixed", value=Decimal("50"), first_purchase_only=True,
                    status="paused", starts_at=timezone.now(), ends_at=timezone.now() + dt.timedelta(days=30))
    card = EarnRuleFactory(name="Coffee card", kind="stamps", value=Decimal("40"), stamps_needed=10)
    StampCard.objects.create(member=member, rule=card, stamps=6, completed=1)
    return {"program": program, "warsaw": warsaw, "marketing": marketing, "cashier": cashier, "member": member}


@pytest.mark.parametrize("path", ["/staff/rules/", "/staff/rules/new/"])
def test_rule_pages_pass_axe(page, live_server, shop, path):
    login(page, live_server, shop["marketing"])
    response = page.goto(f"{live_server.url}{path}")
    assert response.status == 200
    screenshot(page, "staff-rules" if path.endswith("rules/") else "staff-rule-new")
    assert axe_serious(page) == []
    page.set_viewport_size({"width": 360, "height": 740})
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # wide tables scroll in their box


def test_a_contradictory_rule_is_refused_with_the_field_named(page, live_server, shop):
    login(page, live_server, shop["marketing"])
    page.goto(f"{live_server.url}/staff/rules/new/")
    page.get_by_label("Name").fill("Evening tea")
    page.get_by_label("Kind").select_option("fixed")
    page.get_by_label("Value").fill("5")
    page.get_by_label("From (store's local time)").fill("17:00")
    page.get_by_label("Starts at").fill("2026-07-08T00:00")
    page.get_by_label("Ends at").fill("2026-07-01T00:00")
    page.get_by_role("button", name="Save rule").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("Ends at: The end must come after the start.")
    expect(summary).to_contain_text("Give both the start and the end of the hours")
    screenshot(page, "staff-rule-errors")
    assert axe_serious(page) == []


def test_the_simulator_shows_the_points_per_rule(page, live_server, shop):
    login(page, live_server, shop["marketing"])
    page.goto(f"{live_server.url}/staff/rules/simulate/")
    day = timezone.localdate() + dt.timedelta(days=1)
    saturday = day + dt.timedelta(days=(5 - day.weekday()) % 7)  # within the welcome bonus's 30 days
    page.get_by_label("Date and time").fill(f"{saturday.isoformat()}T11:00")
    page.get_by_label("Amount").fill("80.00")
    page.get_by_label("Lines (optional)").fill("BEANS-1KG; coffee; 2; 60.00\nMUG-01; ; 1; 20.00")
    page.get_by_label("Member card number (optional)").fill(shop["member"].card_number)
    page.get_by_label("Welcome bonus").check()
    page.get_by_role("button", name="Simulate").click()
    expect(page.get_by_text(re.compile("This basket would earn"))).to_contain_text("256 points")
    table = page.locator("table.breakdown-table")
    for text in ("Base rate", "Tier: Gold", "Double points weekend", "Coffee beans x3", "Coffee card", "Total"):
        expect(table).to_contain_text(text)
    screenshot(page, "staff-simulator")
    assert axe_serious(page) == []
    assert not Purchase.objects.exists()


def test_the_till_previews_the_points_as_the_amount_is_typed(page, live_server, shop):
    login(page, live_server, shop["cashier"])
    page.goto(f"{live_server.url}/till/")
    page.goto(f"{live_server.url}/till/members/{shop['member'].card_number}/")
    amount = page.locator("#id_purchase-amount")
    expect(amount).to_be_focused()
    page.keyboard.type("40.00")
    preview = page.locator("#till-preview")
    expect(preview).to_contain_text("would earn")
    expect(preview).to_contain_text("Base rate: +40")
    expect(preview).to_contain_text("Tier: Gold: +20")
    expect(amount).to_be_focused()  # the preview never takes the focus
    screenshot(page, "till-preview")
    assert axe_serious(page) == []
    page.keyboard.press("Enter")  # records the purchase, as before
    expect(page.get_by_role("heading", name="Purchase recorded")).to_be_visible()
    expect(page.get_by_text("Coffee card: 7 of 10")).to_be_visible()
    expect(page.locator(".till-breakdown")).to_contain_text("Coffee card: 0 (1 stamp)")
    screenshot(page, "till-purchase-done-stamps")
    assert axe_serious(page) == []
