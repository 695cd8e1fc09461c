"""The till in Chromium: a new customer enrolled and a purchase recorded with
the keyboard alone (timed, keystrokes counted), then undone; names chosen with
the arrow keys; axe-core on every till page; camera scanning's fallback
decodes a card with the .wasm from our static files."""

from __future__ import annotations

import re
import time
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from loyalty.models import PointsAccount, Purchase, Refund, Source, TillAction
from loyalty.services.purchases import purchase_record
from members.models import ConsentChange, Member, Role
from tests.browser.conftest import axe_serious, login, screenshot
from tests.factories import MemberFactory, ProgramFactory, StoreFactory, UserFactory, card_number

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shop():
    program = ProgramFactory(return_window_days=14, expiry_months=24)
    warsaw = StoreFactory(code="WAW-01", name="Warsaw Centre", timezone="Europe/Warsaw")
    krakow = StoreFactory(code="KRK-01", name="Kraków Old Town", timezone="Europe/Warsaw")
    cashier = UserFactory(email="cashier@example.com", role=Role.CASHIER)
    cashier.stores.add(warsaw)
    roaming = UserFactory(email="roaming@example.com", role=Role.CASHIER)
    roaming.stores.add(warsaw, krakow)
    ada = MemberFactory(first_name="Ada", last_name="Nowak", email="ada@example.com", phone="+48601234567")
    MemberFactory(first_name="Adam", last_name="Kowalski")
    MemberFactory(first_name="Adrianna", last_name="Wiśniewska")
    purchase = purchase_record(
        external_id="R-100", store=warsaw, member=ada, purchased_at=timezone.now(), amount=Decimal("64.90"),
        source=Source.TILL,
    ).purchase
    return {"program": program, "warsaw": warsaw, "cashier": cashier, "roaming": roaming, "ada": ada,
            "purchase": purchase}


class Keyboard:
    """The page's keyboard, counting every key pressed (each typed character is one)."""

    def __init__(self, page):
        self.page, self.count = page, 0

    def type(self, text: str) -> None:
        self.page.keyboard.type(text)
        self.count += len(text)

    def press(self, key: str, times: int = 1) -> None:
        for _ in range(times):
            self.page.keyboard.press(key)
            self.count += 1

    def tab_to(self, selector: str, limit: int = 30) -> None:
        for _ in range(limit):
            if self.page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
                return
            self.press("Tab")
        raise AssertionError(f"Tab never reached {selector}")


def test_cashier_enrolls_and_sells_with_the_keyboard_only_then_undoes(page, live_server, shop):
    login(page, live_server, shop["cashier"])
    page.goto(f"{live_server.url}/till/")  # one store: chosen at once
    search = page.locator("#id_q")
    expect(search).to_be_focused()
    keys = Keyboard(page)
    started = time.monotonic()

    # Nobody by that name: the till says so and offers to enroll with it.
    keys.type("Zofia Lis")
    keys.press("Enter")
    expect(page.get_by_role("heading", name="Not a member yet?")).to_be_visible()
    expect(search).to_be_focused()
    keys.tab_to("a[href^='/till/enroll/']")
    keys.press("Enter")

    # The name is filled in; the focus waits on the email.
    expect(page.get_by_role("heading", name="Enroll a new member")).to_be_visible()
    expect(page.locator("#id_first_name")).to_have_value("Zofia")
    expect(page.locator("#id_last_name")).to_have_value("Lis")
    expect(page.locator("#id_email")).to_be_focused()
    keys.type("zofia.lis@example.com")
    keys.tab_to("#id_marketing_consent")
    keys.press("Space")
    keys.tab_to("#id_card_number")
    keys.press("Enter")  # an empty card field: Enter sends the form, a number is issued

    expect(page.get_by_text("Zofia Lis is enrolled with card")).to_be_visible()
    expect(page.locator("#id_purchase-amount")).to_be_focused()
    enrolled_at = time.monotonic()
    screenshot(page, "till-enrolled")
    started += time.monotonic() - enrolled_at  # screenshots are not the cashier's time
    keys.type("45.50")
    keys.press("Enter")
    expect(page.get_by_role("heading", name="Purchase recorded")).to_be_visible()
    expect(page.get_by_text("45 points earned")).to_be_visible()
    elapsed = time.monotonic() - started
    print(f"\nTILL KEYBOARD FLOW: enrolled and sold in {elapsed:.1f} s with {keys.count} keystrokes")
    assert elapsed < 30
    screenshot(page, "till-flow-purchase-done")

    zofia = Member.objects.get(email="zofia.lis@example.com")
    assert (zofia.first_name, zofia.last_name, zofia.marketing_consent, zofia.sms_consent) == (
        "Zofia", "Lis", True, False)
    assert list(ConsentChange.objects.filter(member=zofia).values_list("channel", "source")) == [("email", "till")]
    assert PointsAccount.objects.get(member=zofia).pending == 45

    # Undo: Shift+Tab from the next-customer box reaches the undo link; the
    # confirmation's "Yes" has the focus.
    expect(search).to_be_focused()
    keys.press("Shift+Tab")
    expect(page.locator("a[href='/till/undo/']").last).to_be_focused()
    keys.press("Enter")
    expect(page.get_by_role("button", name="Yes, undo this purchase")).to_be_focused()
    screenshot(page, "till-undo-confirm")
    keys.press("Enter")
    expect(page.get_by_text("undone: 45 points taken back")).to_be_visible()
    assert PointsAccount.objects.get(member=zofia).pending == 0
    assert Refund.objects.get(purchase__member=zofia).external_id.startswith("undo-")
    kinds = list(TillAction.objects.filter(user=shop["cashier"]).order_by("pk").values_list("kind", flat=True))
    assert kinds == ["enroll", "claim", "purchase", "undo"]


