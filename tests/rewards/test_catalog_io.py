"""The catalog in the program file: the ``charities`` and ``rewards`` sections
that ``rewards`` registers with ``loyalty``'s program file."""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import re
import zoneinfo
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from loyalty.services import program_io
from loyalty.services.program_io import ProgramFileInvalid, program_export, program_import
from rewards.models import Charity, PartnerCode, Reward
from rewards.services.partner_codes import partner_codes_import
from tests.factories import MemberFactory, ProgramFactory, StoreFactory, TierFactory
from tests.rewards.test_catalog import voucher

pytestmark = pytest.mark.django_db

WARSAW = zoneinfo.ZoneInfo("Europe/Warsaw")


@pytest.fixture
def catalog():
    """A program with two tiers, two charities and a reward of each kind (one archived)."""
    ProgramFactory(timezone="Europe/Warsaw")
    StoreFactory(code="WAW-01")
    TierFactory(code="silver", rank=1)
    gold = TierFactory(code="gold", rank=2, threshold=Decimal("1000"))
    shelter = Charity.objects.create(code="shelter", name_en="Shelter", name_pl="Schronisko")
    Charity.objects.create(code="old-fund", name_en="Old fund", active=False)
    Reward.objects.create(code="discount-10", kind="amount", name_en="10 off", points_cost=1000,
                          value=Decimal("10.00"), member_limit=2, member_limit_period="month")
    Reward.objects.create(
        code="cakes-15", kind="percent", name_en="15% off cakes", name_pl="15% na torty", description_en="Whole",
        points_cost=1500, value=Decimal("15"), max_discount=Decimal("30"), min_tier=gold,
        available_from=dt.datetime(2026, 3, 1, tzinfo=WARSAW), available_until=dt.datetime(2026, 7, 1, tzinfo=WARSAW),
    )
    Reward.objects.create(code="cappuccino", kind="product", name_en="Cappuccino", points_cost=1300, sku="CAP-M",
                          stock=40, voucher_valid_days=14)
    Reward.objects.create(code="cupping", kind="event", name_en="Cupping", points_cost=3000, stock=12,
                          event_at=dt.datetime(2026, 6, 5, 18, 0, tzinfo=WARSAW), place="Warsaw")
    Reward.objects.create(code="donate", kind="donation", name_en="Donate", points_cost=500, value=Decimal("5"),
                          charity=shelter, voucher_valid_days=None)
    cinema = Reward.objects.create(code="cinema", kind="partner", name_en="Cinema", points_cost=4000)
    Reward.objects.create(code="birthday", kind="product", name_en="Cake slice", points_cost=0, in_catalog=False,
                          sku="CAKE", status="archived")
    partner_codes_import(reward=cinema, file=io.BytesIO(b"code\nK1\nK2\n"))


def errors_of(data) -> dict[str, list[str]]:
    with pytest.raises(ProgramFileInvalid) as raised:
        program_import(data=data)
    found: dict[str, list[str]] = {}
    for error in raised.value.errors:
        found.setdefault(error.path, []).append(error.message)
    return found


def stamps():
    return {
        "rewards": sorted(Reward.objects.values_list("pk", "updated_at", "stock", "status")),
        "charities": sorted(Charity.objects.values_list("pk", "name_en", "active")),
    }


def by_code(data, section="rewards"):
    return {item["code"]: item for item in data[section]}


def index_of(data, code, section="rewards"):
    return [item["code"] for item in data[section]].index(code)


def test_the_sections_are_registered_by_rewards_and_exported_after_the_built_in_ones(catalog):
    assert [section.name for section in program_io.program_sections()] == ["charities", "rewards"]
    data = program_export()
    assert list(data)[-2:] == ["charities", "rewards"]


def test_export_writes_charities_and_rewards_without_images_codes_or_totals(catalog):
    data = program_export()
    assert data["charities"] == [
        {"code": "old-fund", "name": {"en": "Old fund", "pl": "", "ro": ""}, "active": False},
        {"code": "shelter", "name": {"en": "Shelter", "pl": "Schronisko", "ro": ""}, "active": True},
    ]
    rewards = by_code(data)
    assert list(rewards) == sorted(rewards)
    assert rewards["cakes-15"] == {
        "code": "cakes-15", "kind": "percent",
        "name": {"en": "15% off cakes", "pl": "15% na torty", "ro": ""},
        "description": {"en": "Whole", "pl": "", "ro": ""},
        "archived": False, "in_catalog": True, "points_cost": 1500, "value": "15.00", "max_discount": "30.00",
        "sku": "", "event_at": None, "place": "", "charity": None, "min_tier": "gold", "stock": None,
        "member_limit": None, "member_limit_period": "ever",
        "available_from": "2026-03-01T00:00:00+01:00", "available_until": "2026-07-01T00:00:00+02:00",
        "voucher_valid_days": 30,
    }
    assert rewards["cupping"]["event_at"] == "2026-06-05T18:00:00+02:00" and rewards["cupping"]["stock"] == 12
    assert rewards["donate"]["charity"] == "shelter"
    assert rewards["birthday"]["archived"] is True
    assert rewards["cinema"]["stock"] is None
    assert "image" not in rewards["cinema"] and "codes" not in rewards["cinema"]


