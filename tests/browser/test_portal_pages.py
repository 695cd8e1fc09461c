"""The member portal pages of issue 4 in Chromium: axe-core on each, screenshots
at phone and desktop sizes, the card read back from a screenshot by a barcode
decoder, the data download, and the rating given with the keyboard alone."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from decimal import Decimal

import pytest
import zxingcpp
from django.utils import timezone
from PIL import Image
from playwright.sync_api import expect

from loyalty.models import Purchase, Source
from loyalty.services.ledger import points_adjust, points_expire_due
from loyalty.services.purchases import LineInput, purchase_record, refund_record
from members.models import Feedback, Role
from tests.browser.conftest import SCREENSHOTS, axe_serious, login, screenshot, tab_to
from tests.factories import EarnRuleFactory, MemberFactory, ProgramFactory, StoreFactory, TierFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shop():
    program = ProgramFactory(return_window_days=14, expiry_months=24)
    TierFactory(code="silver", name_en="Silver", rank=1, threshold=Decimal("100"),
                benefits_en="Free coffee on Fridays\nA birthday cake")
    TierFactory(code="gold", name_en="Gold", rank=2, threshold=Decimal("1000"), multiplier=Decimal("1.5"))
    warsaw = StoreFactory(code="WAW-01", name="Warsaw Centre", timezone="Europe/Warsaw")
    krakow = StoreFactory(code="KRK-01", name="Kraków Old Town", timezone="Europe/Warsaw")
    owner = UserFactory(email="owner@example.com", role=Role.OWNER)
    member = MemberFactory(
        user=UserFactory(email="ada@example.com"), first_name="Ada", last_name="Nowak",
        email="ada@example.com", phone="+48601234567",
    )
    EarnRuleFactory(name="Coffee card", kind="stamps", value=Decimal("50"), stamps_needed=8, categories=["coffee"])
    now = timezone.now()
    for n, (days, amount) in enumerate([(800, "80.00"), (400, "120.00"), (200, "64.90"), (40, "35.00"), (3, "25.00")]):
        purchase_record(
            external_id=f"R-{1000 + n}", store=warsaw if n % 2 else krakow, member=member,
            purchased_at=now - dt.timedelta(days=days), amount=Decimal(amount), source=Source.TILL,
            lines=[LineInput(sku="BEANS-1KG", amount=Decimal(amount), category="coffee")],
        )
    points_expire_due(as_of=now)
    refund_record(external_id="RF-1", purchase=Purchase.objects.get(external_id="R-1003"), amount="10.00",
                  source=Source.TILL)
    points_adjust(member=member, points=15, reason="Welcome gift", actor=owner, idempotency_key="gift")
    other = MemberFactory(first_name="Zed")
    purchase_record(external_id="THEIRS", store=warsaw, member=other, purchased_at=now, amount=Decimal("9.99"),
                    source=Source.TILL)
    return {"program": program, "member": member, "owner": owner}


def _path(shop, name: str) -> str:
    if name == "purchase":
        return f"/me/purchases/{Purchase.objects.get(external_id='R-1003').pk}/"
    return {
        "home": "/me/", "card": "/me/card/", "history": "/me/history/",
        "history-filtered": "/me/history/?kind=refunds&date_from=2020-01-01",
        "history-invalid": "/me/history/?kind=earned&date_from=2026-02-31&date_to=2020-01-01",
        "privacy": "/me/privacy/", "delete": "/me/privacy/delete/", "feedback": "/me/feedback/",
        "stamps": "/me/stamps/", "tier": "/me/tier/",
    }[name]


PAGES = ["home", "card", "history", "history-filtered", "history-invalid", "purchase", "privacy", "delete",
         "feedback", "stamps", "tier"]


@pytest.mark.parametrize("name", PAGES)
def test_portal_page_has_no_serious_accessibility_violations_and_fits_a_phone(page, live_server, shop, name):
    login(page, live_server, shop["member"].user)
    response = page.goto(f"{live_server.url}{_path(shop, name)}")
    assert response.status == 200
    screenshot(page, f"me-{name}")
    assert axe_serious(page) == []
    page.set_viewport_size({"width": 360, "height": 740})
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # nothing sideways on a phone
    assert axe_serious(page) == []


def test_form_errors_pass_axe(page, live_server, shop):
    login(page, live_server, shop["member"].user)
    page.goto(f"{live_server.url}/me/privacy/delete/")
    page.get_by_label("Your password").fill("not my password")
    page.get_by_role("button", name="Delete my account for good").click()
    expect(page.get_by_text("This is not your password.")).to_be_visible()
    expect(page.get_by_label("Your password")).to_be_focused()
    screenshot(page, "me-delete-error")
    assert axe_serious(page) == []
    page.goto(f"{live_server.url}/me/feedback/")
    page.get_by_role("button", name="Send my rating").click()
    expect(page.get_by_text("Choose a score from 0 to 10.")).to_be_visible()
    screenshot(page, "me-feedback-error")
    assert axe_serious(page) == []


def _decoded(png: bytes) -> dict[str, str]:
    return {str(found.format): found.text for found in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))}


@pytest.mark.parametrize(("width", "height"), [(360, 740), (1280, 800)])
def test_the_card_on_screen_decodes_to_the_card_number(page, live_server, shop, width, height):
    number = shop["member"].card_number
    page.set_viewport_size({"width": width, "height": height})
    login(page, live_server, shop["member"].user)
    page.goto(f"{live_server.url}/me/card/")
    card = page.locator("#member-card")
    expect(card).to_be_visible()
    expect(card).to_contain_text(number)
    shot = card.screenshot(path=str(SCREENSHOTS / f"me-card-element-{width}x{height}.png"))
    found = _decoded(shot)
    assert found == {"EAN-13": number, "QR Code": number}
    # Each alone, as a till scanner aims at one of them.
    assert _decoded(card.locator("svg.barcode").screenshot()) == {"EAN-13": number}
    assert _decoded(card.locator("svg.qr").screenshot()) == {"QR Code": number}
    box = card.locator("svg.barcode").bounding_box()
    assert box["width"] >= min(300, width - 60)  # big


def test_the_portal_is_installable(page, live_server, shop):
    login(page, live_server, shop["member"].user)
    page.goto(f"{live_server.url}/me/card/")
    href = page.locator('link[rel="manifest"]').get_attribute("href")
    manifest = page.request.get(f"{live_server.url}{href}")
    assert manifest.headers["content-type"] == "application/manifest+json"
    data = manifest.json()
    assert data["start_url"] == "/me/" and data["display"] == "standalone"
    for icon in data["icons"]:
        image = page.request.get(f"{live_server.url}{icon['src']}")
        assert image.ok and image.headers["content-type"] == "image/png"
    apple = page.locator('link[rel="apple-touch-icon"]').get_attribute("href")
    assert page.request.get(f"{live_server.url}{apple}").ok


def test_a_member_downloads_their_data(page, live_server, shop, tmp_path):
    login(page, live_server, shop["member"].user)
    page.goto(f"{live_server.url}/me/")
    page.get_by_role("link", name="Privacy and your data").click()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download as JSON").click()
    download = download_info.value
    assert download.suggested_filename.startswith("my-loyalty-data-") and download.suggested_filename.endswith(".json")
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["profile"]["card_number"] == shop["member"].card_number
    assert [p["receipt"] for p in data["purchases"]] == ["R-1000", "R-1001", "R-1002", "R-1003", "R-1004"]
    assert data["purchases"][0]["lines"][0]["sku"] == "BEANS-1KG"
    assert "THEIRS" not in path.read_text(encoding="utf-8")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download as CSV (ZIP)").click()
    assert download_info.value.suggested_filename.endswith(".zip")


def test_a_member_rates_the_program_with_the_keyboard_alone(page, live_server, shop):
    page.set_viewport_size({"width": 360, "height": 740})
    login(page, live_server, shop["member"].user)
    page.goto(f"{live_server.url}/me/feedback/")
    tab_to(page, "input[name=score]")
    assert page.evaluate("document.activeElement.value") == "0"
    for _ in range(9):
        page.keyboard.press("ArrowRight")  # radios: arrows move and choose
    expect(page.get_by_role("radio", name="9", exact=True)).to_be_checked()
    page.keyboard.press("Tab")
    expect(page.get_by_label(re.compile("Anything you would like to tell us"))).to_be_focused()
    page.keyboard.type("Friendly baristas")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Thank you for your feedback.")).to_be_visible()
    expect(page.get_by_text("9 out of 10")).to_be_visible()
    screenshot(page, "me-feedback-given")
    assert axe_serious(page) == []
    assert list(Feedback.objects.values_list("score", "comment")) == [(9, "Friendly baristas")]


def test_history_filters_in_the_browser_keep_across_pages(page, live_server, shop):
    member = shop["member"]
    store = Purchase.objects.get(external_id="R-1000").store
    now = timezone.now()
    for n in range(25):
        purchase_record(external_id=f"M-{n}", store=store, member=member, purchased_at=now - dt.timedelta(hours=n),
                        amount=Decimal("3.00"), source=Source.TILL)
    login(page, live_server, member.user)
    page.goto(f"{live_server.url}/me/history/")
    page.get_by_label("Type").select_option("earned")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"kind=earned"))
    page.get_by_role("link", name="Next").click()
    expect(page).to_have_url(re.compile(r"kind=earned.*page=2"))
    expect(page.get_by_label("Type")).to_have_value("earned")
    screenshot(page, "me-history-page-2")


def test_the_card_page_offers_to_keep_the_screen_on(page, live_server, shop):
    login(page, live_server, shop["member"].user)
    page.goto(f"{live_server.url}/me/card/")
    button = page.get_by_role("button", name="Keep the screen on")
    expect(button).to_be_visible()  # shown only where the browser has the Wake Lock API
    expect(button).to_have_attribute("aria-pressed", "false")
    button.click()
    status = page.locator("[data-wake-lock-status]")
    # Headless Chromium may refuse the lock; either way the member is told.
    expect(status).to_have_text(re.compile("The screen stays on|did not let us keep the screen on"))
    if "stays on" in status.inner_text():
        expect(button).to_have_attribute("aria-pressed", "true")
        button.click()
        expect(button).to_have_attribute("aria-pressed", "false")
        expect(status).to_have_text("")
