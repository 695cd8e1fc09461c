"""The staff catalog in Chromium: a reward created with the keyboard alone, the
form showing the fields of the chosen kind and a preview of a chosen image,
axe-core on the list, form, codes and charity pages, and screenshots at
1280×800 and 390×844."""

from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from django.utils import timezone
from PIL import Image
from playwright.sync_api import expect

from members.models import Role
from rewards.models import PartnerCode, Reward
from tests.browser.conftest import SCREENSHOTS, axe_serious, login, tab_to
from tests.factories import CharityFactory, ProgramFactory, RewardFactory, StoreFactory, TierFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZES = {"desktop": (1280, 800), "phone": (390, 844)}


def shots(page, name: str) -> None:
    """Full-page screenshots at 1280×800 and 390×844; at the phone size nothing
    may widen the page (wide tables scroll in their own box)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size
    for label, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}-{width}x{height}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, (name, label)
    if original:
        page.set_viewport_size(original)


@pytest.fixture
def shop():
    ProgramFactory()
    StoreFactory(code="WAW-01", name="Warsaw Centre", timezone="Europe/Warsaw")
    marketing = UserFactory(email="marketing@example.com", role=Role.MARKETING)
    gold = TierFactory(code="gold", name_en="Gold", threshold=Decimal("1000"))
    shelter = CharityFactory(code="shelter", name_en="City Animal Shelter")
    RewardFactory(code="discount-10", name_en="10 PLN off", value=Decimal("10.00"), points_cost=1000)
    RewardFactory(code="cakes-15", name_en="15% off a whole cake", kind="percent", value=Decimal("15"),
                  max_discount=Decimal("30.00"), min_tier=gold, points_cost=1500)
    RewardFactory(code="cupping", name_en="Coffee cupping evening", kind="event", value=None, stock=12,
                  event_at=timezone.now() + dt.timedelta(days=21), place="Marszałkowska 10", points_cost=3000)
    RewardFactory(code="donate", name_en="Donate 5 PLN", kind="donation", value=Decimal("5.00"), charity=shelter,
                  points_cost=500)
    cinema = RewardFactory(code="cinema", name_en="Cinema ticket", kind="partner", value=None, points_cost=4000)
    PartnerCode.objects.bulk_create([PartnerCode(reward=cinema, code=f"KINO-{n:04d}") for n in range(50)])
    return {"marketing": marketing}


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/staff/rewards/", "staff-rewards"),
        ("/staff/rewards/new/", "staff-reward-new"),
        ("/staff/rewards/cupping/", "staff-reward-event"),
        ("/staff/rewards/cinema/codes/", "staff-reward-codes"),
        ("/staff/rewards/charities/", "staff-charities"),
        ("/staff/rewards/charities/shelter/", "staff-charity"),
    ],
)
def test_catalog_pages_pass_axe(page, live_server, shop, path, name):
    login(page, live_server, shop["marketing"])
    response = page.goto(f"{live_server.url}{path}")
    assert response.status == 200
    assert axe_serious(page) == []
    shots(page, name)


def test_a_reward_is_created_with_the_keyboard_alone(page, live_server, shop):
    login(page, live_server, shop["marketing"])
    page.goto(f"{live_server.url}/staff/rewards/")
    tab_to(page, "a[href='/staff/rewards/new/']", limit=60)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/staff/rewards/new/$"))
    tab_to(page, "#id_name_en", limit=60)
    page.keyboard.type("Free cappuccino")
    page.keyboard.press("Tab")
    page.keyboard.type("Darmowe cappuccino")
    tab_to(page, "#id_code")
    page.keyboard.type("free-cappuccino")
    page.keyboard.press("Tab")  # the kind
    expect(page.locator("#id_kind")).to_be_focused()
    page.keyboard.type("Free")  # "Free product", chosen by typing as in any select
    expect(page.locator("#id_kind")).to_have_value("product")
    expect(page.locator("#id_sku")).to_be_visible()  # the product's field shows,
    expect(page.locator("#id_value")).to_be_hidden()  # the discount's does not
    expect(page.locator("#id_event_at")).to_be_hidden()
    page.keyboard.press("Tab")
    page.keyboard.type("1300")  # points cost
    tab_to(page, "#id_sku")
    page.keyboard.type("CAP-M")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/staff/rewards/$"))
    expect(page.get_by_role("alert").or_(page.locator(".alert-success"))).to_contain_text(
        "Reward Free cappuccino was created."
    )
    reward = Reward.objects.get(code="free-cappuccino")
    assert (reward.kind, reward.sku, reward.points_cost, reward.name_pl) == (
        "product", "CAP-M", 1300, "Darmowe cappuccino",
    )
    expect(page.get_by_role("link", name="Free cappuccino", exact=True)).to_be_visible()


def test_the_form_shows_the_kind_fields_and_a_preview_of_the_chosen_image(page, live_server, shop, tmp_path):
    login(page, live_server, shop["marketing"])
    page.goto(f"{live_server.url}/staff/rewards/new/")
    page.get_by_label("Kind").select_option("event")
    for field in ("#id_event_at", "#id_place", "#id_stock"):
        expect(page.locator(field)).to_be_visible()
    expect(page.locator("#id_sku")).to_be_hidden()
    page.get_by_label("Kind").select_option("partner")
    expect(page.locator("#id_stock")).to_be_hidden()  # a partner reward's stock is its codes
    photo = tmp_path / "cup.png"
    Image.new("RGB", (640, 480), (120, 60, 20)).save(photo)
    preview = page.locator("#reward-image-preview")
    expect(preview).to_be_hidden()
    page.locator("#id_image").set_input_files(str(photo))
    expect(preview).to_be_visible()
    expect(preview).to_have_attribute("src", re.compile(r"^blob:"))
    expect(preview).to_have_attribute("alt", "Preview of the chosen image")


def test_a_refused_reward_lists_its_errors_and_passes_axe(page, live_server, shop):
    login(page, live_server, shop["marketing"])
    page.goto(f"{live_server.url}/staff/rewards/new/")
    page.get_by_label("Name (English)").fill("Tasting")
    page.get_by_label("Code").fill("tasting")
    page.get_by_label("Kind").select_option("event")
    page.get_by_label("Points cost").fill("0")
    page.get_by_role("button", name="Save reward").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("Event starts at: Give the date and time the event starts.")
    expect(summary).to_contain_text("Place: Give the place of the event.")
    expect(summary).to_contain_text("Points cost: A reward in the catalog costs at least 1 point.")
    expect(page.locator("#id_place")).to_be_visible()  # the chosen kind's fields stay shown
    assert axe_serious(page) == []
    shots(page, "staff-reward-errors")
    assert not Reward.objects.filter(code="tasting").exists()


def test_the_list_shows_a_stored_image(page, live_server, shop, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    from rewards.services.images import reward_image_store

    out = io.BytesIO()
    Image.new("RGB", (2400, 1600), (30, 120, 200)).save(out, format="JPEG")
    out.seek(0)
    reward_image_store(reward=Reward.objects.get(code="discount-10"), upload=out)
    login(page, live_server, shop["marketing"])
    page.goto(f"{live_server.url}/staff/rewards/")
    image = page.locator("img[src*='/media/rewards/discount-10-']")
    expect(image).to_be_visible()
    # Visible is not loaded: wait until the picture has been fetched and decoded.
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    assert page.evaluate("(img) => img.naturalWidth", image.element_handle()) == 1200
