"""The program file with tiers, earning rules and action bonuses: export_program / import_program."""

import copy
import datetime as dt
import io
import json
import zoneinfo
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from analytics.models import Segment
from loyalty.models import ActionBonus, EarnRule, MemberTier, Program, Store, Tier
from loyalty.services import program_io
from loyalty.services.bonuses import action_bonuses_get
from loyalty.services.program_io import ProgramFileInvalid, program_export, program_import, rule_keys
from loyalty.services.rules import active_rules, rules_cache_clear
from loyalty.services.tiers import tier_table, tiers_cache_clear
from tests.factories import MemberFactory, ProgramFactory, StoreFactory

pytestmark = pytest.mark.django_db

WARSAW = zoneinfo.ZoneInfo("Europe/Warsaw")


def tier(code, rank, threshold, **fields):
    values = {
        "code": code, "name_en": code.title(), "rank": rank,
        "threshold": None if threshold is None else Decimal(threshold), **fields,
    }
    return Tier.objects.create(**values)


def rule(name, kind="fixed", value="10", *, stores=(), tiers=(), **fields):
    created = EarnRule.objects.create(name=name, kind=kind, value=Decimal(value), **fields)
    created.stores.set(stores)
    created.tiers.set(tiers)
    return created


@pytest.fixture
def configured():
    """A program with stores, four tiers (one paid, one archived), a rule of each kind and two bonuses."""
    ProgramFactory(tier_metric="spend", tier_window_months=12, tier_grace_days=30)
    waw = StoreFactory(code="WAW-01", name="Warsaw")
    krk = StoreFactory(code="KRK-01", name="Kraków")
    silver = tier("silver", 1, "300", name_pl="Srebrny", benefits_en="Free refill\nBirthday cake",
                  benefits_pl="Darmowa dolewka", multiplier=Decimal("1.1"))
    gold = tier("gold", 2, "800", name_pl="Złoty", name_ro="Aur", multiplier=Decimal("1.25"))
    tier("old", 3, "5000", archived=True)
    tier("vip", 10, None, is_paid=True, fee=Decimal("199.00"), period_months=12, multiplier=Decimal("1.5"))
    rule("Double points weekend", "multiplier", "2", weekdays=[6, 5], priority=5)
    rule("3x on coffee beans", "multiplier", "3", categories=["coffee-beans"], mode="best_of_group", group="beans")
    rule("+50 on first purchase", "fixed", "50", first_purchase_only=True, tiers=[silver, gold])
    rule("Coffee stamp card", "stamps", "1200", stamps_needed=9, categories=["coffee"], skus=["ESP", "CAP"])
    for pk in (2, 4):  # saved segments the rule names (an import refuses ids of no segment)
        Segment.objects.create(pk=pk, name=f"Segment {pk}")
    rule(
        "Kraków mornings", "percent", "10", stores=[krk, waw], segments=[4, 2],
        starts_at=dt.datetime(2026, 3, 1, 0, 0, tzinfo=WARSAW), ends_at=dt.datetime(2026, 4, 1, tzinfo=WARSAW),
        hours_start=dt.time(7, 0), hours_end=dt.time(9, 30), min_spend=Decimal("20"), birthday_week=True,
        member_cap=500, member_cap_period="month", budget=100_000, status="paused", mode="exclusive",
    )
    rule("Bags", "per_unit", "10.5", skus=["BAG-250"])
    ActionBonus.objects.create(kind="signup", points=100)
    ActionBonus.objects.create(kind="review", points=30, active=False)
    rules_cache_clear()
    tiers_cache_clear()


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def write(tmp_path, data) -> str:
    path = tmp_path / "program.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return str(path)


def wipe():
    for model in (EarnRule, ActionBonus, MemberTier, Tier, Store, Program):
        model.objects.all().delete()


def errors_of(data) -> dict[str, list[str]]:
    with pytest.raises(ProgramFileInvalid) as raised:
        program_import(data=data)
    found: dict[str, list[str]] = {}
    for error in raised.value.errors:
        found.setdefault(error.path, []).append(error.message)
    return found


def stamps():
    """Every row's updated_at: what a no-op import must leave alone."""
    return {
        model.__name__: sorted(model.objects.values_list("pk", "updated_at"))
        for model in (Program, Tier, EarnRule, ActionBonus)
    }


# -- export -------------------------------------------------------------------------