def test_a_name_is_chosen_from_the_results_with_the_arrow_keys(page, live_server, shop):
    login(page, live_server, shop["cashier"])
    page.goto(f"{live_server.url}/till/")
    expect(page.locator("#id_q")).to_be_focused()  # typed keys land in the box only once it has the focus
    page.keyboard.type("ad")
    page.keyboard.press("Enter")
    links = page.locator("[data-till-results] a")
    expect(links).to_have_count(3)
    screenshot(page, "till-results")
    page.keyboard.press("ArrowDown")
    expect(links.nth(0)).to_be_focused()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(links.nth(2)).to_be_focused()
    page.keyboard.press("ArrowDown")  # stays on the last
    expect(links.nth(2)).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(links.nth(1)).to_be_focused()
    # Only the current result is in the Tab order (roving tabindex).
    assert [links.nth(i).get_attribute("tabindex") for i in range(3)] == ["-1", "0", "-1"]
    chosen = links.nth(1).inner_text().split("\n")[0].strip()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(chosen)
    expect(page.locator("#id_purchase-amount")).to_be_focused()


def test_without_javascript_the_results_are_plain_links(browser, live_server, shop):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    login(page, live_server, shop["cashier"])
    page.goto(f"{live_server.url}/till/")
    page.goto(f"{live_server.url}/till/?q=ad")
    links = page.locator("[data-till-results] a")
    expect(links).to_have_count(3)
    assert links.nth(2).get_attribute("tabindex") is None
    expect(page.get_by_role("button", name="Scan with camera")).to_be_hidden()
    links.nth(0).click()
    expect(page.locator("#id_purchase-amount")).to_be_visible()
    # Enroll, sell and undo with no JavaScript at all.
    page.goto(f"{live_server.url}/till/")
    page.locator("#id_q").fill("nojs@example.com")
    page.keyboard.press("Enter")
    page.get_by_role("link", name="Enroll a new member").click()
    expect(page.locator("#id_email")).to_have_value("nojs@example.com")
    page.locator("#id_first_name").fill("Nojs")
    page.locator("#id_card_number").fill(card_number(808))
    page.locator("#id_card_number").press("Enter")  # no script to move on: the form is sent
    expect(page.get_by_text("Nojs is enrolled with card")).to_be_visible()
    page.locator("#id_purchase-amount").fill("10.00")
    page.locator("#id_purchase-amount").press("Enter")
    expect(page.get_by_role("heading", name="Purchase recorded")).to_be_visible()
    page.get_by_role("link", name="Undo this purchase (a mistake)").click()
    page.get_by_role("button", name="Yes, undo this purchase").click()
    expect(page.get_by_text("undone: 10 points taken back")).to_be_visible()
    assert Member.objects.get(email="nojs@example.com").card_number == card_number(808)
    context.close()


