"""Staff: the rewards catalog pages (list with figures, create and edit with an
image, archive and restore, partner codes) and the charities."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from rewards.models import Charity, PartnerCode, Reward
from tests.factories import CharityFactory, MemberFactory, RewardFactory, TierFactory
from tests.rewards.test_catalog import jpeg, voucher
from tests.web.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def marketing(users):
    return client_for(users["marketing"])


def form_data(**changes):
    data = {
        "name_en": "Free cappuccino", "name_pl": "Darmowe cappuccino", "name_ro": "", "description_en": "Any milk.",
        "description_pl": "", "description_ro": "", "code": "free-cappuccino", "kind": "product",
        "in_catalog": "on", "points_cost": "1300", "value": "", "max_discount": "", "sku": "CAP-M",
        "event_at": "", "place": "", "charity": "", "min_tier": "", "stock": "", "member_limit": "",
        "member_limit_period": "ever", "available_from": "", "available_until": "", "voucher_valid_days": "30",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def reward_form_data(reward: Reward, **changes):
    """What the edit page sends back unchanged (plus ``changes``)."""
    base = {
        "name_en": reward.name_en, "name_pl": reward.name_pl or "", "name_ro": reward.name_ro or "",
        "description_en": reward.description_en or "", "description_pl": "", "description_ro": "",
        "kind": reward.kind, "points_cost": str(reward.points_cost), "value": str(reward.value or ""),
        "max_discount": "", "sku": reward.sku, "event_at": "", "place": reward.place, "charity": "",
        "min_tier": "", "stock": "" if reward.stock is None else str(reward.stock),
        "stock_seen": "" if reward.stock is None else str(reward.stock), "member_limit": "",
        "member_limit_period": reward.member_limit_period, "available_from": "", "available_until": "",
        "voucher_valid_days": str(reward.voucher_valid_days or ""), "in_catalog": "on",
    }
    base.update(changes)
    return base


# -- who may ------------------------------------------------------------------------------


def test_only_staff_archive_and_restore_rewards(users, program):
    RewardFactory(code="coffee")
    archive = reverse("staff:reward-archive", kwargs={"code": "coffee"})
    restore = reverse("staff:reward-restore", kwargs={"code": "coffee"})
    for who in ("member", "cashier"):
        assert client_for(users[who]).post(archive).status_code == 403
    assert client_for(None).post(archive).status_code == 302
    assert Reward.objects.get().status == "active"
    for who in ("marketing", "manager", "owner"):
        client = client_for(users[who])
        assert client.post(archive).status_code == 302
        assert Reward.objects.get().status == "archived"
        assert client.post(restore).status_code == 302
        assert Reward.objects.get().status == "active"
    assert client_for(users["owner"]).get(archive).status_code == 405  # POST only


def test_rewards_are_addressed_by_code_and_unknown_codes_are_404(marketing, program):
    RewardFactory(code="coffee")
    assert marketing.get("/staff/rewards/coffee/").status_code == 200
    assert marketing.get("/staff/rewards/tea/").status_code == 404
    assert marketing.get(f"/staff/rewards/{Reward.objects.get().pk}/").status_code == 404
    assert marketing.get("/staff/rewards/coffee/codes/").status_code == 404  # not a partner reward


# -- the list -----------------------------------------------------------------------------


def test_the_list_shows_stock_vouchers_points_places_attendance_and_charity_totals(marketing, program):
    shelter = CharityFactory(code="shelter", name_en="City Shelter")
    Charity.objects.filter(pk=shelter.pk).update(donations=3, donated_points=1500, donated_amount=Decimal("15.00"))
    coffee = RewardFactory(code="coffee", name_en="Free coffee", kind="product", value=None, sku="C", stock=7)
    cupping = RewardFactory(code="cupping", name_en="Cupping", kind="event", value=None, stock=8,
                            event_at=timezone.now() + dt.timedelta(days=5), place="Warsaw")
    RewardFactory(code="donate", name_en="Donate", kind="donation", value=Decimal("5"), charity=shelter)
    cinema = RewardFactory(code="cinema", name_en="Cinema", kind="partner", value=None, points_cost=4000)
    RewardFactory(code="gone", name_en="Gone reward", status="archived")
    member = MemberFactory()
    voucher(coffee, status="used", points=100, member=member)
    voucher(coffee, status="cancelled", points=100, member=member)
    voucher(coffee, status="expired", points=100, member=member)
    voucher(coffee, status="issued", points=100, member=member, valid_until=timezone.now() - dt.timedelta(hours=1))
    voucher(coffee, status="issued", points=100, member=member)
    for status in ("used", "used", "issued", "cancelled"):
        voucher(cupping, status=status, points=3000, member=member)
    PartnerCode.objects.bulk_create([PartnerCode(reward=cinema, code=f"K{n}") for n in range(5)])
    PartnerCode.objects.filter(code="K0").update(voucher=voucher(cinema, status="issued", points=4000))

    response = marketing.get(reverse("staff:rewards"))
    assert response.status_code == 200
    rows = {reward.code: reward for reward in response.context["rewards"]}
    assert "gone" not in rows  # active ones by default
    row = rows["coffee"]
    assert (row.stock_left, row.vouchers_issued, row.vouchers_used, row.vouchers_cancelled,
            row.vouchers_expired, row.vouchers_open, row.points_taken) == (7, 5, 1, 1, 2, 1, 400)
    event = rows["cupping"]
    assert (event.places, event.vouchers_used, event.stock_left) == (11, 2, 8)  # 8 left + 3 held
    assert (rows["cinema"].stock_left, rows["cinema"].codes_total) == (4, 5)
    html = response.content.decode()
    assert "11 places · 2 attended" in html
    assert "4 free codes of 5" in html
    assert "City Shelter:" in html and "3 donations" in html
    archived = marketing.get(reverse("staff:rewards"), {"status": "archived"})
    assert [reward.code for reward in archived.context["rewards"]] == ["gone"]
    events = marketing.get(reverse("staff:rewards"), {"status": "all", "kind": "event"})
    assert [reward.code for reward in events.context["rewards"]] == ["cupping"]


def test_the_list_reads_the_same_number_of_queries_for_3_or_30_rewards(
    marketing, program, django_assert_max_num_queries
):
    def fill(count):
        for n in range(count):
            reward = RewardFactory(code=f"r{n}-{count}", kind="partner" if n % 3 == 0 else "amount",
                                   value=None if n % 3 == 0 else Decimal("5"), min_tier=TierFactory(code=f"t{n}"))
            voucher(reward, status="used")
            if reward.kind == "partner":
                PartnerCode.objects.create(reward=reward, code=f"K{n}-{count}")

    fill(3)
    with django_assert_max_num_queries(6) as few:  # session, user, program, count, page
        assert marketing.get(reverse("staff:rewards")).status_code == 200
    fill(27)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = marketing.get(reverse("staff:rewards"))
    assert len(response.context["rewards"]) == 30


# -- create and edit ----------------------------------------------------------------------


def test_create_a_reward_with_an_image(marketing, program, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    upload = SimpleUploadedFile("cup.jpg", jpeg(3000, 2000).getvalue(), content_type="image/jpeg")
    response = marketing.post(reverse("staff:reward-create"), {**form_data(), "image": upload})
    assert response.status_code == 302 and response["Location"] == reverse("staff:rewards")
    reward = Reward.objects.get()
    assert (reward.code, reward.kind, reward.name_pl, reward.sku, reward.points_cost) == (
        "free-cappuccino", "product", "Darmowe cappuccino", "CAP-M", 1300,
    )
    assert reward.name_ro is None  # falls back to English
    assert Image.open(tmp_path / reward.image.name).size == (1200, 800)
    page = marketing.get(reverse("staff:reward-edit", kwargs={"code": reward.code})).content.decode()
    assert reward.image.url in page and 'id="reward-image-preview"' in page


def test_the_form_names_each_wrong_field_and_a_bad_image_saves_nothing(marketing, program, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    response = marketing.post(reverse("staff:reward-create"), form_data(kind="percent", value="120", sku=""))
    assert response.status_code == 200
    assert response.context["form"].errors["value"] == ["A percent discount must be above 0 and at most 100."]
    assert "The reward was not saved" in response.content.decode()
    event = marketing.post(reverse("staff:reward-create"), form_data(kind="event", sku=""))
    assert set(event.context["form"].errors) == {"event_at", "place", "stock"}
    pdf = SimpleUploadedFile("menu.pdf", b"%PDF-1.4", content_type="application/pdf")
    bad = marketing.post(reverse("staff:reward-create"), {**form_data(), "image": pdf})
    assert bad.context["form"].errors["image"] == [
        "Image: menu.pdf is not an image that can be read. Upload a JPEG, PNG, WebP or GIF file."
    ]
    assert not Reward.objects.exists()


def test_edit_keeps_the_code_and_the_stock_redemptions_moved(marketing, program):
    reward = RewardFactory(code="coffee", name_en="Coffee", stock=10)
    url = reverse("staff:reward-edit", kwargs={"code": "coffee"})
    page = marketing.get(url)
    assert page.context["form"].fields["code"].disabled
    Reward.objects.filter(pk=reward.pk).update(stock=8)  # two redemptions while the form is open
    response = marketing.post(url, reward_form_data(reward, name_en="Coffee of the day", code="tea"))
    assert response.status_code == 302
    reward.refresh_from_db()
    assert (reward.code, reward.name_en, reward.stock) == ("coffee", "Coffee of the day", 8)
    moved = marketing.post(url, reward_form_data(reward, stock="50", stock_seen="10"))
    assert "the stock moved from 10 to 8" in moved.context["form"].errors["stock"][0]


def test_the_kind_is_locked_once_vouchers_exist(marketing, program):
    reward = RewardFactory(code="coffee")
    voucher(reward)
    url = reverse("staff:reward-edit", kwargs={"code": "coffee"})
    assert marketing.get(url).context["form"].fields["kind"].disabled
    marketing.post(url, reward_form_data(reward, kind="percent"))
    assert Reward.objects.get().kind == "amount"


def test_a_new_partner_reward_goes_on_to_its_codes(marketing, program):
    response = marketing.post(reverse("staff:reward-create"), form_data(kind="partner", code="cinema", sku=""))
    assert response["Location"] == reverse("staff:reward-codes", kwargs={"code": "cinema"})


def test_restore_refused_names_why(marketing, program):
    shelter = CharityFactory(code="shelter", name_en="Shelter")
    RewardFactory(code="donate", kind="donation", charity=shelter, status="archived")
    Charity.objects.filter(pk=shelter.pk).update(active=False)
    response = marketing.post(reverse("staff:reward-restore", kwargs={"code": "donate"}), follow=True)
    assert "could not be restored: Shelter no longer takes donations" in response.content.decode()
    assert Reward.objects.get().status == "archived"


# -- partner codes ------------------------------------------------------------------------


def test_partner_codes_upload_shows_counts_and_line_errors(marketing, program):
    cinema = RewardFactory(code="cinema", kind="partner", value=None)
    url = reverse("staff:reward-codes", kwargs={"code": "cinema"})
    good = SimpleUploadedFile("codes.csv", b"code\nK1\nK2\nK3\n", content_type="text/csv")
    response = marketing.post(url, {"file": good}, follow=True)
    assert "3 codes were added to the pool (0 already there). 3 codes are free." in response.content.decode()
    assert response.context["free"] == 3 and response.context["used"] == 0
    bad = SimpleUploadedFile("codes.csv", b"code\nK4\nK4\n", content_type="text/csv")
    response = marketing.post(url, {"file": bad})
    html = response.content.decode()
    assert "The file has 1 error; no code was imported." in html
    assert "Line 3: The code K4 is already on line 2." in html
    assert cinema.partner_codes.count() == 3
    again = SimpleUploadedFile("codes.csv", b"code\nK1\n", content_type="text/csv")
    assert "already in the pool" in marketing.post(url, {"file": again}, follow=True).content.decode()


# -- charities ----------------------------------------------------------------------------


def test_charities_list_create_and_edit_by_code(marketing, program):
    response = marketing.post(reverse("staff:charity-create"), {
        "name_en": "City Shelter", "name_pl": "Schronisko", "name_ro": "", "code": "shelter", "active": "on",
    })
    assert response.status_code == 302
    charity = Charity.objects.get()
    assert (charity.code, charity.name_pl, charity.active) == ("shelter", "Schronisko", True)
    RewardFactory(code="donate", kind="donation", charity=charity)
    listing = marketing.get(reverse("staff:charities"))
    assert listing.context["charities"][0].rewards_active == 1
    url = reverse("staff:charity-edit", kwargs={"code": "shelter"})
    refused = marketing.post(url, {"name_en": "City Shelter", "name_pl": "", "name_ro": "", "code": "x"})
    assert refused.context["form"].errors["active"] == [
        "Reward donate still gives to this charity: archive it first."
    ]
    assert Charity.objects.get().code == "shelter"
