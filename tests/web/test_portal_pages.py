"""The portal pages of issue 4: the digital card and the installable web app,
the plain-language program, history filters, privacy (exports, deletion)
and feedback."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import xml.etree.ElementTree as ET
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
import zxingcpp
from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.cache import cache
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone
from PIL import Image, ImageDraw

from loyalty.models import LedgerEntry, PointsAccount, Program, Purchase, Source
from loyalty.services.ledger import points_adjust, points_expire_due, points_redeem
from loyalty.services.purchases import refund_record
from members.models import Feedback, Member, User
from tests.factories import card_number
from tests.web.conftest import buy, client_for
from tests.web.portal_icons import ICONS

pytestmark = pytest.mark.django_db

PHONE_CSS_WIDTH = 328  # a 360 px screen less the page's padding
PHONE_DPR = 2


@pytest.fixture
def portal(users):
    return client_for(users["member"])


# -- the digital card ----------------------------------------------------------


def _rasterize(svg: str, *, width: int) -> Image.Image:
    """Draws the two kinds of SVG our card tags produce (python-barcode's
    rectangles, segno's one-path QR) at ``width`` pixels, as a browser would."""
    root = ET.fromstring(svg)  # noqa: S314 (our own tags' output)
    _x, _y, view_w, view_h = (float(v) for v in root.get("viewBox").split())
    scale = width / view_w
    image = Image.new("L", (width, round(view_h * scale)), 255)
    draw = ImageDraw.Draw(image)
    for element in root.iter():
        tag = element.tag.rsplit("}", 1)[-1]
        if tag == "rect" and "#000000" in (element.get("style") or ""):
            x, y, w, h = (float(element.get(k)) for k in ("x", "y", "width", "height"))
            draw.rectangle(
                (round(x * scale), round(y * scale), round((x + w) * scale) - 1, round((y + h) * scale) - 1), fill=0
            )
        elif tag == "path" and element.get("stroke"):
            # segno draws each dark run as a one-unit-thick horizontal stroke.
            x = y = 0.0
            tokens = re.findall(r"[MmHhVvZz]|-?[\d.]+", element.get("d"))
            i = 0
            while i < len(tokens):
                op = tokens[i]
                if op in "Mm":
                    dx, dy = float(tokens[i + 1]), float(tokens[i + 2])
                    x, y = (dx, dy) if op == "M" else (x + dx, y + dy)
                    i += 3
                elif op in "Hh":
                    length = float(tokens[i + 1]) - (x if op == "H" else 0)
                    top = (y - 0.5) * scale
                    draw.rectangle(
                        (round(x * scale), round(top), round((x + length) * scale) - 1, round(top + scale) - 1), fill=0
                    )
                    x += length
                    i += 2
                else:
                    raise AssertionError(f"unexpected path command {op}")
    return image


def _decode(image: Image.Image) -> dict[str, str]:
    return {str(found.format): found.text for found in zxingcpp.read_barcodes(image)}


def test_card_page_shows_the_barcode_the_qr_and_the_number(portal, member):
    response = portal.get(reverse("me:card"))
    content = response.content.decode()
    assert response.context["section"] == "card"
    assert '<svg role="img" class="barcode"' in content
    assert '<svg role="img" class="qr"' in content
    assert f"QR code of card {member.card_number}" in content
    number = f'<span class="visually-hidden">Card number </span>{member.card_number}</p>'
    assert number in content
    assert "data-wake-lock" in content


@pytest.mark.parametrize("number", [card_number(1), card_number(4_321_987), card_number(9_999_999_999)])
def test_card_svgs_decode_to_the_card_number_at_phone_width(number):
    rendered = Template("{% load card_tags %}{% card_barcode n %}|{% qr_code n 'QR' %}").render(Context({"n": number}))
    barcode_svg, qr_svg = rendered.split("|")
    width = PHONE_CSS_WIDTH * PHONE_DPR
    assert _decode(_rasterize(barcode_svg, width=width)) == {"EAN-13": number}
    qr_width = min(256, 360 // 2) * PHONE_DPR  # the QR's CSS width on a phone: min(50vw, 16rem)
    assert _decode(_rasterize(qr_svg, width=qr_width)) == {"QR Code": number}


def test_the_rasterizer_can_fail():
    rendered = Template("{% load card_tags %}{% card_barcode n %}").render(Context({"n": card_number(7)}))
    blank = rendered.replace("#000000", "#ffffff")
    assert _decode(_rasterize(blank, width=656)) == {}


# -- installing it -------------------------------------------------------------


def test_manifest_makes_the_portal_installable(client, program):
    response = client.get(reverse("me:manifest"))  # public: browsers fetch it without cookies
    assert response.status_code == 200
    assert response["Content-Type"] == "application/manifest+json"
    data = json.loads(response.content)
    assert data["name"] == program.name
    assert data["start_url"] == "/me/"
    assert data["scope"] == "/me/"
    assert data["display"] == "standalone"
    assert data["theme_color"] and data["background_color"]
    icons = {(icon["sizes"], icon["purpose"]): icon["src"] for icon in data["icons"]}
    assert set(icons) == {("192x192", "any"), ("512x512", "any"), ("192x192", "maskable"), ("512x512", "maskable")}
    for (sizes, _purpose), src in icons.items():
        path = Path(settings.BASE_DIR) / "static" / src.removeprefix(settings.STATIC_URL)
        with Image.open(path) as icon:
            assert f"{icon.width}x{icon.height}" == sizes
            assert icon.format == "PNG"


def test_manifest_without_a_program_still_answers(client, db):
    data = json.loads(client.get(reverse("me:manifest")).content)
    assert data["name"] == "Loyalty"


def test_maskable_icons_fill_the_square_and_the_apple_icon_is_opaque():
    for size in (192, 512):
        with Image.open(ICONS / f"icon-maskable-{size}.png") as icon:
            corners = [icon.convert("RGBA").getpixel(p) for p in ((0, 0), (size - 1, size - 1))]
            assert all(pixel[3] == 255 for pixel in corners)  # full bleed
        with Image.open(ICONS / f"icon-{size}.png") as icon:
            assert icon.convert("RGBA").getpixel((0, 0))[3] == 0  # rounded, transparent corners
    with Image.open(ICONS / "apple-touch-icon.png") as icon:
        assert (icon.size, icon.mode) == ((180, 180), "RGB")


def test_portal_pages_link_the_manifest_and_the_apple_icon(portal, member):
    content = portal.get(reverse("me:home")).content.decode()
    assert f'<link rel="manifest" href="{reverse("me:manifest")}">' in content
    assert 'rel="apple-touch-icon" href="/static/icons/apple-touch-icon.png"' in content
    assert 'href="/static/css/portal.css"' in content


def test_navigation_has_home_card_rewards_history_account_and_the_footer_privacy_and_feedback(portal, member):
    content = portal.get(reverse("me:card")).content.decode()
    nav = content[content.index('aria-label="Main"'):content.index("</nav>")]
    assert [reverse(n) for n in ("me:home", "me:card", "me:rewards", "me:history", "me:account")] == re.findall(
        r'href="([^"]+)"', nav
    )
    assert 'aria-current="page" href="/me/card/"' in nav
    footer = content[content.index("<footer"):]
    assert reverse("me:privacy") in footer and reverse("me:feedback") in footer


# -- home: the program in plain words --------------------------------------------


def test_home_explains_the_program_in_the_singular(portal, member, program):
    Program.objects.filter(pk=1).update(earn_rate="1", return_window_days=1, expiry_months=1, allow_debt=False)
    cache.clear()
    content = portal.get(reverse("me:home")).content.decode()
    assert "You earn 1 point for every" in content
    assert "pending for 1 day," in content
    assert "Points expire 1 month after you earn them" in content
    assert "Points you already used are not taken back." in content


def test_home_shows_a_debt_and_how_it_is_repaid(portal, member, store, program):
    purchase = buy(member, store, "100.00", external_id="D-1", at=timezone.now() - dt.timedelta(days=30)).purchase
    points_redeem(member=member, points=90, idempotency_key="r1", reason="Coffee machine")
    refund_record(external_id="D-1-R", purchase=purchase, amount="100.00", source=Source.TILL)
    response = portal.get(reverse("me:home"))
    assert response.context["balances"].debt == 90
    content = response.content.decode()
    assert "Owed from refunds" in content
    assert "taken from the next points you earn" in content


# -- history -----------------------------------------------------------------------


@pytest.fixture
def ledger(member, store, users, program):
    """An earn and its release, an expiry, a refund, a positive and a negative adjustment."""
    now = timezone.now()
    old = buy(member, store, "40.00", external_id="OLD", at=now - dt.timedelta(days=800)).purchase
    points_expire_due(as_of=now)
    recent = buy(member, store, "30.00", external_id="NEW", at=now - dt.timedelta(days=2)).purchase
    refund_record(external_id="NEW-R", purchase=recent, amount="10.00", source=Source.TILL)
    points_adjust(member=member, points=7, reason="Broken cup", actor=users["owner"], idempotency_key="a1")
    return {"old": old, "recent": recent}


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("earned", {"earn", "release"}),
        ("expired", {"expire"}),
        ("refunds", {"reversal"}),
        ("adjustments", {"adjust"}),
        ("spent", set()),
        ("", {"earn", "release", "expire", "reversal", "adjust"}),
    ],
)
def test_history_filters_by_kind(portal, ledger, kind, expected):
    response = portal.get(reverse("me:history"), {"kind": kind})
    assert {entry.kind for entry in response.context["entries_page"].object_list} == expected