def test_export_writes_tiers_rules_bonuses_and_tier_settings(configured):
    data = json.loads(run("export_program")[0])
    assert (data["tier_metric"], data["tier_window_months"], data["tier_grace_days"]) == ("spend", 12, 30)
    assert [item["code"] for item in data["tiers"]] == ["silver", "gold", "old", "vip"]  # by rank
    silver, gold, old, vip = data["tiers"]
    assert silver == {
        "code": "silver", "name": {"en": "Silver", "pl": "Srebrny", "ro": ""},
        "benefits": {"en": ["Free refill", "Birthday cake"], "pl": ["Darmowa dolewka"], "ro": []},
        "rank": 1, "threshold": "300.00", "multiplier": "1.10", "is_paid": False, "fee": None,
        "period_months": None, "archived": False,
    }
    assert old["archived"] is True and gold["name"]["ro"] == "Aur"
    assert (vip["is_paid"], vip["threshold"], vip["fee"], vip["period_months"]) == (True, None, "199.00", 12)
    rules = {item["key"]: item for item in data["rules"]}
    assert [item["key"] for item in data["rules"]] == [
        "Double points weekend", "3x on coffee beans", "+50 on first purchase", "Coffee stamp card",
        "Kraków mornings", "Bags",
    ]  # in the order they were created
    assert rules["Double points weekend"]["weekdays"] == [5, 6]
    assert rules["+50 on first purchase"]["tiers"] == ["gold", "silver"]
    card = rules["Coffee stamp card"]
    assert (card["kind"], card["value"], card["stamps_needed"]) == ("stamps", "1200.00", 9)
    assert card["skus"] == ["CAP", "ESP"]
    mornings = rules["Kraków mornings"]
    assert mornings == {
        "key": "Kraków mornings", "name": "Kraków mornings", "status": "paused", "kind": "percent",
        "value": "10.00", "stamps_needed": None,
        "starts_at": "2026-03-01T00:00:00+01:00", "ends_at": "2026-04-01T00:00:00+02:00",  # Warsaw, with DST
        "weekdays": [], "hours_start": "07:00", "hours_end": "09:30", "stores": ["KRK-01", "WAW-01"],
        "tiers": [], "segments": [2, 4], "categories": [], "skus": [], "min_spend": "20.00",
        "first_purchase_only": False, "birthday_week": True, "priority": 0, "mode": "exclusive", "group": "",
        "member_cap": 500, "member_cap_period": "month", "budget": 100000,
    }
    assert rules["Bags"]["value"] == "10.50"
    assert data["bonuses"] == [
        {"kind": "review", "points": 30, "active": False}, {"kind": "signup", "points": 100, "active": True},
    ]


def test_export_reads_a_fixed_number_of_queries(configured, django_assert_max_num_queries):
    for index in range(20):
        rule(f"Extra {index}", stores=Store.objects.all(), tiers=Tier.objects.all())
    # One more query for each section other apps register (rewards: charities, rewards).
    with django_assert_max_num_queries(7 + len(program_io.program_sections())):
        data = program_export()
    assert len(data["rules"]) == 26


# -- round trip and no-op -----------------------------------------------------------


def test_export_import_into_an_empty_program_export_gives_the_same_file(configured, tmp_path):
    exported, _err = run("export_program")
    wipe()
    out, _err = run("import_program", write(tmp_path, json.loads(exported)))
    assert "program created" in out and "tier vip created" in out and 'rule "Bags" created' in out
    assert "bonus signup created" in out
    assert run("export_program")[0] == exported
    assert EarnRule.objects.get(name="+50 on first purchase").tiers.count() == 2


def test_reapplying_the_same_file_writes_nothing_and_keeps_the_caches(configured, tmp_path, django_assert_num_queries):
    path = write(tmp_path, program_export())
    before = stamps()
    active_rules(), tier_table(), action_bonuses_get()  # warm the caches
    out, _err = run("import_program", path)
    assert "No changes" in out
    assert stamps() == before
    with django_assert_num_queries(0):  # nothing was cleared: no reload
        active_rules(), tier_table(), action_bonuses_get()


def test_a_file_written_before_tiers_leaves_tiers_rules_and_bonuses_alone(configured):
    data = program_export()
    for key in ("tiers", "rules", "bonuses", "tier_metric", "tier_window_months", "tier_grace_days"):
        del data[key]
    data["name"] = "Renamed"
    before = stamps()
    result = program_import(data=data)
    assert result.changes == ["program: name Coffee Club -> Renamed"]
    after = stamps()
    assert {key: after[key] for key in ("Tier", "EarnRule", "ActionBonus")} == {
        key: before[key] for key in ("Tier", "EarnRule", "ActionBonus")
    }
    assert Program.objects.get().tier_grace_days == 30


