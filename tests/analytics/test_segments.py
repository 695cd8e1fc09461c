"""Segments: each condition of the language with members that match and members
that do not, the checking of bad input, the seam the earning rules use, and
the counts."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from analytics.models import MemberScore, ScoreRun, Segment
from analytics.segments import (
    segment_count,
    segment_count_time,
    segment_counts,
    segment_members,
    segment_queryset,
    segment_validate,
)
from analytics.services.segments import segment_archive, segment_save
from loyalty.models import EarnRule, MemberTier, Source
from loyalty.segments import member_segments, segment_register, segment_resolver, segments_unknown
from loyalty.services.purchases import purchase_record, refund_record
from loyalty.services.rules import rules_cache_clear
from members.models import Member
from tests.factories import EarnRuleFactory, MemberFactory, ProgramFactory, StoreFactory, TierFactory

pytestmark = pytest.mark.django_db

WARSAW = zoneinfo.ZoneInfo("Europe/Warsaw")
NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=WARSAW)


def local(year: int, month: int, day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=WARSAW)


class Shop:
    def __init__(self) -> None:
        self.counter = 0
        self.store = StoreFactory(code="WAW")
        self.other = StoreFactory(code="KRK")
        self.run = None

    def buy(self, member, amount="10.00", *, at=None, store=None):
        self.counter += 1
        return purchase_record(
            external_id=f"p{self.counter}", store=store or self.store, member=member,
            purchased_at=at or local(2026, 3, 1), amount=Decimal(amount), source=Source.IMPORT,
        ).purchase

    def refund(self, purchase, amount):
        self.counter += 1
        refund_record(
            external_id=f"r{self.counter}", purchase=purchase, amount=Decimal(amount),
            refunded_at=purchase.purchased_at + dt.timedelta(hours=1), source=Source.IMPORT,
        )

    def score(self, member, **values):
        if self.run is None:
            self.run = ScoreRun.objects.create(as_of=NOW, status=ScoreRun.Status.DONE)
        return MemberScore.objects.create(member=member, run=self.run, **values)


@pytest.fixture
def shop(db):
    ProgramFactory(timezone="Europe/Warsaw")
    return Shop()


def names(conditions, *, now=NOW) -> set[str]:
    """The first names of the members selected, the same in both shapes of the query
    (the whole segment, and one member at a time as the earning rules ask)."""
    cleaned = segment_validate({"all": conditions})
    found = set(segment_queryset(cleaned, now=now).values_list("first_name", flat=True))
    asked = segment_queryset(cleaned, now=now, per_member=True)
    one_by_one = {member.first_name for member in Member.objects.all() if asked.filter(pk=member.pk).exists()}
    assert one_by_one == found
    return found


def cond(field, op, value) -> dict:
    return {"field": field, "op": op, "value": value}


# -- each condition ------------------------------------------------------------------------------


def test_rfm_group_matches_the_members_scored_in_one_of_the_groups(shop):
    shop.score(MemberFactory(first_name="Champ"), rfm_group="champions")
    shop.score(MemberFactory(first_name="Loyal"), rfm_group="loyal")
    shop.score(MemberFactory(first_name="Lost"), rfm_group="lost")
    MemberFactory(first_name="Unscored")
    assert names([cond("rfm_group", "in", ["loyal", "champions"])]) == {"Champ", "Loyal"}


def test_last_purchase_before_after_and_within_days_in_the_programs_days(shop):
    early, late, _never = (MemberFactory(first_name=name) for name in ("Early", "Late", "Never"))
    shop.buy(early, at=local(2025, 12, 31, 23))  # the last evening of 2025 in Warsaw
    shop.buy(late, at=local(2025, 11, 1))
    shop.buy(late, at=local(2026, 1, 1, 0))  # the first minute of 2026
    assert names([cond("last_purchase", "before", "2026-01-01")]) == {"Early"}
    assert names([cond("last_purchase", "after", "2025-12-31")]) == {"Late"}  # the day itself is not after
    assert names([cond("last_purchase", "after", "2025-12-30")]) == {"Early", "Late"}
    recent = MemberFactory(first_name="Recent")
    shop.buy(recent, at=NOW - dt.timedelta(days=29))
    assert names([cond("last_purchase", "within_days", 30)]) == {"Recent"}
    assert names([cond("last_purchase", "within_days", 28)]) == set()
    assert "Never" not in names([cond("last_purchase", "before", "2030-01-01")])


def test_a_fully_refunded_purchase_is_no_purchase(shop):
    member = MemberFactory(first_name="Refunded")
    shop.refund(shop.buy(member, "20.00", at=local(2026, 5, 1)), "20.00")
    assert names([cond("last_purchase", "after", "2026-04-01")]) == set()
    assert names([cond("purchases", "at_most", 0)]) == {"Refunded"}


def test_lifetime_spend_is_net_of_refunds(shop):
    big, small, refunded = (MemberFactory(first_name=name) for name in ("Big", "Small", "Refunded"))
    MemberFactory(first_name="Never")
    shop.buy(big, "60.00")
    shop.buy(big, "40.00")
    shop.buy(small, "99.99")
    shop.refund(shop.buy(refunded, "150.00"), "60.00")  # 90.00 net
    assert names([cond("spend", "at_least", "100")]) == {"Big"}
    assert names([cond("spend", "at_least", "90.00")]) == {"Big", "Small", "Refunded"}
    assert names([cond("spend", "at_most", "90")]) == {"Refunded", "Never"}


def test_number_of_purchases_at_least_and_at_most(shop):
    three, one = MemberFactory(first_name="Three"), MemberFactory(first_name="One")
    MemberFactory(first_name="None")
    for _ in range(3):
        shop.buy(three)
    shop.buy(one)
    assert names([cond("purchases", "at_least", 2)]) == {"Three"}
    assert names([cond("purchases", "at_most", 1)]) == {"One", "None"}
    assert names([cond("purchases", "at_least", 0)]) == {"Three", "One", "None"}


def test_tier_matches_the_members_current_tier(shop):
    gold, silver = TierFactory(code="gold", rank=2), TierFactory(code="silver", rank=1)
    MemberTier.objects.create(member=MemberFactory(first_name="Goldie"), tier=gold)
    MemberTier.objects.create(member=MemberFactory(first_name="Silvia"), tier=silver)
    MemberTier.objects.create(member=MemberFactory(first_name="Dropped"), tier=None)
    MemberFactory(first_name="Plain")
    assert names([cond("tier", "in", [gold.pk])]) == {"Goldie"}
    assert names([cond("tier", "in", [str(gold.pk), silver.pk])]) == {"Goldie", "Silvia"}


def test_store_enrolled_at_and_bought_at(shop):
    waw = MemberFactory(first_name="Waw", enrollment_store=shop.store)
    krk = MemberFactory(first_name="Krk", enrollment_store=shop.other)
    shop.buy(waw, store=shop.other)
    shop.buy(krk, store=shop.other)
    MemberFactory(first_name="Nowhere")
    assert names([cond("store", "enrolled_at", [shop.store.pk])]) == {"Waw"}
    assert names([cond("store", "bought_at", [shop.other.pk])]) == {"Waw", "Krk"}
    assert names([cond("store", "bought_at", [shop.store.pk])]) == set()


def test_enrollment_date_before_and_after(shop):
    MemberFactory(first_name="Old", enrolled_at=local(2025, 12, 31, 23))
    MemberFactory(first_name="New", enrolled_at=local(2026, 1, 2, 0))
    MemberFactory(first_name="Day", enrolled_at=local(2026, 1, 1, 10))
    assert names([cond("enrolled", "before", "2026-01-01")]) == {"Old"}
    assert names([cond("enrolled", "after", "2026-01-01")]) == {"New"}


def test_consent_by_channel(shop):
    MemberFactory(first_name="Both", marketing_consent=True, sms_consent=True)
    MemberFactory(first_name="Mail", marketing_consent=True)
    MemberFactory(first_name="Neither")
    assert names([cond("consent", "given", "email")]) == {"Both", "Mail"}
    assert names([cond("consent", "given", "sms")]) == {"Both"}
    assert names([cond("consent", "not_given", "sms")]) == {"Mail", "Neither"}


def test_birthday_month(shop):
    MemberFactory(first_name="May", birth_date=dt.date(1990, 5, 31))
    MemberFactory(first_name="June", birth_date=dt.date(1985, 6, 1))
    MemberFactory(first_name="Unknown", birth_date=None)
    assert names([cond("birthday_month", "in", [5, 7])]) == {"May"}


def test_churn_probability_is_one_minus_the_probability_of_being_active(shop):
    shop.score(MemberFactory(first_name="Leaving"), probability_alive=0.2)
    shop.score(MemberFactory(first_name="Edge"), probability_alive=0.3)
    shop.score(MemberFactory(first_name="Staying"), probability_alive=0.95)
    shop.score(MemberFactory(first_name="Unfitted"), probability_alive=None)
    assert names([cond("churn", "at_least", "0.7")]) == {"Leaving", "Edge"}  # 1 - 0.3 = 0.7 counts
    assert names([cond("churn", "at_most", 0.1)]) == {"Staying"}


def test_predicted_clv(shop):
    shop.score(MemberFactory(first_name="Rich"), clv_12m=Decimal("500.00"))
    shop.score(MemberFactory(first_name="Poor"), clv_12m=Decimal("20.00"))
    shop.score(MemberFactory(first_name="Unfitted"))
    assert names([cond("clv", "at_least", "250")]) == {"Rich"}
    assert names([cond("clv", "at_most", "250")]) == {"Poor"}


def test_conditions_combine_with_and_and_deleted_members_are_never_in(shop):
    keep = MemberFactory(first_name="Keep", marketing_consent=True)
    gone = MemberFactory(first_name="Gone", marketing_consent=True)
    MemberFactory(first_name="Quiet", marketing_consent=False)
    for member in (keep, gone):
        shop.buy(member, "50.00")
    Member.objects.filter(pk=gone.pk).update(status=Member.Status.DELETED)
    shop.buy(MemberFactory(first_name="Buyer"), "50.00")
    assert names([cond("consent", "given", "email"), cond("spend", "at_least", "50")]) == {"Keep"}
    assert "Gone" not in names([])
    assert names([]) == {"Keep", "Quiet", "Buyer"}


def test_no_condition_multiplies_rows(shop):
    member = MemberFactory(first_name="Busy", enrollment_store=shop.store)
    for _ in range(4):
        shop.buy(member, store=shop.other)
    shop.score(member, rfm_group="champions", probability_alive=0.5, clv_12m=Decimal("10"))
    conditions = segment_validate({"all": [
        cond("store", "bought_at", [shop.store.pk, shop.other.pk]), cond("purchases", "at_least", 2),
        cond("spend", "at_least", "1"), cond("rfm_group", "in", ["champions"]), cond("churn", "at_most", "0.9"),
        cond("clv", "at_least", "1"), cond("last_purchase", "after", "2026-01-01"),
    ]})
    assert list(segment_queryset(conditions, now=NOW).values_list("first_name", flat=True)) == ["Busy"]
    assert segment_count(conditions, now=NOW) == 1


# -- checking ------------------------------------------------------------------------------------


def test_validate_cleans_values(shop):
    tier = TierFactory(code="gold")
    cleaned = segment_validate({"all": [
        cond("rfm_group", "in", ["loyal", "champions", "loyal"]), cond("spend", "at_least", 100),
        cond("tier", "in", [str(tier.pk)]), cond("birthday_month", "in", ["12", 3]),
        cond("last_purchase", "within_days", "30"), cond("churn", "at_least", "0.70"),
    ]})
    assert cleaned == {"all": [
        cond("rfm_group", "in", ["champions", "loyal"]), cond("spend", "at_least", "100.00"),
        cond("tier", "in", [tier.pk]), cond("birthday_month", "in", [3, 12]),
        cond("last_purchase", "within_days", 30), cond("churn", "at_least", "0.7"),
    ]}


BAD = [
    ("unknown field", cond("colour", "in", ["red"]), "colour", "unknown field"),
    ("op of another field", cond("spend", "before", "2026-01-01"), "spend", "is not an operator"),
    ("bad date", cond("last_purchase", "before", "2026-13-01"), "last_purchase", "YYYY-MM-DD"),
    ("negative amount", cond("spend", "at_least", "-5"), "spend", "amount of 0 or more"),
    ("three decimals", cond("clv", "at_most", "1.005"), "clv", "two decimals"),
    ("fraction above one", cond("churn", "at_least", "1.5"), "churn", "fraction from 0 to 1"),
    ("zero days", cond("last_purchase", "within_days", 0), "last_purchase", "whole number"),
    ("boolean count", cond("purchases", "at_least", True), "purchases", "whole number"),
    ("unknown group", cond("rfm_group", "in", ["vip"]), "rfm_group", "vip"),
    ("no months", cond("birthday_month", "in", []), "birthday_month", "choose at least one"),
    ("month 13", cond("birthday_month", "in", [13]), "birthday_month", "13"),
    ("unknown tier", cond("tier", "in", [9999]), "tier", "9999"),
    ("unknown store", cond("store", "bought_at", [9999]), "store", "9999"),
    ("bad channel", cond("consent", "given", "post"), "consent", "email or SMS"),
    ("missing value", {"field": "spend", "op": "at_least"}, "spend", "give field, op and value"),
    ("field not a name", {"field": ["tier"], "op": "in", "value": [1]}, ["tier"], "unknown field"),
    ("superscript digit", cond("last_purchase", "within_days", "\u00b2"), "last_purchase", "whole number"),
    ("fractional month", cond("birthday_month", "in", [5.5]), "birthday_month", "no month 5.5"),
    ("year 1", cond("enrolled", "before", "0001-01-01"), "enrolled", "date from 1900-01-01 to 2999-12-31"),
    ("last day of 9999", cond("last_purchase", "after", "9999-12-31"), "last_purchase", "date from 1900-01-01"),
]


@pytest.mark.parametrize(("case", "bad", "field", "text"), BAD, ids=[case[0] for case in BAD])
def test_bad_input_names_the_conditions_position_and_field(shop, case, bad, field, text):
    good = cond("consent", "given", "email")
    with pytest.raises(ValidationError) as caught:
        segment_validate({"all": [good, bad]})
    [error] = caught.value.error_list
    assert (error.params["position"], error.params["field"]) == (2, field)
    message = error.message % error.params
    assert message.startswith("Condition 2 (")
    assert text in message


def test_the_first_and_last_days_allowed_compile_in_the_programs_zone(shop):
    MemberFactory(first_name="Now", enrolled_at=NOW)
    for day in ("1900-01-01", "2999-12-31"):
        for op in ("before", "after"):
            expected = {"Now"} if (op == "after") == (day == "1900-01-01") else set()
            assert names([cond("enrolled", op, day)]) == expected
            assert names([cond("last_purchase", op, day)]) == set()


def test_every_bad_condition_is_reported_and_the_shape_is_checked(shop):
    with pytest.raises(ValidationError) as caught:
        segment_validate({"all": [cond("spend", "at_least", "x"), cond("tier", "in", "gold")]})
    assert [error.params["position"] for error in caught.value.error_list] == [1, 2]
    for shape in ([], {"any": []}, {"all": {}}, None):
        with pytest.raises(ValidationError, match="list of conditions"):
            segment_validate(shape)


def test_saving_bad_conditions_changes_nothing(shop):
    segment = segment_save(name="Mailable", conditions={"all": [cond("consent", "given", "email")]})
    with pytest.raises(ValidationError) as caught:
        segment_save(segment=segment, name="Renamed", conditions={"all": [cond("spend", "at_least", "lots")]})
    assert "conditions" in caught.value.error_dict
    segment.refresh_from_db()
    assert (segment.name, segment.conditions) == ("Mailable", {"all": [cond("consent", "given", "email")]})
    with pytest.raises(ValidationError) as caught:
        segment_save(name="Mailable", conditions={"all": []})
    assert "name" in caught.value.error_dict
    assert Segment.objects.count() == 1


# -- saved segments and the seam -----------------------------------------------------------------


def test_segment_members_is_none_for_a_missing_or_archived_segment(shop):
    MemberFactory(first_name="Ann", marketing_consent=True)
    segment = segment_save(name="Mailable", conditions={"all": [cond("consent", "given", "email")]})
    assert list(segment_members(segment.pk).values_list("first_name", flat=True)) == ["Ann"]
    assert segment_members(segment.pk + 1) is None
    assert segment_members("nope") is None
    archived = segment_archive(segment=segment)
    assert archived.archived_at is not None
    assert segment_archive(segment=segment).archived_at == archived.archived_at  # once
    assert segment_members(segment.pk) is None
    with pytest.raises(ValidationError):
        segment_save(segment=archived, name="Again", conditions={"all": []})


def test_saving_a_segment_read_before_it_was_archived_does_not_bring_it_back(shop):
    segment = segment_save(name="Mailable", conditions={"all": []})
    read_by_the_editor = Segment.objects.get(pk=segment.pk)
    segment_archive(segment=Segment.objects.get(pk=segment.pk))  # meanwhile, in another request
    with pytest.raises(ValidationError) as caught:
        segment_save(segment=read_by_the_editor, name="Renamed", conditions={"all": []})
    assert caught.value.error_dict["name"][0].code == "archived"
    segment.refresh_from_db()
    assert (segment.name, segment.archived_at is not None) == ("Mailable", True)


def test_the_app_registers_the_resolver_and_unknown_ids_are_found(shop):
    assert segment_resolver() is segment_members
    live = segment_save(name="Live", conditions={"all": []})
    gone = segment_archive(segment=segment_save(name="Gone", conditions={"all": []}))
    assert segments_unknown([live.pk, gone.pk, 9999]) == {gone.pk, 9999}
    assert member_segments(MemberFactory().pk, [live.pk, gone.pk]) == frozenset({live.pk})


def test_a_rule_limited_to_a_segment_gives_its_bonus_to_its_members_only(shop):
    inside = MemberFactory(first_name="In", marketing_consent=True)
    outside = MemberFactory(first_name="Out", marketing_consent=False)
    segment = segment_save(name="Mailable", conditions={"all": [cond("consent", "given", "email")]})
    EarnRuleFactory(name="Mail bonus", kind=EarnRule.Kind.FIXED, value=Decimal("25"), segments=[segment.pk])
    rules_cache_clear()
    assert shop.buy(inside, "10.00").points == 35
    assert shop.buy(outside, "10.00").points == 10
    segment_archive(segment=segment)
    assert shop.buy(inside, "10.00").points == 10


def test_counts_of_many_segments_take_one_query(shop, django_assert_num_queries):
    for name, consent in (("A", True), ("B", True), ("C", False)):
        shop.buy(MemberFactory(first_name=name, marketing_consent=consent), "30.00")
    mail = segment_save(name="Mail", conditions={"all": [cond("consent", "given", "email")]})
    spend = segment_save(name="Spend", conditions={"all": [cond("spend", "at_least", "30")]})
    none = segment_save(name="None", conditions={"all": [cond("spend", "at_least", "31")]})
    with django_assert_num_queries(1):
        counts = segment_counts([mail, spend, none], now=NOW)
    assert counts == {mail.pk: 2, spend.pk: 3, none.pk: 0}
    assert segment_counts([]) == {}


def test_a_saved_segment_whose_conditions_no_longer_check_counts_nobody(shop, django_assert_num_queries):
    MemberFactory(marketing_consent=True)
    mail = segment_save(name="Mail", conditions={"all": [cond("consent", "given", "email")]})
    old = Segment.objects.create(name="Old", conditions={"all": [cond("enrolled", "before", "1800-01-01")]})
    with django_assert_num_queries(1):
        assert segment_counts([mail, old], now=NOW) == {mail.pk: 1, old.pk: 0}
    assert segment_members(old.pk) is None


def test_count_time_helper_for_the_bench(shop):
    MemberFactory(marketing_consent=True)
    result = segment_count_time({"all": [cond("consent", "given", "email")]}, repeat=2)
    assert result["count"] == 1 and result["best_ms"] <= result["worst_ms"]


@pytest.fixture(autouse=True)
def _resolver():
    """Tests elsewhere install their own resolver; ours is the app's."""
    previous = segment_resolver()
    segment_register(segment_members)
    yield
    segment_register(previous)


def test_the_program_file_refuses_a_new_segment_id_of_no_saved_segment(shop):
    from loyalty.services.program_io import ProgramFileInvalid, program_export, program_import

    live = segment_save(name="Live", conditions={"all": []})
    EarnRuleFactory(name="Kept", segments=[live.pk])
    rules_cache_clear()
    data = program_export()
    assert program_import(data=data).changed is False  # re-applying the export is a no-op
    segment_archive(segment=live)
    assert program_import(data=data).changed is False  # ids the rule already has are kept
    data["rules"][0]["segments"] = [live.pk, 9999]
    with pytest.raises(ProgramFileInvalid) as raised:
        program_import(data=data)
    assert [(error.path, error.message) for error in raised.value.errors] == [
        ("rules[0].segments", "no saved segment with the id 9999 (or it is archived)"),
    ]
    assert EarnRule.objects.get().segments == [live.pk]
    previous = segment_resolver()
    segment_register(None)  # without analytics nothing can be told: the ids are taken
    try:
        program_import(data=data)
    finally:
        segment_register(previous)
    assert EarnRule.objects.get().segments == [live.pk, 9999]