def test_history_in_the_members_words(portal, ledger):
    content = portal.get(reverse("me:history")).content.decode()
    assert "expired" in content
    assert "Refund of your purchase at Warsaw Centre" in content
    assert "Correction by our team: Broken cup" in content
    assert "Purchase at Warsaw Centre" in content


def test_history_days_are_calendar_days_in_the_program_zone(portal, member, store, program):
    # 23:30 UTC on 1 March is 00:30 on 2 March in Warsaw.
    late = dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.UTC)
    buy(member, store, "10.00", external_id="LATE", at=late)
    on_second = portal.get(reverse("me:history"), {"date_from": "2026-03-02", "date_to": "2026-03-02"})
    assert [e.purchase.external_id for e in on_second.context["entries_page"].object_list if e.kind == "earn"] == [
        "LATE"
    ]
    on_first = portal.get(reverse("me:history"), {"date_from": "2026-03-01", "date_to": "2026-03-01"})
    assert [e for e in on_first.context["entries_page"].object_list if e.kind == "earn"] == []


def test_history_filter_errors_are_clear_and_the_bad_filter_is_left_out(portal, ledger):
    response = portal.get(reverse("me:history"), {"date_from": "31/31/2026", "kind": "earned"})
    content = response.content.decode()
    assert "Enter the start date as a day, for example 2026-01-31." in content
    assert 'aria-invalid="true"' in content
    assert {e.kind for e in response.context["entries_page"].object_list} == {"earn", "release"}

    response = portal.get(reverse("me:history"), {"date_from": "2026-05-02", "date_to": "2026-05-01"})
    assert "The end date is before the start date." in response.content.decode()

    response = portal.get(reverse("me:history"), {"kind": "everything-please"})
    assert "Choose what to show from the list." in response.content.decode()