# -- applying changes ------------------------------------------------------------------


def test_changes_are_applied_listed_and_clear_the_caches_at_commit(
    configured, django_capture_on_commit_callbacks
):
    data = program_export()
    data["tier_grace_days"] = 14
    data["tiers"][1]["threshold"] = "900"
    data["tiers"][1]["name"]["pl"] = "Złoty+"
    data["tiers"][0]["benefits"]["ro"] = ["Reumplere gratuită"]
    data["rules"][0]["value"] = "3"
    data["rules"][0]["tiers"] = ["vip"]
    data["bonuses"][1]["points"] = 150
    data["bonuses"].append({"kind": "birthday", "points": 200})
    assert active_rules().by_id  # warm
    with django_capture_on_commit_callbacks(execute=True):
        result = program_import(data=data)
    assert result.applied
    assert result.changes == [
        "program: tier_grace_days 30 -> 14",
        "tier silver: benefits.ro [] -> [\"Reumplere gratuită\"]",
        "tier gold: name.pl Złoty -> Złoty+, threshold 800.00 -> 900.00",
        'rule "Double points weekend": value 2.00 -> 3.00, tiers [] -> ["vip"]',
        "bonus signup: points 100 -> 150",
        "bonus birthday created",
    ]
    gold = Tier.objects.get(code="gold")
    assert (gold.threshold, gold.name_pl) == (Decimal("900"), "Złoty+")
    assert Tier.objects.get(code="silver").benefits_ro == "Reumplere gratuită"
    weekend = EarnRule.objects.get(name="Double points weekend")
    assert active_rules().by_id[weekend.pk].value == Decimal("3")  # the cache was cleared
    assert [tier.threshold for tier in tier_table().tiers if tier.code == "gold"] == [Decimal("900")]
    assert action_bonuses_get()["signup"].points == 150
    assert program_import(data=data).changes == []


def test_what_the_file_no_longer_lists_is_archived_or_switched_off_never_deleted(configured):
    data = program_export()
    data["tiers"] = [item for item in data["tiers"] if item["code"] != "gold"]
    data["rules"] = [item for item in data["rules"] if item["key"] != "Bags"]
    data["rules"][2]["tiers"] = ["silver"]  # gold is going
    data["bonuses"] = []
    result = program_import(data=data)
    assert result.changes == [
        "tier gold: archived (not in the file)",
        'rule "+50 on first purchase": tiers ["gold", "silver"] -> ["silver"]',
        'rule "Bags" archived (not in the file)',
        "bonus signup switched off (not in the file)",
    ]
    assert Tier.objects.get(code="gold").archived
    assert EarnRule.objects.get(name="Bags").status == "archived"
    assert ActionBonus.objects.get(kind="signup").active is False
    assert (Tier.objects.count(), EarnRule.objects.count(), ActionBonus.objects.count()) == (4, 6, 2)
    before = stamps()
    assert program_import(data=data).changes == []  # archived stays archived: a no-op
    assert stamps() == before


def test_a_rule_is_renamed_by_editing_its_name_and_keeping_its_key(configured):
    data = program_export()
    pk = EarnRule.objects.get(name="Bags").pk
    data["rules"][5]["name"] = "Bags of beans"
    result = program_import(data=data)
    assert result.changes == ['rule "Bags": name Bags -> Bags of beans']
    assert EarnRule.objects.get(pk=pk).name == "Bags of beans"
    assert program_import(data=data).changes == []  # found by its new name: applying again is a no-op
    assert program_export()["rules"][5]["key"] == "Bags of beans"


def test_rules_sharing_a_name_get_numbered_keys_that_import_matches(configured, tmp_path):
    EarnRule.objects.filter(name="Bags").update(status="archived")
    rule("Bags", "per_unit", "20", skus=["BAG-1KG"])
    exported = program_export()
    assert [item["key"] for item in exported["rules"]][5:] == ["Bags #1", "Bags #2"]
    assert [item["name"] for item in exported["rules"]][5:] == ["Bags", "Bags"]
    assert program_import(data=copy.deepcopy(exported)).changes == []
    text = run("export_program")[0]
    wipe()
    run("import_program", write(tmp_path, json.loads(text)))
    assert run("export_program")[0] == text


