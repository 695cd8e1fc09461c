"""The action bonuses page and the review form in a real browser: axe-core,
and the settings saved with the keyboard only."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from loyalty.models import ActionBonus
from loyalty.services.bonuses import action_bonuses_get, action_bonuses_save, bonus_grant
from members.models import Role
from tests.browser.conftest import axe_serious, login, screenshot
from tests.factories import MemberFactory, ProgramFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

Kind = ActionBonus.Kind


@pytest.fixture
def shop():
    ProgramFactory()
    marketing = UserFactory(email="marketing@example.com", role=Role.MARKETING)
    member = MemberFactory(first_name="Ada", last_name="Nowak")
    action_bonuses_save(values={Kind.REVIEW: (30, True), Kind.BIRTHDAY: (100, True)})
    bonus_grant(member=member, kind=Kind.REVIEW, occasion="example.com/r/1")
    bonus_grant(member=member, kind=Kind.BIRTHDAY, occasion="2026")
    return {"marketing": marketing, "member": member}


def test_the_bonus_page_and_an_invalid_save_pass_axe(page, live_server, shop):
    login(page, live_server, shop["marketing"])
    page.goto(f"{live_server.url}/staff/bonuses/")
    screenshot(page, "staff-bonuses")
    assert axe_serious(page) == []
    page.get_by_label("Referral: the member who referred is on").check()
    page.get_by_role("button", name="Save bonuses").click()
    expect(page.get_by_text("Give the points of the Referral: the member who referred bonus")).to_be_visible()
    assert axe_serious(page) == []


def test_bonuses_are_set_with_the_keyboard_only(page, live_server, shop):
    login(page, live_server, shop["marketing"])
    page.goto(f"{live_server.url}/staff/bonuses/")
    page.get_by_label("Points for Sign-up").focus()
    page.keyboard.type("50")
    page.keyboard.press("Tab")
    page.keyboard.press("Space")  # the sign-up switch
    page.get_by_role("button", name="Save bonuses").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_text("The action bonuses were saved.")).to_be_visible()
    setting = action_bonuses_get()[Kind.SIGNUP]
    assert (setting.points, setting.active) == (50, True)


def test_the_member_page_with_bonuses_and_a_review_error_passes_axe(page, live_server, shop):
    login(page, live_server, shop["marketing"])
    page.goto(f"{live_server.url}/staff/members/{shop['member'].pk}/")
    expect(page.get_by_role("cell", name="Review · example.com/r/1")).to_be_visible()
    page.get_by_label("Review link or id").fill("https://example.com/r/1")
    page.get_by_role("button", name="Give the review bonus").click()
    expect(page.get_by_text("was already rewarded")).to_be_visible()
    screenshot(page, "staff-member-review-error")
    assert axe_serious(page) == []