def test_reimporting_the_export_changes_nothing(catalog):
    data = program_export()
    before = stamps()
    result = program_import(data=copy.deepcopy(data))
    assert not result.changed, result.changes
    assert stamps() == before
    assert program_export() == data


def test_an_export_imported_into_an_empty_catalog_gives_the_same_file(catalog, tmp_path):
    data = program_export()
    PartnerCode.objects.all().delete()
    Reward.objects.all().delete()
    Charity.objects.all().delete()
    path = tmp_path / "program.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    out = io.StringIO()
    call_command("import_program", str(path), stdout=out)
    assert "charity shelter created" in out.getvalue() and "reward cupping created" in out.getvalue()
    assert program_export() == data
    assert Reward.objects.get(code="cupping").stock == 12  # a created reward takes the file's stock
    again = io.StringIO()
    call_command("import_program", str(path), stdout=again)
    assert "No changes" in again.getvalue()


def test_rewards_and_charities_left_out_are_archived_and_switched_off_not_deleted(catalog):
    data = program_export()
    data["rewards"] = [item for item in data["rewards"] if item["code"] not in ("cappuccino", "donate")]
    data["charities"] = [item for item in data["charities"] if item["code"] != "shelter"]
    result = program_import(data=data)
    assert "reward cappuccino: archived (not in the file)" in result.changes
    assert "reward donate: archived (not in the file)" in result.changes
    assert "charity shelter: takes no donations (not in the file)" in result.changes
    assert Reward.objects.get(code="cappuccino").status == "archived"
    assert Charity.objects.get(code="shelter").active is False
    assert Reward.objects.count() == 7 and Charity.objects.count() == 2
    assert not program_import(data=data).changed


def test_a_file_without_the_sections_leaves_the_catalog_alone(catalog):
    data = program_export()
    del data["rewards"], data["charities"]
    before = stamps()
    assert not program_import(data=data).changed
    assert stamps() == before


def test_changes_are_listed_and_written_in_one_go(catalog):
    data = program_export()
    rewards = by_code(data)
    rewards["discount-10"]["points_cost"] = 900
    rewards["discount-10"]["name"]["ro"] = "10 lei reducere"
    rewards["birthday"]["archived"] = False
    data["charities"].append({"code": "forest", "name": {"en": "Forest fund"}, "active": True})
    data["rewards"].append({
        "code": "plant-tree", "kind": "donation", "name": {"en": "Plant a tree"}, "points_cost": 800,
        "value": "8.00", "charity": "forest", "min_tier": "silver",
    })
    result = program_import(data=data)
    assert "reward discount-10: name.ro \"\" -> 10 lei reducere, points_cost 1000 -> 900" in result.changes
    assert "reward birthday: archived true -> false" in result.changes
    assert "charity forest created" in result.changes and "reward plant-tree created" in result.changes
    tree = Reward.objects.select_related("charity", "min_tier").get(code="plant-tree")
    assert (tree.charity.code, tree.min_tier.code, tree.value, tree.voucher_valid_days) == (
        "forest", "silver", Decimal("8.00"), 30,
    )
    assert Reward.objects.get(code="birthday").status == "active"


def test_the_file_does_not_put_back_stock_that_redemptions_took(catalog):
    data = program_export()  # cappuccino: stock 40
    Reward.objects.filter(code="cappuccino").update(stock=31)
    by_code(data)["cappuccino"]["stock"] = 40
    assert not program_import(data=data).changed
    assert Reward.objects.get(code="cappuccino").stock == 31


def test_a_reward_may_name_a_tier_the_same_file_creates(catalog):
    data = program_export()
    data["tiers"].append({"code": "platinum", "name": {"en": "Platinum"}, "rank": 3, "threshold": "5000.00"})
    by_code(data)["cupping"]["min_tier"] = "platinum"
    program_import(data=data)
    assert Reward.objects.get(code="cupping").min_tier.code == "platinum"