def test_the_camera_fallback_decodes_a_card_with_our_own_wasm(page, live_server, shop):
    """Chromium on Linux has no BarcodeDetector: the vendored ponyfill decodes,
    and its .wasm comes from our static files (any other host is blocked)."""
    requested = []

    def only_our_server(route):
        requested.append(route.request.url)
        if route.request.url.startswith(live_server.url):
            route.continue_()
        else:
            route.abort()

    page.route("**/*", only_our_server)
    login(page, live_server, shop["cashier"])
    page.goto(f"{live_server.url}/till/")
    page.goto(f"{live_server.url}/till/members/{shop['ada'].card_number}/card/")
    expect(page.get_by_role("button", name="Scan with camera")).to_have_count(0)  # no search box on this page
    decoded = page.evaluate(
        """async () => {
            const svg = document.querySelector('.till-print-card-barcode svg');
            const clone = svg.cloneNode(true);
            clone.setAttribute('width', '600'); clone.setAttribute('height', '320');
            clone.setAttribute('xmlns', 'http://www.w3.org/2000/svg');
            const url = URL.createObjectURL(new Blob([clone.outerHTML], {type: 'image/svg+xml'}));
            const image = new Image();
            await new Promise((resolve, reject) => {
                image.onload = resolve; image.onerror = reject; image.src = url;
            });
            const canvas = document.createElement('canvas');
            canvas.width = 600; canvas.height = 320;
            const context = canvas.getContext('2d');
            context.fillStyle = '#fff'; context.fillRect(0, 0, 600, 320);
            context.drawImage(image, 0, 0, 600, 320);
            const detector = await window.TillCamera.makeDetector();
            const codes = await detector.detect(context.getImageData(0, 0, 600, 320));
            return {native: 'BarcodeDetector' in window, codes: codes.map(c => [c.format, c.rawValue])};
        }"""
    )
    assert decoded["codes"] == [["ean_13", shop["ada"].card_number]]
    wasm = [url for url in requested if url.endswith(".wasm")]
    assert wasm and all(url.startswith(f"{live_server.url}/static/vendor/barcode-detector/") for url in wasm)
    assert all(url.startswith(live_server.url) for url in requested), requested


def test_camera_button_shows_only_with_getusermedia(page, live_server, shop):
    login(page, live_server, shop["cashier"])
    page.goto(f"{live_server.url}/till/")
    has_media = page.evaluate("() => !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia)")
    button = page.get_by_role("button", name="Scan with camera")
    if has_media:
        expect(button).to_be_visible()
        # No camera here: the dialog says so; Escape closes it and the focus returns to the box.
        button.focus()
        page.keyboard.press("Enter")
        dialog = page.locator("#till-camera")
        expect(dialog).to_be_visible()
        expect(page.get_by_text("The camera could not be started")).to_be_visible()
        assert axe_serious(page) == []
        screenshot(page, "till-camera-dialog")
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        expect(page.locator("#id_q")).to_be_focused()
    page.add_init_script("Object.defineProperty(navigator, 'mediaDevices', {value: undefined})")
    page.reload()
    expect(page.locator("[data-till-camera]")).to_be_hidden()