def test_rule_keys_number_shared_names_in_creation_order_around_taken_keys():
    assert rule_keys([(3, "A"), (1, "A"), (2, "A #1"), (4, "B")]) == {1: "A #2", 3: "A #3", 2: "A #1", 4: "B"}


def test_a_rename_that_would_make_two_rules_share_a_name_is_refused(configured):
    data = program_export()
    data["rules"][5]["name"] = "Double points weekend"
    found = errors_of(data)
    assert list(found) == ["rules[5].name"]
    assert "another rule would also be named" in found["rules[5].name"][0]


def test_tier_ranks_can_be_swapped_and_an_unlisted_tier_gives_up_its_rank(configured):
    data = program_export()
    silver, gold, _old, vip = data["tiers"]
    silver["rank"], silver["threshold"] = 2, "800"
    gold["rank"], gold["threshold"] = 1, "300"
    vip["rank"] = 3  # the archived "old" tier's rank: old is not listed any more
    data["tiers"] = [silver, gold, vip]
    result = program_import(data=data)
    assert "tier old: rank 3 -> 11 (its rank is now another tier's)" in result.changes
    assert dict(Tier.objects.values_list("code", "rank")) == {"silver": 2, "gold": 1, "vip": 3, "old": 11}
    assert program_import(data=data).changes == []


def test_a_new_tier_may_take_the_rank_an_existing_tier_leaves(configured):
    data = program_export()
    data["tiers"][3]["rank"] = 4
    data["tiers"].append({"code": "diamond", "name": {"en": "Diamond"}, "rank": 10, "threshold": "9000"})
    program_import(data=data)
    assert dict(Tier.objects.values_list("code", "rank"))["diamond"] == 10
    assert Tier.objects.get(code="diamond").name_pl is None  # falls back to English


def test_import_is_atomic_when_a_write_fails(configured, monkeypatch):
    data = program_export()
    data["tiers"][0]["threshold"] = "350"
    data["rules"][0]["value"] = "4"

    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(program_io.rules, "rule_save", broken)
    with pytest.raises(RuntimeError):
        program_import(data=data)
    assert Tier.objects.get(code="silver").threshold == Decimal("300")


def test_dry_run_lists_the_changes_and_writes_nothing(configured, tmp_path):
    data = program_export()
    data["rules"][1]["status"] = "paused"
    before = stamps()
    out, _err = run("import_program", write(tmp_path, data), "--dry-run")
    assert 'rule "3x on coffee beans": status active -> paused' in out and "Dry run" in out
    assert stamps() == before


# -- validation -------------------------------------------------------------------------


def test_the_end_before_the_start_is_named_by_its_path(configured, tmp_path):
    data = program_export()
    data["rules"][2]["starts_at"] = "2026-05-02T00:00:00+02:00"
    data["rules"][2]["ends_at"] = "2026-05-01T00:00:00+02:00"
    err = io.StringIO()
    with pytest.raises(CommandError, match="nothing was changed"):
        call_command("import_program", write(tmp_path, data), stdout=io.StringIO(), stderr=err)
    assert err.getvalue().splitlines() == ["rules[2].ends_at: The end must come after the start."]


def test_bad_rules_are_all_reported_with_their_paths_and_nothing_is_written(configured):
    data = program_export()
    rules = data["rules"]
    rules[0].update(weekdays=[7], hours_start="25:00", kind="lottery", colour="red")
    rules[1].update(value="0.5", stores=["WAW-01", "NOPE"], tiers=["bronze"])  # a multiplier below 1
    rules[2].update(starts_at="2026-05-01T00:00:00", value="abc")  # no offset
    rules[3].update(stamps_needed=None, segments=[0], categories="coffee")
    rules[4].update(mode="best_of_group", group="", member_cap=0, min_spend=5)
    rules[5]["key"] = rules[0]["key"]
    rules.append({"name": "No key", "kind": "fixed"})
    rules.append("Bags")
    before = stamps()
    found = errors_of(data)
    assert set(found) == {
        "rules[0].weekdays", "rules[0].hours_start", "rules[0].kind", "rules[0].colour",
        "rules[1].value", "rules[1].stores", "rules[1].tiers",
        "rules[2].starts_at", "rules[2].value",
        "rules[3].stamps_needed", "rules[3].segments", "rules[3].categories",
        "rules[4].group", "rules[4].member_cap",
        "rules[5].key",
        "rules[6].key", "rules[6].value",
        "rules[7]",
    }
    assert found["rules[1].value"] == ["A multiplier below 1 would take points away."]
    assert found["rules[1].stores"] == ["no store with the code NOPE"]
    assert "offset" in found["rules[2].starts_at"][0]
    assert found["rules[5].key"] == ["Double points weekend is already used by rules[0]"]
    assert stamps() == before