def test_history_filters_are_kept_across_pages(portal, member, store):
    for n in range(25):
        buy(member, store, "2.00", external_id=f"P-{n}")
    response = portal.get(reverse("me:history"), {"kind": "earned", "date_from": "2020-01-01"})
    content = response.content.decode()
    assert 'href="?kind=earned&amp;date_from=2020-01-01&amp;page=2"' in content
    assert "25 entries match these filters." in content
    page_two = portal.get(reverse("me:history"), {"kind": "earned", "date_from": "2020-01-01", "page": 2})
    assert len(page_two.context["entries_page"].object_list) == 5
    assert page_two.context["form"]["kind"].value() == "earned"


@pytest.mark.parametrize("count", [3, 60])
def test_filtered_history_uses_a_fixed_number_of_queries(portal, member, store, count, django_assert_max_num_queries):
    for n in range(count):
        buy(member, store, "2.00", external_id=f"Q-{n}")
    params = {"kind": "earned", "date_from": "2020-01-01", "date_to": "2099-12-31", "page": 2}
    portal.get(reverse("me:history"), params)
    # session, user, member, count, page
    with django_assert_max_num_queries(5):
        portal.get(reverse("me:history"), params)


# -- privacy -------------------------------------------------------------------------


def test_privacy_page_offers_both_downloads_and_explains_deletion(portal, member):
    content = portal.get(reverse("me:privacy")).content.decode()
    assert reverse("me:export-json") in content
    assert reverse("me:export-csv") in content
    assert reverse("me:delete-account") in content
    assert "Your points are lost." in content