def test_every_error_is_reported_with_its_path_and_nothing_is_written(catalog):
    data = program_export()
    rewards = by_code(data)
    rewards["discount-10"]["max_discount"] = "5.00"  # only percent rewards have a cap
    rewards["discount-10"]["colour"] = "red"
    rewards["cakes-15"]["value"] = "150"
    rewards["cakes-15"]["available_until"] = "2026-02-01T00:00:00+01:00"
    rewards["cupping"]["place"] = ""
    rewards["cupping"]["event_at"] = "2026-06-05T18:00"  # no offset
    rewards["donate"]["charity"] = "nobody"
    rewards["cinema"]["stock"] = 10
    rewards["cappuccino"]["min_tier"] = "diamond"
    rewards["cappuccino"]["points_cost"] = 0
    rewards["birthday"]["kind"] = "gift"
    data["rewards"].append({"code": "new", "kind": "amount", "name": {"en": "X"}, "points_cost": 1, "value": "1"})
    data["rewards"].append({"code": "cinema", "kind": "partner", "name": {"en": "Again"}, "points_cost": 1})
    data["rewards"].append({"code": "Bad Code", "kind": "amount", "name": {"xx": "?"}, "points_cost": "ten"})
    data["charities"].append({"code": "shelter", "name": {"en": "Twice"}})
    before = stamps()
    found = errors_of(data)
    at = {code: f"rewards[{index_of(data, code)}]" for code in rewards}
    last = len(data["rewards"]) - 1
    assert found[f"{at['discount-10']}.max_discount"] == [
        "a amount reward does not use max_discount (only percent do): make it null"
    ]
    assert found[f"{at['discount-10']}.colour"] == ["unknown key"]
    assert found[f"{at['cakes-15']}.value"] == ["A percent discount must be above 0 and at most 100."]
    assert found[f"{at['cakes-15']}.available_until"] == [
        "The end of the redeemable window must come after its start."
    ]
    assert found[f"{at['cupping']}.place"] == ["Give the place of the event."]
    assert "with its offset" in found[f"{at['cupping']}.event_at"][0]
    assert found[f"{at['donate']}.charity"] == ["no charity has the code nobody"]
    assert found[f"{at['cinema']}.stock"] == [
        "a partner reward does not use stock (only amount, donation, event, percent, product do): make it null"
    ]
    assert found[f"{at['cappuccino']}.min_tier"] == ["no tier has the code diamond"]
    assert "at least 1 point" in found[f"{at['cappuccino']}.points_cost"][0]
    assert found[f"{at['birthday']}.kind"][0].startswith("unknown kind (use amount, percent, product")
    assert found[f"rewards[{last - 2}].code"] == ["new is a word the staff pages use; choose another code."]
    assert found[f"rewards[{last - 1}].code"] == [f"cinema is already used by rewards[{at['cinema'][8:-1]}]"]
    assert found[f"rewards[{last}].name.xx"] == ["unknown language (use en, pl, ro)"]
    assert found[f"rewards[{last}].points_cost"] == ["must be a whole number, 0 or more"]
    assert f"rewards[{last}].code" in found
    assert found[f"charities[{len(data['charities']) - 1}].code"] == ["shelter is already used by charities[1]"]
    assert stamps() == before


def test_a_charity_cannot_be_switched_off_while_a_reward_of_the_file_gives_to_it(catalog):
    data = program_export()
    by_code(data, "charities")["shelter"]["active"] = False
    found = errors_of(data)
    assert found[f"rewards[{index_of(data, 'donate')}].charity"] == [
        "Shelter no longer takes donations; choose an active charity."
    ]
    by_code(data)["donate"]["archived"] = True  # archived with it: allowed
    program_import(data=data)
    assert not Charity.objects.get(code="shelter").active


def test_the_kind_of_a_reward_with_vouchers_cannot_change_in_the_file(catalog):
    voucher(Reward.objects.get(code="cappuccino"), member=MemberFactory())
    data = program_export()
    item = by_code(data)["cappuccino"]
    item.update(kind="amount", value="5.00", sku="")
    found = errors_of(data)
    assert "Vouchers were issued" in found[f"rewards[{index_of(data, 'cappuccino')}].kind"][0]


@pytest.mark.parametrize("section", ["rewards", "charities"])
def test_a_section_that_is_not_a_list_is_refused(catalog, section):
    data = program_export()
    data[section] = {"oops": 1}
    assert list(errors_of(data)) == [section]


def test_loyalty_code_never_imports_rewards():
    """The seam works the other way round: rewards registers with loyalty. Only
    the faces (views, urls, management commands) may import rewards."""
    root = Path(settings.BASE_DIR) / "loyalty"
    faces = ("views", "urls", "management")
    offenders = []
    for path in root.rglob("*.py"):
        relative = path.relative_to(root)
        if relative.parts[0] in faces or "migrations" in relative.parts:
            continue
        if re.search(r"^\s*(from|import)\s+rewards\b", path.read_text(encoding="utf-8"), re.MULTILINE):
            offenders.append(str(relative))
    assert offenders == []
