"""Segments in Chromium: a segment built with the keyboard alone, the live count
announced as the conditions change, saving, the member list; axe-core on each
page, screenshots at phone and desktop sizes."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from analytics.models import Segment
from loyalty.models import Source
from loyalty.services.purchases import purchase_record
from members.models import Role
from tests.browser.conftest import axe_serious, login, screenshot, tab_to
from tests.factories import MemberFactory, ProgramFactory, StoreFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shop():
    ProgramFactory()
    store = StoreFactory(code="WAW-01", name="Warsaw Centre", timezone="Europe/Warsaw")
    marketing = UserFactory(email="marketing@example.com", role=Role.MARKETING)
    ada = MemberFactory(first_name="Ada", last_name="Nowak", marketing_consent=True)
    bob = MemberFactory(first_name="Bob", last_name="Brown", marketing_consent=False)
    MemberFactory(first_name="Cy", last_name="Young", marketing_consent=True)
    for number, (member, amount) in enumerate(((ada, "80.00"), (bob, "90.00"))):
        purchase_record(
            external_id=f"B{number}", store=store, member=member, purchased_at=timezone.now(),
            amount=Decimal(amount), source=Source.TILL,
        )
    return {"marketing": marketing, "store": store}


def test_a_segment_is_built_with_the_keyboard_and_counted_as_it_changes(page, live_server, shop):
    login(page, live_server, shop["marketing"])
    page.goto(f"{live_server.url}/staff/analytics/segments/new/")
    count = page.locator("#segment-count")
    expect(count).to_have_attribute("aria-live", "polite")
    expect(count).to_have_text("3 members")  # no condition yet: everyone

    tab_to(page, "#id_name")
    page.keyboard.type("Mailable spenders")
    tab_to(page, "#id_conditions-0-field")
    page.keyboard.type("Marketing consent")  # type-ahead chooses the field
    expect(page.locator("#id_conditions-0-op")).to_have_value("given")
    expect(page.locator("#id_conditions-0-value")).to_be_hidden()
    tab_to(page, "#id_conditions-0-choices")
    page.keyboard.type("email")
    expect(count).to_have_text("2 members")  # Ada and Cy

    tab_to(page, "#segment-add")
    page.keyboard.press("Enter")
    expect(page.locator("#id_conditions-1-field")).to_be_focused()
    page.keyboard.type("Lifetime spend")
    expect(page.locator("#id_conditions-1-op")).to_have_value("at_least")
    tab_to(page, "#id_conditions-1-value")
    page.keyboard.type("50")
    expect(count).to_have_text("1 member")  # Ada
    screenshot(page, "staff-segment-editor")
    assert axe_serious(page) == []

    tab_to(page, "button.btn-primary[type=submit]")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/staff/analytics/segments/\d+/$"))
    expect(page.get_by_role("rowheader", name="Ada Nowak")).to_be_visible()
    expect(page.get_by_role("rowheader", name="Cy Young")).to_have_count(0)
    segment = Segment.objects.get()
    assert segment.conditions == {"all": [
        {"field": "consent", "op": "given", "value": "email"},
        {"field": "spend", "op": "at_least", "value": "50.00"},
    ]}
    screenshot(page, "staff-segment-members")
    assert axe_serious(page) == []


def test_a_removed_row_leaves_the_count_and_the_list_passes_axe(page, live_server, shop):
    login(page, live_server, shop["marketing"])
    page.goto(f"{live_server.url}/staff/analytics/segments/new/")
    page.get_by_label("Name").fill("Big spenders")
    page.locator("#id_conditions-0-field").select_option("spend")
    page.locator("#id_conditions-0-value").fill("85")
    expect(page.locator("#segment-count")).to_have_text("1 member")  # Bob
    page.get_by_role("button", name="Remove 1").click()
    expect(page.locator("#segment-add")).to_be_focused()
    expect(page.locator("#segment-count")).to_have_text("3 members")
    page.get_by_role("button", name="Save segment").click()
    expect(page).to_have_url(re.compile(r"/staff/analytics/segments/\d+/$"))
    assert Segment.objects.get().conditions == {"all": []}
    page.goto(f"{live_server.url}/staff/analytics/segments/")
    expect(page.get_by_role("link", name="Big spenders", exact=True)).to_be_visible()
    screenshot(page, "staff-segments")
    assert axe_serious(page) == []
    page.set_viewport_size({"width": 360, "height": 740})
    assert page.evaluate("document.documentElement.scrollWidth") <= 360


def test_each_fields_help_describes_its_value_and_a_removed_row_stays_removed_after_a_failed_save(
    page, live_server, shop
):
    login(page, live_server, shop["marketing"])
    page.goto(f"{live_server.url}/staff/analytics/segments/new/")
    page.locator("#id_conditions-0-field").select_option("spend")
    value = page.locator("#id_conditions-0-value")
    described_by = value.get_attribute("aria-describedby")
    expect(page.locator(f"#{described_by}")).to_have_text("An amount such as 100.00: all purchases less refunds.")
    page.locator("#id_conditions-0-field").select_option("consent")
    described_by = page.locator("#id_conditions-0-choices").get_attribute("aria-describedby")
    expect(page.locator(f"#{described_by}")).to_have_text("Choose email or SMS.")

    page.locator("#id_conditions-0-field").select_option("spend")
    value.fill("85")
    expect(page.locator("#segment-count")).to_have_text("1 member")
    page.get_by_role("button", name="Remove 1").click()
    page.get_by_role("button", name="Save segment").click()  # no name: the form comes back
    expect(page.locator("#segment-errors")).to_be_visible()
    expect(page.locator("#id_conditions-0-field")).to_be_hidden()
    expect(page.locator("#segment-count")).to_have_text("3 members")
    assert not Segment.objects.exists()
