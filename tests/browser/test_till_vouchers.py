"""Vouchers at the till in Chromium, with the keyboard alone: a code typed into
the one box, Enter, Tab to "Use voucher", Enter, and the box waits for the
next customer; a reward redeemed for a member and used at once; wrong and
used codes explained. No address ever holds a usable voucher's code; axe-core
finds nothing serious; screenshots at 1280x800 and 1024x768."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from loyalty.models import LedgerEntry, PointsAccount, TillAction
from loyalty.services.ledger import points_credit
from members.models import Role
from rewards.models import Voucher
from rewards.services.redemption import reward_redeem
from tests.browser.conftest import SCREENSHOTS, axe_serious, login, tab_to
from tests.factories import MemberFactory, ProgramFactory, RewardFactory, StoreFactory, UserFactory, code_mistyped

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZES = [(1280, 800), (1024, 768)]


def shots(page, name: str) -> None:
    """Full-page screenshots at the till's two usual screen sizes."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}x{height}.png"), full_page=True)
    if original:
        page.set_viewport_size(original)


@pytest.fixture
def shop():
    ProgramFactory(return_window_days=0)
    warsaw = StoreFactory(code="WAW-01", name="Warsaw Centre", timezone="Europe/Warsaw")
    cashier = UserFactory(email="cashier@example.com", role=Role.CASHIER)
    cashier.stores.add(warsaw)
    ada = MemberFactory(first_name="Ada", last_name="Nowak", email="ada@example.com")
    points_credit(member=ada, points=500, kind=LedgerEntry.Kind.BONUS, idempotency_key="gift")
    coffee = RewardFactory(code="coffee", name_en="Free coffee", kind="product", sku="COF-1", value=None,
                           points_cost=100)
    RewardFactory(code="discount", name_en="10 zł off", kind="amount", points_cost=150)
    RewardFactory(code="cinema", name_en="Cinema night", kind="amount", points_cost=2000)
    voucher = reward_redeem(member=ada, reward=coffee, idempotency_key="portal-1", channel="portal").voucher
    return {"warsaw": warsaw, "cashier": cashier, "ada": ada, "coffee": coffee, "voucher": voucher}


def watch_addresses(page) -> list[str]:
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    return urls


def assert_no_usable_code(urls: list[str], *codes: str) -> None:
    for url in urls:
        flat = url.upper().replace("-", "")
        for code in codes:
            assert code not in flat, url


def test_a_voucher_is_used_with_the_keyboard_alone(page, live_server, shop):
    voucher = shop["voucher"]
    urls = watch_addresses(page)
    page.emulate_media(reduced_motion="reduce")
    login(page, live_server, shop["cashier"])
    page.goto(f"{live_server.url}/till/")
    box = page.locator("#id_q")
    expect(box).to_be_focused()
    page.keyboard.type(voucher.display_code)
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", level=1)).to_contain_text(voucher.display_code)
    expect(page.get_by_text("Free product, SKU COF-1")).to_be_visible()
    expect(page.get_by_text(f"Ada Nowak, card {shop['ada'].card_number}")).to_be_visible()
    expect(page.locator("#id_voucher-receipt")).to_be_focused()
    assert axe_serious(page) == []
    shots(page, "till-voucher")
    assert_no_usable_code(urls, voucher.code)  # checked before it is used

    page.keyboard.type("R-2024")
    page.keyboard.press("Enter")  # a scanned receipt ends with Enter: on to the button, not sent
    use = page.get_by_role("button", name="Use voucher")
    expect(use).to_be_focused()
    assert Voucher.objects.get(pk=voucher.pk).status == "issued"
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")  # "Tab to Use"
    expect(use).to_be_focused()
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Voucher used")).to_be_visible()
    expect(page.get_by_text("receipt R-2024")).to_be_visible()
    expect(box).to_be_focused()  # the next customer
    assert axe_serious(page) == []
    shots(page, "till-voucher-used")
    voucher.refresh_from_db()
    assert (voucher.status, voucher.used_store, voucher.used_receipt) == ("used", shop["warsaw"], "R-2024")
    assert TillAction.objects.get().kind == TillAction.Kind.VOUCHER_USE

    # The same code again: exactly why not, and the box is ready for the next one.
    page.keyboard.type(voucher.code.lower())
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("This voucher was already used on")
    expect(page.get_by_role("alert")).to_contain_text("at Warsaw Centre")
    expect(page.get_by_role("button", name="Use voucher")).to_have_count(0)
    expect(box).to_be_focused()
    expect(box).to_have_value("")
    assert axe_serious(page) == []
    shots(page, "till-voucher-used-again")