def test_json_download_is_an_attachment_with_the_members_data(portal, member, store):
    buy(member, store, "12.34", external_id="J-1")
    response = portal.get(reverse("me:export-json"))
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="my-loyalty-data-')
    assert "no-store" in response["Cache-Control"]
    data = json.loads(b"".join(response.streaming_content))
    assert data["profile"]["card_number"] == member.card_number
    assert [p["receipt"] for p in data["purchases"]] == ["J-1"]


def test_csv_download_is_a_zip_of_csv_files(portal, member, store):
    buy(member, store, "12.34", external_id="Z-1")
    response = portal.get(reverse("me:export-csv"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="my-loyalty-data-')
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as archive:
        names = set(archive.namelist())
        assert {"profile.csv", "consents.csv", "purchases.csv", "refunds.csv", "ledger.csv", "feedback.csv"} <= names
        assert "Z-1" in archive.read("purchases.csv").decode("utf-8-sig")


def test_delete_page_explains_what_is_erased_and_kept_before_asking(portal, member, store):
    buy(member, store, "25.00", external_id="K-1")
    content = portal.get(reverse("me:delete-account")).content.decode()
    for text in ("What we erase", "What we keep, without your name", "Your points are lost",
                 "You have 25 points (available and pending)", 'type="password"'):
        assert text in content
    assert Member.objects.get(pk=member.pk).status == Member.Status.ACTIVE


def test_delete_refuses_a_wrong_password_and_changes_nothing(portal, member):
    response = portal.post(reverse("me:delete-account"), {"password": "not-mine"})
    assert response.status_code == 200
    assert "This is not your password." in response.content.decode()
    member.refresh_from_db()
    assert member.status == Member.Status.ACTIVE and member.user_id is not None


def test_delete_with_the_password_erases_logs_out_and_says_so(portal, member, store, users):
    purchase = buy(member, store, "25.00", external_id="E-1").purchase
    EmailAddress.objects.create(user=users["member"], email="member@example.com", verified=True, primary=True)
    account_before = PointsAccount.objects.filter(member=member).values("available", "pending", "debt").get()
    response = portal.post(reverse("me:delete-account"), {"password": "pass-word-123"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("account_login")
    assert "Your account was deleted" in response.content.decode()
    assert not response.context["user"].is_authenticated
    member.refresh_from_db()
    assert member.status == Member.Status.DELETED and member.email == "" and member.first_name == ""
    assert not User.objects.filter(email="member@example.com").exists()
    assert not EmailAddress.objects.filter(email="member@example.com").exists()
    assert Purchase.objects.get(pk=purchase.pk).member_id == member.pk
    assert PointsAccount.objects.filter(member=member).values("available", "pending", "debt").get() == account_before
    assert portal.get(reverse("me:home")).status_code == 302  # logged out
    assert not client_for(None).login(email="member@example.com", password="pass-word-123")


# -- feedback --------------------------------------------------------------------------


def test_feedback_form_is_an_accessible_radio_group(portal, member):
    content = portal.get(reverse("me:feedback")).content.decode()
    assert "<fieldset" in content and "<legend" in content
    assert content.count('type="radio" class="btn-check" name="score"') == 11
    assert "0 = not at all likely" in content and "10 = extremely likely" in content


def test_feedback_is_saved_then_the_page_shows_the_rating_instead_of_the_form(portal, member):
    response = portal.post(reverse("me:feedback"), {"score": "9", "comment": " Great coffee "}, follow=True)
    assert "Thank you for your feedback." in response.content.decode()
    feedback = Feedback.objects.get(member=member)
    assert (feedback.score, feedback.comment) == (9, "Great coffee")
    content = portal.get(reverse("me:feedback")).content.decode()
    assert "<strong>9 out of 10</strong>" in content
    assert 'name="score"' not in content
    assert "You can rate it again from" in content


def test_feedback_too_soon_is_refused_with_the_date(portal, member, program):
    Feedback.objects.create(member=member, score=5, created_at=timezone.now() - dt.timedelta(days=10))
    response = portal.post(reverse("me:feedback"), {"score": "10"})
    assert response.status_code == 200
    refusal = r'role="alert">You rated the program on .+\. You can rate it again from '
    assert re.search(refusal, response.content.decode())
    assert Feedback.objects.filter(member=member).count() == 1


def test_feedback_form_returns_after_ninety_days(portal, member):
    Feedback.objects.create(member=member, score=5, created_at=timezone.now() - dt.timedelta(days=91))
    assert 'name="score"' in portal.get(reverse("me:feedback")).content.decode()
    portal.post(reverse("me:feedback"), {"score": "6"})
    assert Feedback.objects.filter(member=member).count() == 2


def test_feedback_without_a_score_says_what_to_do(portal, member):
    response = portal.post(reverse("me:feedback"), {"score": "", "comment": "hm"})
    content = response.content.decode()
    assert "Choose a score from 0 to 10." in content
    assert ">hm</textarea>" in content
    assert not Feedback.objects.exists()


def test_no_english_literal_without_translation_markers_in_new_templates():
    """A smoke check: our new templates load i18n and their visible sentences go through it."""
    for name in ("card", "privacy", "delete_account", "feedback", "history"):
        source = (Path(settings.BASE_DIR) / "templates" / "me" / f"{name}.html").read_text()
        assert "{% load i18n" in source
        text = re.sub(r"{% blocktranslate.*?{% endblocktranslate %}|{% block \w+_class %}.*?{% endblock", " ", source,
                      flags=re.S)
        text = re.sub(r"{%.*?%}|{{.*?}}|{#.*?#}|<[^>]+>", " ", text, flags=re.S)
        words = re.findall(r"[A-Za-z]{3,}", text)
        assert words == [], (name, words[:10])


def test_ledger_rows_are_kept_and_sum_to_the_balances_after_deletion(portal, member, store, ledger):
    before = list(LedgerEntry.objects.filter(account_id=member.pk).values_list("pk", "points"))
    portal.post(reverse("me:delete-account"), {"password": "pass-word-123"})
    assert list(LedgerEntry.objects.filter(account_id=member.pk).values_list("pk", "points")) == before
    account = PointsAccount.objects.get(member_id=member.pk)
    sums = LedgerEntry.objects.filter(account_id=member.pk)
    assert account.available == sum(sums.values_list("available_delta", flat=True))
    assert isinstance(account.available, int) and Decimal(account.available) >= 0