def test_tiers_are_checked_as_a_whole(configured):
    data = program_export()
    _silver, gold, old, vip = data["tiers"]
    gold["threshold"] = "300"  # not above silver
    old.update(rank=1)  # silver's
    vip.update(threshold="100", fee=None, period_months=None)
    data["tiers"].append({"code": "gold", "name": {"en": "Gold again"}, "rank": 20, "threshold": "1"})
    data["tiers"].append({"code": "bad code", "name": {"en": "", "de": "X"}, "rank": 21, "threshold": "99999",
                          "fee": "10", "multiplier": "0.5", "benefits": {"en": ["a\nb"]}})
    data["tiers"].append({"code": "free", "name": {"en": "Free"}, "rank": 22, "threshold": None})
    found = errors_of(data)
    assert set(found) == {
        "tiers[1].threshold", "tiers[2].rank", "tiers[3].threshold", "tiers[3].fee", "tiers[3].period_months",
        "tiers[4].code", "tiers[5].code", "tiers[5].name.en", "tiers[5].name.de", "tiers[5].fee",
        "tiers[5].multiplier", "tiers[5].benefits.en", "tiers[6].threshold",
    }
    assert found["tiers[1].threshold"] == [
        "Overlapping thresholds: silver (tiers[0], rank 1) needs 300.00. Thresholds must rise with rank: "
        "a higher tier needs more than every lower one."
    ]
    assert found["tiers[2].rank"] == ["rank 1 is already used by tiers[0]"]
    assert found["tiers[4].code"] == ["gold is already used by tiers[1]"]
    assert found["tiers[6].threshold"] == ["A tier reached by spend or points needs a threshold."]


def test_rules_may_name_tiers_and_stores_the_same_file_creates(configured):
    data = program_export()
    data["stores"].append({"code": "GDN-01", "name": "Gdańsk", "timezone": "Europe/Warsaw"})
    data["tiers"].append({"code": "diamond", "name": {"en": "Diamond"}, "rank": 11, "threshold": "9000"})
    data["rules"].append({"key": "Gdańsk diamonds", "name": "Gdańsk diamonds", "kind": "fixed", "value": "5",
                          "stores": ["GDN-01"], "tiers": ["diamond"]})
    program_import(data=data)
    created = EarnRule.objects.get(name="Gdańsk diamonds")
    assert [store.code for store in created.stores.all()] == ["GDN-01"]
    assert [tier.code for tier in created.tiers.all()] == ["diamond"]
    assert created.status == "active" and created.mode == "stack"  # keys left out take their defaults


def test_a_tier_members_hold_cannot_turn_paid(configured):
    MemberTier.objects.create(member=MemberFactory(), tier=Tier.objects.get(code="gold"))
    data = program_export()
    data["tiers"][1].update(is_paid=True, threshold=None, fee="50", period_months=6)
    found = errors_of(data)
    assert list(found) == ["tiers[1].is_paid"]
    assert found["tiers[1].is_paid"][0].startswith("1 members hold this tier")


def test_bad_bonuses_and_tier_settings_are_reported(configured):
    data = program_export()
    data.update(tier_metric="visits", tier_window_months=0, tier_grace_days="30")
    data["bonuses"] = [
        {"kind": "signup", "points": 0}, {"kind": "lottery", "points": 5}, {"kind": "review", "points": 5},
        {"kind": "review", "points": 6, "active": "yes"},
    ]
    found = errors_of(data)
    assert set(found) == {
        "tier_metric", "tier_window_months", "tier_grace_days", "bonuses[0].points", "bonuses[1].kind",
        "bonuses[3].kind", "bonuses[3].active",
    }
    assert found["bonuses[3].kind"] == ["review is already used by bonuses[2]"]


@pytest.mark.parametrize("section", ["tiers", "rules", "bonuses"])
def test_a_section_that_is_not_a_list_is_refused(configured, section):
    data = program_export()
    data[section] = {"oops": 1}
    assert list(errors_of(data)) == [section]