def test_a_mistyped_code_stays_in_the_box_with_what_is_wrong(page, live_server, shop):
    code = shop["voucher"].display_code
    typo = code_mistyped(code)
    page.emulate_media(reduced_motion="reduce")
    login(page, live_server, shop["cashier"])
    page.goto(f"{live_server.url}/till/")
    box = page.locator("#id_q")
    expect(box).to_be_focused()  # typed keys land in the box only once it has the focus
    page.keyboard.type(typo)
    page.keyboard.press("Enter")
    expect(box).to_be_focused()
    expect(box).to_have_value(typo)
    expect(box).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_text("a character is wrong or two are swapped")).to_be_visible()
    assert axe_serious(page) == []
    shots(page, "till-voucher-mistyped")
    # A member search still works from the same box.
    page.keyboard.press("Control+A")
    page.keyboard.type(shop["ada"].card_number)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Ada Nowak")).to_be_visible()


def test_a_reward_is_redeemed_and_used_at_once_with_the_keyboard(page, live_server, shop):
    ada = shop["ada"]
    urls = watch_addresses(page)
    page.emulate_media(reduced_motion="reduce")
    login(page, live_server, shop["cashier"])
    page.goto(f"{live_server.url}/till/")  # one store: chosen at once
    page.goto(f"{live_server.url}/till/members/{ada.card_number}/")
    expect(page.locator("#id_purchase-amount")).to_be_focused()
    tab_to(page, f"a[href='/till/members/{ada.card_number}/rewards/']", limit=60)
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Rewards to redeem now")).to_be_visible()
    first = page.get_by_role("link", name="Redeem Free coffee")
    expect(first).to_be_focused()
    expect(page.get_by_text("1,600 more points needed")).to_be_visible()  # the cinema night: 2,000 for 400
    assert axe_serious(page) == []
    shots(page, "till-redeem-list")
    page.keyboard.press("Tab")  # the next reward
    expect(page.get_by_role("link", name="Redeem 10 zł off")).to_be_focused()
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", level=1)).to_have_text("Redeem 10 zł off for Ada Nowak")
    expect(page.get_by_text("Balance after")).to_be_visible()
    confirm = page.get_by_role("button", name="Redeem for 150 points")
    expect(confirm).to_be_focused()
    assert axe_serious(page) == []
    shots(page, "till-redeem-confirm")
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Reward redeemed")).to_be_visible()
    voucher = Voucher.objects.get(reward__code="discount")
    expect(page.locator(".till-voucher-code")).to_have_text(voucher.display_code)
    assert PointsAccount.objects.get(member=ada).available == 250
    expect(page.locator("#id_voucher-receipt")).to_be_focused()
    assert axe_serious(page) == []
    shots(page, "till-redeem-done")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Use now")).to_be_focused()
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Voucher used")).to_be_visible()
    expect(page.locator("#id_q")).to_be_focused()
    assert Voucher.objects.get(pk=voucher.pk).status == "used"
    kinds = list(TillAction.objects.order_by("pk").values_list("kind", flat=True))
    assert kinds == [TillAction.Kind.REDEEM, TillAction.Kind.VOUCHER_USE]
    # The usable codes (the new one until it was used, and the portal's) never were in an address.
    assert_no_usable_code([url for url in urls if "/used/" not in url], voucher.code, shop["voucher"].code)
