"""/staff/rules/: the list, the form that refuses contradictions, and the
pause, resume, archive and copy buttons."""

import datetime as dt
import re
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from analytics.models import Segment
from loyalty.models import EarnRule, MemberTier, RuleUsage
from loyalty.services.rules import active_rules
from tests.factories import EarnRuleFactory, TierFactory
from tests.web.conftest import buy, client_for

pytestmark = pytest.mark.django_db

WARSAW = ZoneInfo("Europe/Warsaw")


def rule_data(**changes):
    data = {
        "name": "Double points weekend", "status": "active", "kind": "multiplier", "value": "2",
        "stamps_needed": "", "starts_at": "", "ends_at": "", "hours_start": "", "hours_end": "",
        "segments": "", "categories": "", "skus": "", "min_spend": "", "priority": "0", "mode": "stack",
        "group": "", "member_cap": "", "member_cap_period": "rule", "budget": "",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


# -- creating and changing -------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "manager", "marketing"])
def test_staff_create_a_rule_that_earns_at_once(users, member, store, role):
    response = client_for(users[role]).post(
        reverse("staff:rule-create"), rule_data(weekdays=["5", "6"], stores=[str(store.pk)]),
    )
    assert response.status_code == 302
    rule = EarnRule.objects.get()
    assert (rule.name, rule.status, rule.kind, rule.value, rule.weekdays) == (
        "Double points weekend", "active", "multiplier", Decimal("2"), [5, 6],
    )
    assert list(rule.stores.all()) == [store]
    assert [snapshot.id for snapshot in active_rules().rules] == [rule.pk]  # the cache was cleared


def test_schedule_is_entered_and_shown_in_the_programs_zone(users):
    client = client_for(users["manager"])
    client.post(reverse("staff:rule-create"), rule_data(
        starts_at="2026-07-01T00:00", ends_at="2026-07-08T00:00",
    ))
    rule = EarnRule.objects.get()
    assert rule.starts_at == dt.datetime(2026, 7, 1, tzinfo=WARSAW)
    assert rule.starts_at.astimezone(dt.UTC).hour == 22  # the evening before, in UTC
    page = client.get(reverse("staff:rule-edit", kwargs={"pk": rule.pk})).content.decode()
    assert 'value="2026-07-01T00:00"' in page
    assert 'value="2026-07-08T00:00"' in page


def test_lists_are_entered_as_comma_separated_text_and_shown_back(users):
    first, second = (Segment.objects.create(name=name) for name in ("Regulars", "Lapsed"))
    client = client_for(users["marketing"])
    client.post(reverse("staff:rule-create"), rule_data(
        kind="per_unit", value="3", categories="coffee, tea,coffee", skus="BEANS-1KG",
        segments=f"{second.pk}, {first.pk}",
    ))
    rule = EarnRule.objects.get()
    assert (rule.categories, rule.skus, rule.segments) == (["coffee", "tea"], ["BEANS-1KG"], [second.pk, first.pk])
    page = client.get(reverse("staff:rule-edit", kwargs={"pk": rule.pk})).content.decode()
    assert 'value="coffee, tea"' in page
    assert f'value="{second.pk}, {first.pk}"' in page


def test_segment_ids_of_no_saved_segment_are_refused_by_name(users):
    live = Segment.objects.create(name="Live")
    archived = Segment.objects.create(name="Old", archived_at=timezone.now())
    response = client_for(users["manager"]).post(
        reverse("staff:rule-create"), rule_data(segments=f"{live.pk}, {archived.pk}, 9999"),
    )
    assert response.status_code == 200
    assert response.context["form"].errors["segments"] == [
        f"{archived.pk}, 9999 are not ids of saved segments (or the segments are archived)."
    ]
    assert not EarnRule.objects.exists()


def test_editing_keeps_the_status_and_saves_the_tiers(users):
    gold = TierFactory(code="gold", name_en="Gold")
    rule = EarnRuleFactory(name="Welcome", status="paused")
    client = client_for(users["manager"])
    page = client.get(reverse("staff:rule-edit", kwargs={"pk": rule.pk})).content.decode()
    assert 'name="status"' not in page  # the status changes through the buttons
    response = client.post(
        reverse("staff:rule-edit", kwargs={"pk": rule.pk}),
        rule_data(name="Welcome back", kind="fixed", value="50", tiers=[str(gold.pk)], status=None),
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.name, rule.status, rule.value) == ("Welcome back", "paused", Decimal("50"))
    assert list(rule.tiers.all()) == [gold]


def test_the_form_explains_its_fields(users):
    TierFactory(code="gold", name_en="Gold")
    page = client_for(users["manager"]).get(reverse("staff:rule-create")).content.decode()
    for text in ("The multiplier (2 doubles the base points)", "None ticked means every day",
                 "None ticked means every member", "Ids of saved segments (Analytics, Segments)",
                 "time zone (Europe/Warsaw)", "The most points this rule gives in all"):
        assert text in page
    assert re.search(r'<input type="checkbox"[^>]* name="weekdays" value="5"', page)
    assert 'type="datetime-local"' in page


CONTRADICTIONS = [
    ("end before start", {"starts_at": "2026-07-08T00:00", "ends_at": "2026-07-01T00:00"}, "ends_at",
     "The end must come after the start."),
    ("multiplier below 1", {"kind": "multiplier", "value": "0.5"}, "value", "A multiplier below 1"),
    ("hours incomplete", {"hours_start": "17:00"}, "hours_end", "Give both the start and the end of the hours"),
    ("best of group without group", {"mode": "best_of_group"}, "group", "Name the group"),
    ("stamps without stamps needed", {"kind": "stamps", "value": "100"}, "stamps_needed",
     "Say how many stamps fill a card"),
    ("stamps needed on another kind", {"kind": "fixed", "value": "5", "stamps_needed": "10"}, "stamps_needed",
     "Only a stamp card has stamps per card"),
    ("cap period without cap", {"member_cap_period": "month"}, "member_cap_period",
     "A cap period needs a points cap per member"),
    ("budget below fixed bonus", {"kind": "fixed", "value": "50", "budget": "20"}, "budget",
     "The total budget (20 points) is smaller than the fixed bonus (50 points)"),
    ("unknown store", {"stores": ["9999"]}, "stores", "9999 is not a store of the program"),
    ("unknown tier", {"tiers": ["9999"]}, "tiers", "9999 is not a tier of the program"),
    ("segment not an id", {"segments": "4, gold"}, "segments", "gold is not an id"),
    ("bad weekday", {"weekdays": ["9"]}, "weekdays", "Select a valid choice"),
]


@pytest.mark.parametrize(("case", "changes", "field", "message"), CONTRADICTIONS, ids=[c[0] for c in CONTRADICTIONS])
def test_contradictory_settings_are_refused_on_the_field_they_concern(users, case, changes, field, message):
    TierFactory(code="gold", name_en="Gold")
    response = client_for(users["manager"]).post(reverse("staff:rule-create"), rule_data(**changes))
    assert response.status_code == 200
    form = response.context["form"]
    assert field in form.errors, form.errors
    assert any(message in error for error in form.errors[field])
    page = response.content.decode()
    assert f'<a href="#id_{field}' in page  # the summary names the field and links to it
    assert not EarnRule.objects.exists()


def test_without_tiers_the_form_offers_none_and_keeps_a_rules_tiers(users):
    client = client_for(users["manager"])
    assert 'name="tiers"' not in client.get(reverse("staff:rule-create")).content.decode()
    gold = TierFactory(code="gold", name_en="Gold", archived=True)
    rule = EarnRuleFactory(name="Gold only")
    rule.tiers.set([gold])
    client.post(reverse("staff:rule-edit", kwargs={"pk": rule.pk}), rule_data(name="Gold only", status=None))
    assert list(rule.tiers.all()) == [gold]


def test_an_impossible_local_time_is_refused(users):
    # 02:30 on 29 March 2026 does not exist in Warsaw (clocks go forward).
    response = client_for(users["manager"]).post(
        reverse("staff:rule-create"), rule_data(starts_at="2026-03-29T02:30"),
    )
    assert "starts_at" in response.context["form"].errors
    assert not EarnRule.objects.exists()


def test_an_archived_rule_cannot_be_changed(users):
    rule = EarnRuleFactory(name="Old", status="archived")
    client = client_for(users["manager"])
    page = client.get(reverse("staff:rule-edit", kwargs={"pk": rule.pk})).content.decode()
    assert "An archived rule cannot be changed" in page
    assert "Save rule" not in page and "Try in the simulator" not in page
    response = client.post(reverse("staff:rule-edit", kwargs={"pk": rule.pk}), rule_data(name="New", status=None))
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.name == "Old"


# -- pause, resume, archive, copy --------------------------------------------------


def test_pause_and_resume_switch_the_rule_off_and_on(users, member, store):
    rule = EarnRuleFactory(name="Plus ten", value=Decimal("10"))
    client = client_for(users["marketing"])
    assert buy(member, store, "20.00").purchase.points == 30
    assert client.post(reverse("staff:rule-pause", kwargs={"pk": rule.pk})).status_code == 302
    rule.refresh_from_db()
    assert rule.status == "paused"
    assert buy(member, store, "20.00").purchase.points == 20
    client.post(reverse("staff:rule-resume", kwargs={"pk": rule.pk}))
    rule.refresh_from_db()
    assert rule.status == "active"
    assert buy(member, store, "20.00").purchase.points == 30


def test_archive_stops_the_rule_for_good(users, member, store):
    rule = EarnRuleFactory(name="Plus ten")
    client = client_for(users["manager"])
    client.post(reverse("staff:rule-archive", kwargs={"pk": rule.pk}))
    rule.refresh_from_db()
    assert rule.status == "archived"
    response = client.post(reverse("staff:rule-resume", kwargs={"pk": rule.pk}), follow=True)
    assert "is archived already" in response.content.decode()
    rule.refresh_from_db()
    assert rule.status == "archived"
    assert buy(member, store, "20.00").purchase.points == 20


def test_copy_makes_a_paused_rule_with_the_same_settings(users, store):
    gold = TierFactory(code="gold", name_en="Gold")
    rule = EarnRuleFactory(name="Coffee", kind="per_unit", value=Decimal("3"), categories=["coffee"], weekdays=[5])
    rule.stores.set([store])
    rule.tiers.set([gold])
    response = client_for(users["marketing"]).post(reverse("staff:rule-copy", kwargs={"pk": rule.pk}))
    copy = EarnRule.objects.exclude(pk=rule.pk).get()
    assert response["Location"] == reverse("staff:rule-edit", kwargs={"pk": copy.pk})
    assert (copy.name, copy.status, copy.kind, copy.value, copy.categories, copy.weekdays) == (
        "Copy of Coffee", "paused", "per_unit", Decimal("3"), ["coffee"], [5],
    )
    assert list(copy.stores.all()) == [store]
    assert list(copy.tiers.all()) == [gold]


@pytest.mark.parametrize("action", ["rule-pause", "rule-resume", "rule-archive", "rule-copy"])
def test_actions_take_post_only(users, action):
    rule = EarnRuleFactory(status="paused")
    response = client_for(users["owner"]).get(reverse(f"staff:{action}", kwargs={"pk": rule.pk}))
    assert response.status_code == 405
    assert EarnRule.objects.get().status == "paused"


@pytest.mark.parametrize("who", ["cashier", "member"])
@pytest.mark.parametrize("action", ["rule-pause", "rule-archive", "rule-copy"])
def test_only_staff_may_change_rules(users, who, action):
    rule = EarnRuleFactory(status="active")
    response = client_for(users[who]).post(reverse(f"staff:{action}", kwargs={"pk": rule.pk}))
    assert response.status_code == 403
    assert list(EarnRule.objects.values_list("status", flat=True)) == ["active"]


def test_anonymous_posts_are_sent_to_login(db, program):
    rule = EarnRuleFactory()
    response = client_for(None).post(reverse("staff:rule-pause", kwargs={"pk": rule.pk}))
    assert response.status_code == 302
    assert EarnRule.objects.get().status == "active"


# -- the list -------------------------------------------------------------------


def test_list_shows_what_each_rule_gives_when_and_on_what_conditions(users, store):
    gold = TierFactory(code="gold", name_en="Gold")
    weekend = EarnRuleFactory(
        name="Weekend", kind="multiplier", value=Decimal("2"), weekdays=[5, 6], priority=5,
        starts_at=dt.datetime(2026, 7, 1, tzinfo=WARSAW), member_cap=100, member_cap_period="month",
    )
    weekend.stores.set([store])
    coffee = EarnRuleFactory(name="Coffee", kind="per_unit", value=Decimal("3"), categories=["coffee"],
                             budget=1000, mode="best_of_group", group="drinks")
    coffee.tiers.set([gold])
    RuleUsage.objects.create(rule=coffee, scope="total", points=120)
    page = client_for(users["marketing"]).get(reverse("staff:rules")).content.decode()
    assert page.index(">Weekend</a>") < page.index(">Coffee</a>")  # higher priority first
    assert "×2 the base points" in page
    assert "weekends; stores: WAW" in page
    assert "from 1 July 2026" in page or "from July 1, 2026" in page
    assert "100 per member, per month" in page
    assert "+3 per unit" in page
    assert "tiers: Gold; categories: coffee" in page
    assert "120 of 1,000 points used" in page
    assert "Best of its group (drinks)" in page


def test_list_filters_by_status(users):
    EarnRuleFactory(name="Running", status="active")
    EarnRuleFactory(name="Waiting", status="paused")
    EarnRuleFactory(name="Finished", status="archived")
    client = client_for(users["manager"])

    def names(query):
        return [row["rule"].name for row in client.get(reverse("staff:rules"), query).context["rows"]]

    assert sorted(names({})) == ["Running", "Waiting"]
    assert names({"status": "paused"}) == ["Waiting"]
    assert names({"status": "archived"}) == ["Finished"]
    assert sorted(names({"status": "all"})) == ["Finished", "Running", "Waiting"]


@pytest.mark.parametrize("count", [3, 30])
def test_list_uses_a_fixed_number_of_queries(users, store, count, django_assert_num_queries):
    gold = TierFactory(code="gold", name_en="Gold")
    for n in range(count):
        rule = EarnRuleFactory(name=f"R{n}", budget=500, categories=["coffee"])
        rule.stores.set([store])
        rule.tiers.set([gold])
        RuleUsage.objects.create(rule=rule, scope="total", points=n)
    client = client_for(users["manager"])
    client.get(reverse("staff:rules"))  # warm the program cache
    # session, user, count, page, stores, tiers
    with django_assert_num_queries(6):
        response = client.get(reverse("staff:rules"))
    assert len(response.context["rows"]) == count


def test_the_navigation_marks_rules(users):
    page = client_for(users["marketing"]).get(reverse("staff:rules")).content.decode()
    assert f'aria-current="page" href="{reverse("staff:rules")}"' in page


def test_rule_list_without_rules_offers_to_add_one(users):
    page = client_for(users["owner"]).get(reverse("staff:rules")).content.decode()
    assert "No rules to show." in page


# -- why these points, on the member's page ----------------------------------------------


def test_staff_member_detail_explains_each_earn(users, member, store):
    gold = TierFactory(code="gold", name_en="Gold", multiplier=Decimal("1.5"))
    MemberTier.objects.create(member=member, tier=gold)
    EarnRuleFactory(name="Spring", value=Decimal("5"))
    buy(member, store, "20.00")
    page = client_for(users["marketing"]).get(reverse("staff:member-detail", kwargs={"pk": member.pk}))
    text = " ".join(page.content.decode().split())
    assert "<li>Base rate: +20</li><li>Tier: Gold: +10</li><li>Spring: +5</li>" in text


def test_explained_earns_read_the_tier_names_once_however_many(users, member, store):
    gold = TierFactory(code="gold", name_en="Gold", multiplier=Decimal("2"))
    MemberTier.objects.create(member=member, tier=gold)
    client = client_for(users["owner"])
    url = reverse("staff:member-detail", kwargs={"pk": member.pk})

    def tier_reads() -> int:
        client.get(url)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.content.decode().count("Tier: Gold") == len(response.context["entries_page"])
        return sum('FROM "loyalty_tier"' in query["sql"] for query in queries.captured_queries)

    buy(member, store, "3.00", external_id="T-0")
    one = tier_reads()
    for n in range(1, 20):
        buy(member, store, "3.00", external_id=f"T-{n}")
    assert tier_reads() == one
