"""The catalog services: saving rewards with checks that name the field,
archiving, charities, images and partner codes."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from PIL import Image

from rewards.codes import voucher_code_new
from rewards.exceptions import NotAPartnerReward, PartnerCodesFileInvalid, RewardImageInvalid
from rewards.models import Charity, PartnerCode, Reward, Voucher
from rewards.services.catalog import charity_save, reward_archive, reward_restore, reward_save
from rewards.services.images import reward_image_prepare, reward_image_remove, reward_image_store
from rewards.services.partner_codes import partner_codes_import
from tests.factories import CharityFactory, MemberFactory, ProgramFactory, RewardFactory, TierFactory

pytestmark = pytest.mark.django_db

SOON = timezone.now() + dt.timedelta(days=10)


@pytest.fixture(autouse=True)
def program(db):
    return ProgramFactory()


def data(kind="amount", **fields):
    values = {"code": "reward", "kind": kind, "name_en": "A reward", "points_cost": 100, "in_catalog": True}
    values.update({
        "amount": {"value": Decimal("10")},
        "percent": {"value": Decimal("15")},
        "product": {"sku": "CAP-M"},
        "event": {"event_at": SOON, "place": "Warsaw", "stock": 20},
        "donation": {"value": Decimal("5"), "charity": None},
        "partner": {},
    }[kind])
    values.update(fields)
    return values


def errors_of(call) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        call()
    return caught.value.message_dict


def refused(kind="amount", reward=None, **fields) -> dict[str, list[str]]:
    return errors_of(lambda: reward_save(reward=reward, data=data(kind, **fields), actor=None))


def voucher(reward, *, status="issued", points=100, **fields):
    member = fields.pop("member", None) or MemberFactory()
    if status == "used":
        fields.setdefault("used_at", timezone.now())
    return Voucher.objects.create(
        code=voucher_code_new(), reward=reward, member=member, status=status, origin="redemption", points=points,
        idempotency_key=voucher_code_new(), issued_via="portal", **fields,
    )


# -- what each kind needs ------------------------------------------------------------------


def test_every_kind_saves_with_what_it_needs():
    charity = CharityFactory(code="shelter")
    for kind in Reward.Kind.values:
        extra = {"charity": charity} if kind == "donation" else {}
        reward = reward_save(reward=None, data=data(kind, code=f"r-{kind}", **extra), actor=None)
        assert reward.pk and reward.kind == kind


@pytest.mark.parametrize(
    ("kind", "fields", "field", "message"),
    [
        ("amount", {"value": None}, "value", "Give the amount the discount takes off."),
        ("amount", {"value": Decimal("0")}, "value", "The discount must be above zero."),
        ("percent", {"value": None}, "value", "Give the discount in percent"),
        ("percent", {"value": Decimal("0")}, "value", "above 0 and at most 100"),
        ("percent", {"value": Decimal("100.01")}, "value", "above 0 and at most 100"),
        ("percent", {"max_discount": Decimal("0")}, "max_discount", "must be above zero, or empty"),
        ("product", {"sku": "  "}, "sku", "Give the SKU"),
        ("event", {"event_at": None}, "event_at", "Give the date and time the event starts."),
        ("event", {"place": ""}, "place", "Give the place of the event."),
        ("event", {"stock": None}, "stock", "An event has a capacity"),
        ("donation", {"charity": None}, "charity", "Choose the charity"),
        ("donation", {"value": None}, "value", "Give the amount each donation gives"),
    ],
)
def test_each_kind_refuses_what_it_lacks_naming_the_field(kind, fields, field, message):
    found = refused(kind, **fields)
    assert message in " ".join(found[field])
    assert not Reward.objects.exists()


def test_percent_of_exactly_100_with_a_cap_is_accepted():
    reward = reward_save(reward=None, data=data("percent", value=Decimal("100"), max_discount=Decimal("50")),
                         actor=None)
    assert reward.value == 100 and reward.max_discount == 50


def test_a_donation_to_a_charity_that_takes_no_donations_is_refused():
    closed = CharityFactory(code="closed", active=False)
    found = refused("donation", charity=closed)
    assert found["charity"] == [f"{closed.name} no longer takes donations; choose an active charity."]


def test_fields_of_other_kinds_are_emptied_and_a_partner_reward_stores_no_stock():
    reward = reward_save(reward=None, data=data("percent", max_discount=Decimal("20"), sku="X", stock=5), actor=None)
    reward = reward_save(reward=reward, data={"kind": "product", "sku": "CAP-M"}, actor=None)
    reward.refresh_from_db()
    assert (reward.value, reward.max_discount, reward.sku, reward.stock) == (None, None, "CAP-M", 5)
    partner = reward_save(reward=None, data=data("partner", code="cinema", stock=30, value=Decimal("3")),
                          actor=None)
    partner.refresh_from_db()
    assert partner.stock is None and partner.value is None


def test_all_problems_are_reported_at_once():
    found = refused(
        "event", event_at=None, place="", points_cost=0, available_from=SOON,
        available_until=SOON - dt.timedelta(days=1), code="Bad Code!", name_en="",
    )
    assert set(found) == {"event_at", "place", "points_cost", "available_until", "code", "name_en"}
    assert found["available_until"] == ["The end of the redeemable window must come after its start."]
    assert "at least 1 point" in found["points_cost"][0]


def test_a_reward_outside_the_catalog_may_cost_nothing():
    reward = reward_save(reward=None, data=data("product", points_cost=0, in_catalog=False), actor=None)
    assert reward.points_cost == 0


def test_an_archived_minimum_tier_is_refused_but_a_kept_one_is_not():
    gold = TierFactory(code="gold", name_en="Gold")
    old = TierFactory(code="old", name_en="Old", archived=True)
    assert refused(min_tier=old)["min_tier"] == ["Old is archived: choose a current tier, or none."]
    reward = reward_save(reward=None, data=data(min_tier=gold), actor=None)
    gold.archived = True
    gold.save()
    reward_save(reward=reward, data={"points_cost": 150}, actor=None)  # the tier it had stays allowed
    assert Reward.objects.get().points_cost == 150


def test_codes_are_unique_and_fixed_and_staff_page_words_are_reserved():
    reward = reward_save(reward=None, data=data(code="coffee"), actor=None)
    assert "already exists" in refused(code="coffee")["code"][0]
    assert "a word the staff pages use" in refused(code="new")["code"][0]
    assert "cannot change" in errors_of(lambda: reward_save(reward=reward, data={"code": "tea"}, actor=None))["code"][0]


def test_the_kind_cannot_change_once_vouchers_exist():
    reward = reward_save(reward=None, data=data(), actor=None)
    reward_save(reward=reward, data={"kind": "percent", "value": Decimal("10")}, actor=None)  # no vouchers yet
    voucher(reward)
    found = errors_of(lambda: reward_save(reward=reward, data={"kind": "amount"}, actor=None))
    assert "Vouchers were issued" in found["kind"][0]


# -- stock against concurrent redemptions --------------------------------------------------


def test_a_save_keeps_the_stock_that_redemptions_moved_meanwhile():
    reward = RewardFactory(stock=10)
    shown = Reward.objects.get(pk=reward.pk)  # the editor's copy, stock 10
    Reward.objects.filter(pk=reward.pk).update(stock=7)  # three redemptions meanwhile
    reward_save(reward=shown, data={"stock": 10, "points_cost": 200}, stock_seen=10, actor=None)
    reward.refresh_from_db()
    assert (reward.stock, reward.points_cost) == (7, 200)


def test_a_stock_changed_by_the_editor_is_refused_when_it_moved_meanwhile():
    reward = RewardFactory(stock=10)
    Reward.objects.filter(pk=reward.pk).update(stock=7)
    found = errors_of(lambda: reward_save(reward=reward, data={"stock": 50}, stock_seen=10, actor=None))
    assert found["stock"] == [
        "While you were editing, the stock moved from 10 to 7 (redemptions or cancellations). "
        "Check the stock and save again."
    ]
    reward_save(reward=reward, data={"stock": 50}, stock_seen=7, actor=None)
    reward.refresh_from_db()
    assert reward.stock == 50


# -- archive and restore -------------------------------------------------------------------


def test_archive_and_restore_change_the_status_alone():
    reward = RewardFactory(stock=10)
    stale = Reward.objects.get(pk=reward.pk)
    Reward.objects.filter(pk=reward.pk).update(stock=4)
    reward_archive(reward=stale, actor=None)
    reward.refresh_from_db()
    assert (reward.status, reward.stock) == ("archived", 4)
    reward_restore(reward=stale, actor=None)
    reward.refresh_from_db()
    assert (reward.status, reward.stock) == ("active", 4)


def test_a_donation_whose_charity_closed_cannot_be_restored():
    charity = CharityFactory(code="shelter")
    reward = reward_save(reward=None, data=data("donation", charity=charity), actor=None)
    reward_archive(reward=reward, actor=None)
    Charity.objects.filter(pk=charity.pk).update(active=False)
    found = errors_of(lambda: reward_restore(reward=reward, actor=None))
    assert "no longer takes donations" in found["charity"][0]
    assert Reward.objects.get().status == "archived"


# -- charities -----------------------------------------------------------------------------


def test_charity_save_keeps_its_totals_and_code():
    charity = charity_save(charity=None, data={"code": "shelter", "name_en": "Shelter", "name_pl": "Schronisko"},
                           actor=None)
    stale = Charity.objects.get(pk=charity.pk)
    Charity.objects.filter(pk=charity.pk).update(donations=3, donated_points=1500, donated_amount=Decimal("15"))
    charity_save(charity=stale, data={"name_en": "City Shelter"}, actor=None)
    stored = Charity.objects.get(pk=charity.pk)
    assert (stored.name_en, stored.donations, stored.donated_points) == ("City Shelter", 3, 1500)
    found = errors_of(lambda: charity_save(charity=stored, data={"code": "other"}, actor=None))
    assert "cannot change" in found["code"][0]


def test_a_charity_cannot_stop_taking_donations_while_an_active_reward_gives_to_it():
    charity = CharityFactory(code="shelter")
    reward = reward_save(reward=None, data=data("donation", code="give", charity=charity), actor=None)
    found = errors_of(lambda: charity_save(charity=charity, data={"active": False}, actor=None))
    assert found["active"] == ["Reward give still gives to this charity: archive it first."]
    reward_archive(reward=reward, actor=None)
    charity_save(charity=charity, data={"active": False}, actor=None)
    assert not Charity.objects.get().active


# -- images --------------------------------------------------------------------------------


def jpeg(width, height, *, exif=True, color=(200, 40, 40), orientation=None) -> io.BytesIO:
    image = Image.new("RGB", (width, height), color)
    out = io.BytesIO()
    info = Image.Exif()
    if exif:
        info[0x010F] = "CameraMaker"  # Make
        info[0x0110] = "Model X"  # Model
        info[0x8825] = {1: "N", 2: (52.0, 13.0, 0.0)}  # GPS
    if orientation:
        info[0x0112] = orientation
    image.save(out, format="JPEG", exif=info.tobytes(), comment=b"secret note")
    out.seek(0)
    out.name = "photo.jpg"
    return out


def opened(content: bytes) -> Image.Image:
    return Image.open(io.BytesIO(content))


def test_a_large_photo_is_shrunk_to_fit_and_loses_its_metadata():
    upload = jpeg(3000, 2000)
    assert Image.open(upload).getexif()  # the original carries camera and GPS data
    upload.seek(0)
    result = opened(reward_image_prepare(upload=upload))
    assert result.format == "JPEG" and result.mode == "RGB"
    assert result.size == (1200, 800)
    assert not result.getexif() and "exif" not in result.info and "comment" not in result.info
    assert "icc_profile" not in result.info


def test_the_exif_orientation_is_applied_before_it_is_dropped():
    result = opened(reward_image_prepare(upload=jpeg(3000, 2000, orientation=6)))  # rotated 90° on display
    assert result.size == (800, 1200)


def test_a_small_image_is_not_enlarged_and_transparency_lands_on_white():
    out = io.BytesIO()
    Image.new("RGBA", (300, 200), (0, 0, 0, 0)).save(out, format="PNG")
    out.seek(0)
    result = opened(reward_image_prepare(upload=out, name="logo.png"))
    assert result.size == (300, 200) and result.mode == "RGB"
    assert result.getpixel((10, 10)) == (255, 255, 255)


def test_a_file_that_is_not_an_image_is_refused_naming_the_field():
    with pytest.raises(RewardImageInvalid) as caught:
        reward_image_prepare(upload=io.BytesIO(b"%PDF-1.4 not an image"), name="menu.pdf")
    assert caught.value.field == "image"
    assert caught.value.message == (
        "Image: menu.pdf is not an image that can be read. Upload a JPEG, PNG, WebP or GIF file."
    )


def test_a_file_over_5_mb_is_refused_before_it_is_read():
    big = io.BytesIO(b"\xff\xd8" + b"0" * (5 * 1024 * 1024 + 10))
    with pytest.raises(RewardImageInvalid) as caught:
        reward_image_prepare(upload=big, name="huge.jpg")
    assert caught.value.message == "Image: huge.jpg is 5.0 MB; an image may be at most 5 MB."


def test_storing_an_image_replaces_and_deletes_the_old_file(settings, tmp_path, django_capture_on_commit_callbacks):
    settings.MEDIA_ROOT = tmp_path
    reward = RewardFactory(code="coffee")
    with django_capture_on_commit_callbacks(execute=True):
        reward_image_store(reward=reward, upload=jpeg(3000, 2000))
    first = Reward.objects.get().image.name
    assert first.startswith("rewards/coffee-") and first.endswith(".jpg")
    assert (tmp_path / first).exists()
    assert Image.open(tmp_path / first).size == (1200, 800)
    with django_capture_on_commit_callbacks(execute=True):
        reward_image_store(reward=reward, upload=jpeg(600, 600, color=(0, 0, 255)))
    second = Reward.objects.get().image.name
    assert second != first and (tmp_path / second).exists()
    assert not (tmp_path / first).exists()
    with django_capture_on_commit_callbacks(execute=True):
        reward_image_remove(reward=Reward.objects.get())
    assert Reward.objects.get().image.name == "" and not (tmp_path / second).exists()


def test_a_refused_image_changes_nothing(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    reward = RewardFactory(code="coffee")
    with pytest.raises(RewardImageInvalid):
        reward_image_store(reward=reward, upload=io.BytesIO(b"GIF89a broken"))
    assert Reward.objects.get().image.name == "" and not list(tmp_path.rglob("*.jpg"))


# -- partner codes -------------------------------------------------------------------------


@pytest.fixture
def cinema():
    return RewardFactory(code="cinema", kind="partner", value=None)


def csv_file(text: str, *, bom: bool = False) -> io.BytesIO:
    return io.BytesIO(("\ufeff" if bom else "").encode() + text.encode("utf-8"))


def import_errors(reward, text: str) -> list[tuple[int, str]]:
    with pytest.raises(PartnerCodesFileInvalid) as caught:
        partner_codes_import(reward=reward, file=csv_file(text))
    return caught.value.errors


def test_partner_codes_are_imported_with_a_bom_and_blank_lines(cinema):
    result = partner_codes_import(reward=cinema, file=csv_file("Code\r\nA1\r\n\r\n  B2  \r\nc3\r\n", bom=True))
    assert (result.added, result.skipped, result.free, result.used) == (3, 0, 3, 0)
    assert sorted(PartnerCode.objects.values_list("code", flat=True)) == ["A1", "B2", "c3"]


def test_reimporting_the_same_file_adds_nothing_and_a_longer_one_adds_the_new_codes(cinema):
    partner_codes_import(reward=cinema, file=csv_file("code\nA1\nB2\n"))
    again = partner_codes_import(reward=cinema, file=csv_file("code\nA1\nB2\n"))
    assert (again.added, again.skipped, again.free) == (0, 2, 2)
    more = partner_codes_import(reward=cinema, file=csv_file("code\nA1\nB2\nC3\n"))
    assert (more.added, more.skipped, more.free) == (1, 2, 3)
    assert PartnerCode.objects.count() == 3


def test_each_bad_line_is_reported_with_its_number_and_nothing_is_imported(cinema):
    PartnerCode.objects.create(reward=cinema, code="OLD")
    errors = import_errors(cinema, "code\nA1\n\nB2,extra\nA1\n \n" + "X" * 129 + "\nOLD\n")
    assert errors == [
        (4, "2 cells where the header has 1."),
        (5, "The code A1 is already on line 2."),
        (7, "The code is longer than 128 characters."),
    ]
    assert list(PartnerCode.objects.values_list("code", flat=True)) == ["OLD"]


def test_unknown_columns_and_a_missing_header_are_errors_on_line_1(cinema):
    assert import_errors(cinema, "code,value\nA1,1\n") == [
        (1, "Unknown column(s) value: the file has one column, code."),
    ]
    assert import_errors(cinema, "voucher\nA1\n") == [
        (1, "Unknown column(s) voucher: the file has one column, code."),
        (1, "The header has no column code."),
    ]
    assert import_errors(cinema, "") == [(1, "The file is empty: the first line must be the header, code.")]
    assert import_errors(cinema, "code\n\n") == [(0, "The file has no codes: after the header, one code per line.")]


def test_a_file_that_is_not_utf8_is_refused(cinema):
    with pytest.raises(PartnerCodesFileInvalid) as caught:
        partner_codes_import(reward=cinema, file=io.BytesIO("code\nZNIŻKA\n".encode("cp1250")))
    assert "not UTF-8" in caught.value.errors[0][1]
    assert caught.value.message == "The file has 1 error; no code was imported."


def test_only_partner_rewards_have_a_pool():
    with pytest.raises(NotAPartnerReward):
        partner_codes_import(reward=RewardFactory(code="coffee"), file=csv_file("code\nA1\n"))


def test_used_codes_are_counted_apart_from_free_ones(cinema):
    partner_codes_import(reward=cinema, file=csv_file("code\nA1\nB2\n"))
    PartnerCode.objects.filter(code="A1").update(voucher=voucher(cinema))
    result = partner_codes_import(reward=cinema, file=csv_file("code\nA1\nC3\n"))
    assert (result.added, result.skipped, result.free, result.used) == (1, 1, 2, 1)