def test_every_till_page_has_no_serious_accessibility_violations(page, live_server, shop):
    found: dict[str, list] = {}

    def check(name):
        found[name] = axe_serious(page)
        screenshot(page, name)

    ada = shop["ada"]
    # A focused button's colour transition would be sampled half-way (a false contrast finding).
    page.emulate_media(reduced_motion="reduce")
    login(page, live_server, shop["roaming"])
    page.goto(f"{live_server.url}/till/")
    expect(page.get_by_role("heading", name="Which store is this till in?")).to_be_visible()
    check("till-store-select")
    page.get_by_role("button", name=re.compile("Warsaw Centre")).click()
    check("till-search")
    page.goto(f"{live_server.url}/till/?q=ad")
    check("till-results")
    page.goto(f"{live_server.url}/till/?q=nobody%40example.com")
    expect(page.get_by_role("heading", name="Not a member yet?")).to_be_visible()
    check("till-unknown")
    page.goto(f"{live_server.url}/till/enroll/")
    check("till-enroll")
    page.locator("#id_first_name").fill("Ada")
    page.locator("#id_email").fill("ADA@example.com")
    page.get_by_role("button", name="Enroll", exact=True).click()
    expect(page.get_by_role("heading", name="Already a member")).to_be_visible()
    check("till-enroll-duplicate")
    page.goto(f"{live_server.url}/till/members/{ada.card_number}/")
    check("till-member")
    page.get_by_text("Attach a physical card").click()
    page.get_by_label("New card number").fill(ada.card_number[:-1] + str((int(ada.card_number[-1]) + 1) % 10))
    page.get_by_role("button", name="Attach card").click()
    expect(page.get_by_label("New card number")).to_be_focused()
    check("till-card-attach-error")
    page.locator("#id_purchase-amount").fill("12.30")
    page.get_by_role("button", name="Record purchase").click()
    expect(page.get_by_role("heading", name="Purchase recorded")).to_be_visible()
    check("till-purchase-done")
    page.goto(f"{live_server.url}/till/undo/")
    check("till-undo-confirm")
    page.goto(f"{live_server.url}/till/members/{ada.card_number}/")
    page.get_by_label(re.compile("receipt R-100")).check()
    page.get_by_label("Amount to refund").fill("4.90")
    page.get_by_role("button", name="Record refund").click()
    expect(page.get_by_role("heading", name="Refund recorded")).to_be_visible()
    check("till-refund-done")
    page.goto(f"{live_server.url}/till/undo/")
    expect(page.get_by_text("A refund cannot be undone")).to_be_visible()
    check("till-undo-refused")
    page.goto(f"{live_server.url}/till/members/{ada.card_number}/card/")
    check("till-card-print")
    page.emulate_media(media="print")
    page.screenshot(path=str(_print_path()), full_page=True)
    page.emulate_media(media="screen")
    assert {name: v for name, v in found.items() if v} == {}
    assert Purchase.objects.filter(member=ada).count() == 2


def _print_path():
    from tests.browser.conftest import SCREENSHOTS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / "till-card-print-media-print.png"


def _card_video(path, number: str) -> None:
    """A Y4M video (what Chromium's fake camera plays) of a card's EAN-13 barcode."""
    import io

    import barcode
    from barcode.writer import ImageWriter
    from PIL import Image

    out = io.BytesIO()
    barcode.get("ean13", number[:12], writer=ImageWriter()).write(
        out, options={"module_width": 0.5, "module_height": 20, "quiet_zone": 8, "dpi": 200})
    code = Image.open(io.BytesIO(out.getvalue())).convert("RGB")
    frame = Image.new("RGB", (640, 480), "white")
    code.thumbnail((600, 440))
    frame.paste(code, ((640 - code.width) // 2, (480 - code.height) // 2))
    y, u, v = frame.convert("YCbCr").split()
    u, v = u.resize((320, 240)), v.resize((320, 240))
    with open(path, "wb") as video:
        video.write(b"YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg\n")
        for _ in range(10):
            video.write(b"FRAME\n" + y.tobytes() + u.tobytes() + v.tobytes())


def test_a_card_shown_to_the_camera_opens_the_member(browser_type, browser_type_launch_args, live_server, shop,
                                                     tmp_path):
    """Chromium's fake camera plays a video of Ada's card: the till decodes it
    (the vendored ponyfill here), fills the search box and opens her."""
    ada = shop["ada"]
    video = tmp_path / "card.y4m"
    _card_video(video, ada.card_number)
    args = [*browser_type_launch_args.get("args", []), "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={video}"]
    browser = browser_type.launch(**{**browser_type_launch_args, "args": args})
    try:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.grant_permissions(["camera"], origin=live_server.url)
        page = context.new_page()
        login(page, live_server, shop["cashier"])
        page.goto(f"{live_server.url}/till/")
        page.get_by_role("button", name="Scan with camera").click()
        expect(page.get_by_role("heading", name="Ada Nowak")).to_be_visible(timeout=20_000)
        assert page.url.endswith(f"/till/members/{ada.card_number}/")
    finally:
        browser.close()
