"""The member's rewards in Chromium: browse the catalog on a phone, redeem with
the keyboard alone, show the voucher (its QR code and barcode read back from
a screenshot), the wallet; axe-core on every page, screenshots at 390x844 and
1280x800."""

from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal

import pytest
import zxingcpp
from django.utils import timezone
from PIL import Image
from playwright.sync_api import expect

from loyalty.models import LedgerEntry, PointsAccount
from loyalty.services.ledger import points_credit
from members.models import Role
from rewards.models import Reward, Voucher
from rewards.services.redemption import reward_redeem
from rewards.services.vouchers import voucher_use
from tests.browser.conftest import SCREENSHOTS, axe_serious, login, tab_to
from tests.factories import (
    CharityFactory,
    MemberFactory,
    ProgramFactory,
    RewardFactory,
    StoreFactory,
    TierFactory,
    UserFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


def shots(page, name: str) -> None:
    """Full-page screenshots at the phone and desktop sizes of this issue; back to the phone after."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for size in (PHONE, DESKTOP):
        page.set_viewport_size(size)
        page.screenshot(path=str(SCREENSHOTS / f"me-{name}-{size['width']}x{size['height']}.png"), full_page=True)
    page.set_viewport_size(PHONE)


def fits_a_phone(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def _image() -> bytes:
    """A small picture for the reward that has one (served by the route below, not from storage)."""
    out = io.BytesIO()
    picture = Image.new("RGB", (640, 360), (121, 85, 61))
    for x in range(200, 440):
        for y in range(90, 270, 3):
            picture.putpixel((x, y), (240, 230, 220))
    picture.save(out, format="JPEG")
    return out.getvalue()


@pytest.fixture
def shop():
    ProgramFactory(return_window_days=0, expiry_months=24)
    store = StoreFactory(code="WAW-01", name="Warsaw Centre", timezone="Europe/Warsaw")
    cashier = UserFactory(email="cashier@example.com", role=Role.CASHIER)
    member = MemberFactory(user=UserFactory(email="ada@example.com"), first_name="Ada", last_name="Nowak")
    points_credit(member=member, points=600, kind=LedgerEntry.Kind.BONUS, idempotency_key="welcome")
    gold = TierFactory(code="gold", name_en="Gold", rank=2)
    now = timezone.now()
    coffee = RewardFactory(
        code="coffee", name_en="Free coffee", kind="product", points_cost=150, sku="COF-1",
        description_en="Any coffee from our menu, any size.", image="rewards/coffee.jpg",
    )
    RewardFactory(code="ten-off", name_en="10 off your next purchase", points_cost=300, value=Decimal("10.00"))
    RewardFactory(code="percent", name_en="15% off", kind="percent", points_cost=500, value=Decimal("15"),
                  max_discount=Decimal("30.00"))
    RewardFactory(code="bag", name_en="Tote bag", kind="product", points_cost=900)
    RewardFactory(code="lounge", name_en="Lounge pass", points_cost=200, min_tier=gold)
    RewardFactory(code="tasting", name_en="Wine tasting", kind="event", points_cost=250, stock=0,
                  event_at=now + dt.timedelta(days=12), place="The Cellar, Warsaw")
    RewardFactory(code="give", name_en="Give 5.00 to the shelter", kind="donation", points_cost=100,
                  value=Decimal("5.00"), charity=CharityFactory(code="shelter", name_en="City Shelter"))
    # History for the wallet: one used, one ready.
    used = reward_redeem(member=member, reward=Reward.objects.get(code="give"), idempotency_key="gift-1",
                         channel=Voucher.Channel.PORTAL).voucher
    old = reward_redeem(member=member, reward=RewardFactory(code="cake", name_en="Cake", points_cost=0),
                        idempotency_key="cake-1", channel=Voucher.Channel.PORTAL).voucher
    voucher_use(code=old.code, channel=Voucher.Channel.TILL, store=store, user=cashier)
    Reward.objects.filter(code="cake").update(in_catalog=False)
    return {"member": member, "coffee": coffee, "used": used}


def _decoded(png: bytes) -> dict[str, str]:
    return {str(found.format): found.text for found in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))}


def test_a_member_browses_redeems_with_the_keyboard_and_shows_the_voucher(page, live_server, shop):
    member = shop["member"]
    picture = _image()
    page.route("**/media/rewards/**", lambda route: route.fulfill(body=picture, content_type="image/jpeg"))
    page.set_viewport_size(PHONE)
    login(page, live_server, member.user)

    # The catalog on a phone.
    page.goto(f"{live_server.url}/me/")
    expect(page.get_by_text("You can redeem 4 rewards now, such as 15% off.")).to_be_visible()
    expect(page.get_by_text("Next: Tote bag, 400 more points to go.")).to_be_visible()
    shots(page, "home-rewards")
    assert axe_serious(page) == []
    page.get_by_role("link", name="Rewards", exact=True).click()
    expect(page.get_by_role("heading", name="Rewards", level=1)).to_be_visible()
    expect(page.get_by_text("You have 500 points to spend.")).to_be_visible()
    expect(page.get_by_role("heading", name="You can redeem 4 rewards now")).to_be_visible()
    expect(page.get_by_text("You have 500 of 900 points: 400 more points to go.")).to_be_visible()
    expect(page.get_by_text("Lounge pass is for Gold members and above.")).to_be_visible()
    expect(page.get_by_text("Wine tasting is full. You can join the waitlist.")).to_be_visible()
    expect(page.get_by_role("img", name="Free coffee")).to_be_visible()
    # Visible is not loaded: wait until the picture has been fetched and decoded.
    page.wait_for_function("() => { const img = document.querySelector('img.reward-image'); "
                           "return img && img.complete && img.naturalWidth > 0; }")
    assert page.evaluate("document.querySelector('img.reward-image').naturalWidth") == 640
    assert fits_a_phone(page)
    shots(page, "rewards")
    assert axe_serious(page) == []

    # Keyboard only from here: Tab to the coffee's Redeem link, Enter, then Tab to the confirm button.
    tab_to(page, "a.btn[href='/me/rewards/coffee/']", limit=60)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/me/rewards/coffee/$"))
    confirm = page.get_by_role("region", name="Confirm and redeem")
    expect(confirm.locator("dt:text-is('Your points now') + dd")).to_have_text("500")
    expect(confirm.locator("dt:text-is('Your points after') + dd")).to_have_text("350")
    assert fits_a_phone(page)
    shots(page, "reward")
    assert axe_serious(page) == []
    tab_to(page, ".redeem-form button[type=submit]")
    page.keyboard.press("Enter")

    # The voucher, ready to show at the till.
    expect(page).to_have_url(re.compile(r"/me/vouchers/[0-9A-Z]{15}/$"))
    voucher = Voucher.objects.get(member=member, reward=shop["coffee"])
    expect(page.get_by_text("Your voucher for Free coffee is ready. Show it at the till.")).to_be_visible()
    expect(page.locator("#voucher-card .voucher-code")).to_have_text(f"Voucher code {voucher.display_code}")
    expect(page.get_by_role("img", name=f"QR code of voucher {voucher.display_code}")).to_be_visible()
    expect(page.get_by_role("img", name=f"Barcode of voucher {voucher.display_code}")).to_be_visible()
    assert PointsAccount.objects.get(member=member).available == 350
    assert fits_a_phone(page)
    shots(page, "voucher")
    assert axe_serious(page) == []
    # What a till scanner reads: the QR code on the phone, the barcode at the width a desktop or tablet draws it.
    card = page.locator("#voucher-card")
    assert _decoded(card.locator("svg.qr").screenshot()) == {"QR Code": voucher.code}
    page.set_viewport_size(DESKTOP)
    assert _decoded(card.locator("svg.barcode").screenshot()) == {"Code 128": voucher.code}
    page.set_viewport_size(PHONE)

    # The wallet: the new voucher ready, the donation and the used cake in the history.
    page.get_by_role("link", name="Back to your vouchers").click()
    ready = page.get_by_role("region", name="Ready to use")
    expect(ready.get_by_role("link", name="Free coffee")).to_be_visible()
    history = page.get_by_role("region", name="Used, expired and cancelled")
    expect(history.get_by_text("Donated")).to_be_visible()
    expect(history.get_by_text("Cake")).to_be_visible()
    assert fits_a_phone(page)
    shots(page, "vouchers")
    assert axe_serious(page) == []


@pytest.mark.parametrize("name", ["tasting", "bag", "lounge"])
def test_reward_pages_that_cannot_be_redeemed_pass_axe(page, live_server, shop, name):
    page.set_viewport_size(PHONE)
    login(page, live_server, shop["member"].user)
    page.goto(f"{live_server.url}/me/rewards/{name}/")
    assert fits_a_phone(page)
    shots(page, f"reward-{name}")
    assert axe_serious(page) == []


def test_joining_a_waitlist_with_the_keyboard(page, live_server, shop):
    page.set_viewport_size(PHONE)
    login(page, live_server, shop["member"].user)
    page.goto(f"{live_server.url}/me/rewards/tasting/")
    expect(page.get_by_text("The Cellar, Warsaw", exact=True)).to_be_visible()
    tab_to(page, "button[type=submit]")
    page.keyboard.press("Enter")
    expect(page.get_by_text("You are on the waitlist for Wine tasting.")).to_be_visible()
    expect(page.get_by_role("button", name="Leave the waitlist")).to_be_visible()
    shots(page, "reward-waitlist")
    assert axe_serious(page) == []


def test_a_refused_redemption_shows_the_reason_and_passes_axe(page, live_server, shop):
    page.set_viewport_size(PHONE)
    login(page, live_server, shop["member"].user)
    page.goto(f"{live_server.url}/me/rewards/percent/")
    # Points spent elsewhere (at the till, say) while the page was open.
    points_credit(member=shop["member"], points=1, kind=LedgerEntry.Kind.BONUS, idempotency_key="tiny")
    PointsAccount.objects.filter(member=shop["member"]).update(available=100)
    page.get_by_role("button", name="Redeem for 500 points").click()
    expect(page.get_by_role("alert")).to_have_text("You need 500 points; you have 100.")
    shots(page, "reward-refused")
    assert axe_serious(page) == []
