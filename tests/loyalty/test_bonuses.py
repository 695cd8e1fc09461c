"""Action bonuses: once per occasion, whatever triggers them and however often.

Sign-up and completed profile through the members hooks, reviews marked by
staff, birthdays and anniversaries in the program's time zone, referrals
after the first purchase is final; the periodic jobs run late and twice;
on PostgreSQL, concurrently.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from loyalty.imports import import_members
from loyalty.models import ActionBonus, LedgerEntry, PointsAccount, Source
from loyalty.services.bonuses import (
    OCCASION_LOOKBACK_DAYS,
    BonusInactive,
    ReviewAlreadyRewarded,
    ReviewReferenceRequired,
    action_bonuses_get,
    action_bonuses_save,
    bonus_grant,
    bonus_key,
    bonus_review_mark,
    bonuses_grant_due,
    referral_bonuses_grant_due,
    review_reference_normalise,
)
from loyalty.services.purchases import purchase_record, refund_record
from loyalty.services.till import till_member_enroll
from loyalty.tasks import grant_occasion_bonuses, grant_referral_bonuses
from members.models import Member
from members.services.accounts import member_email_confirmed, member_signup
from members.services.profile import member_profile_is_complete, member_profile_update
from tests.factories import MemberFactory, ProgramFactory, StaffFactory, StoreFactory, UserFactory

pytestmark = pytest.mark.django_db

WARSAW = ZoneInfo("Europe/Warsaw")
Kind = ActionBonus.Kind


@pytest.fixture
def program(db):
    return ProgramFactory()


@pytest.fixture
def store(program):
    return StoreFactory(code="WAW")


def bonuses_on(**points: int) -> None:
    action_bonuses_save(values={kind: (value, True) for kind, value in points.items()})


def bonus_entries(member) -> list[LedgerEntry]:
    return list(LedgerEntry.objects.filter(account__member=member, kind=LedgerEntry.Kind.BONUS).order_by("pk"))


def available(member) -> int:
    account = PointsAccount.objects.filter(member=member).first()
    return account.available if account else 0


def local(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=WARSAW)


# -- bonus_grant -------------------------------------------------------------------


def test_a_bonus_is_granted_once_per_occasion_however_often_it_is_triggered(program):
    bonuses_on(review=30)
    member = MemberFactory()
    first = bonus_grant(member=member, kind=Kind.REVIEW, occasion="r-1")
    again = bonus_grant(member=member, kind=Kind.REVIEW, occasion="r-1")
    other = bonus_grant(member=member, kind=Kind.REVIEW, occasion="r-2")
    assert again.pk == first.pk and other.pk != first.pk
    assert available(member) == 60
    assert first.kind == LedgerEntry.Kind.BONUS and first.idempotency_key == "bonus:review:r-1"


def test_the_entry_carries_a_breakdown_naming_the_bonus_and_no_stored_english(program):
    bonuses_on(birthday=100)
    entry = bonus_grant(member=MemberFactory(), kind=Kind.BIRTHDAY, occasion="2026")
    assert entry.breakdown == [{"rule": "bonus", "bonus": "birthday", "occasion": "2026", "points": 100}]
    assert entry.reason == ""


def test_bonus_points_are_available_at_once_even_with_a_return_window(program):
    program.return_window_days = 14
    program.save()
    bonuses_on(signup=50)
    member = MemberFactory()
    bonus_grant(member=member, kind=Kind.SIGNUP, occasion="once")
    account = PointsAccount.objects.get(member=member)
    assert (account.available, account.pending) == (50, 0)


def test_a_bonus_switched_off_or_never_configured_grants_nothing(program):
    action_bonuses_save(values={Kind.SIGNUP: (50, False)})
    member = MemberFactory()
    assert bonus_grant(member=member, kind=Kind.SIGNUP, occasion="once") is None
    assert bonus_grant(member=member, kind=Kind.BIRTHDAY, occasion="2026") is None
    assert not LedgerEntry.objects.exists()


def test_a_blocked_member_gets_no_bonus(program):
    bonuses_on(signup=50)
    member = MemberFactory(status=Member.Status.BLOCKED)
    assert bonus_grant(member=member, kind=Kind.SIGNUP, occasion="once") is None
    assert not LedgerEntry.objects.exists()


def test_changing_the_points_later_neither_fails_nor_grants_an_occasion_again(program):
    bonuses_on(profile=40)
    member = MemberFactory()
    first = bonus_grant(member=member, kind=Kind.PROFILE, occasion="once")
    bonuses_on(profile=90)
    assert bonus_grant(member=member, kind=Kind.PROFILE, occasion="once").pk == first.pk
    assert available(member) == 40


def test_a_long_occasion_gets_a_key_that_fits(program):
    key = bonus_key(Kind.REVIEW, "x" * 500)
    assert len(key) <= LedgerEntry._meta.get_field("idempotency_key").max_length
    assert key != bonus_key(Kind.REVIEW, "x" * 499)


def test_saving_the_settings_needs_points_to_switch_a_bonus_on(program):
    from loyalty.services.bonuses import BonusPointsRequired

    with pytest.raises(BonusPointsRequired):
        action_bonuses_save(values={Kind.REVIEW: (None, True)})
    assert not ActionBonus.objects.exists()
    changed = action_bonuses_save(values={Kind.REVIEW: (25, True), Kind.BIRTHDAY: (None, False)})
    assert changed == [Kind.REVIEW]
    assert action_bonuses_get()[Kind.REVIEW].points == 25 and Kind.BIRTHDAY not in action_bonuses_get()
    assert action_bonuses_save(values={Kind.REVIEW: (None, False)}) == [Kind.REVIEW]
    assert (ActionBonus.objects.get().points, ActionBonus.objects.get().active) == (25, False)


# -- sign-up and completed profile -------------------------------------------------------


def test_portal_signup_grants_the_signup_bonus_once(program):
    bonuses_on(signup=50)
    member = member_signup(user=UserFactory(email="new@example.com"), first_name="Ada")
    [entry] = bonus_entries(member)
    assert (entry.points, entry.breakdown[0]["bonus"]) == (50, "signup")
    assert entry.effective_at == member.enrolled_at


def test_till_enrollment_grants_the_signup_bonus(program, store):
    bonuses_on(signup=50)
    cashier = StaffFactory(role="cashier")
    enrolled = till_member_enroll(user=cashier, store=store, first_name="Jan", email="jan@example.com")
    assert [e.points for e in bonus_entries(enrolled.member)] == [50]


def test_imported_members_get_no_signup_or_profile_bonus(program, tmp_path):
    bonuses_on(signup=50, profile=20)
    path = tmp_path / "members.csv"
    path.write_text(
        "external_id,email,phone,first_name,last_name,birth_date,enrolled_at\n"
        "OLD-1,old@example.com,+48601000001,Ola,Stara,1980-01-02,2020-05-01\n"
    )
    assert import_members(file=path).ok
    assert Member.objects.get(external_id="OLD-1")
    assert not LedgerEntry.objects.exists()


def test_a_refused_signup_leaves_no_bonus(program):
    bonuses_on(signup=50)
    MemberFactory(email="taken@example.com")
    from members.exceptions import MemberAlreadyEnrolled

    with pytest.raises(MemberAlreadyEnrolled):
        member_signup(user=UserFactory(email="taken@example.com"), first_name="Twin")
    assert not LedgerEntry.objects.exists()


def test_a_complete_profile_needs_all_five_fields():
    full = Member(first_name="A", last_name="B", email="a@example.com", phone="+48601000002",
                  birth_date=dt.date(1990, 1, 1))
    assert member_profile_is_complete(full)
    for field, blank in [("first_name", " "), ("last_name", ""), ("email", ""), ("phone", ""), ("birth_date", None)]:
        partial = Member(**{**{f: getattr(full, f) for f in ("first_name", "last_name", "email", "phone",
                                                              "birth_date")}, field: blank})
        assert not member_profile_is_complete(partial), field


def test_completing_the_profile_grants_its_bonus_once(program):
    bonuses_on(profile=20)
    member = MemberFactory(phone="", birth_date=None)
    member_profile_update(member=member, first_name="Ada", last_name="Nowak", phone="+48601000003")
    assert bonus_entries(member) == []  # still no birth date
    member_profile_update(member=member, first_name="Ada", last_name="Nowak", phone="+48601000003",
                          birth_date=dt.date(1990, 5, 17))
    member_profile_update(member=member, first_name="Ada", last_name="Kowalska", phone="+48601000003",
                          birth_date=dt.date(1990, 5, 17))
    assert [e.breakdown[0]["bonus"] for e in bonus_entries(member)] == ["profile"]
    assert available(member) == 20


def test_the_profile_bonus_also_comes_when_a_confirmed_email_completes_it(program):
    bonuses_on(profile=20)
    user = UserFactory(email="late@example.com")
    member = MemberFactory(user=user, email="", phone="+48601000004", birth_date=dt.date(1990, 1, 1))
    member_email_confirmed(user=user, email="late@example.com")
    assert [e.points for e in bonus_entries(member)] == [20]


def test_a_till_enrollment_with_every_detail_gets_both_bonuses(program, store):
    bonuses_on(signup=50, profile=20)
    enrolled = till_member_enroll(
        user=StaffFactory(role="cashier"), store=store, first_name="Jan", last_name="Kos",
        email="kos@example.com", phone="+48601000005", birth_date=dt.date(1991, 2, 3),
    )
    assert sorted(e.breakdown[0]["bonus"] for e in bonus_entries(enrolled.member)) == ["profile", "signup"]


def test_the_hook_receivers_run_inside_the_enrollment_transaction(program):
    from members import hooks

    def refuse(**_):
        raise RuntimeError("receiver failed")

    with hooks.member_enrolled.replaced(refuse), pytest.raises(RuntimeError):
        member_signup(user=UserFactory(email="boom@example.com"), first_name="Boom")
    assert not Member.objects.filter(email="boom@example.com").exists()


def test_loyalty_registers_its_receivers_once(program):
    from loyalty.services.bonuses import bonus_hooks_register
    from members import hooks

    before = (hooks.member_enrolled.receivers, hooks.member_profile_changed.receivers)
    bonus_hooks_register()
    assert (hooks.member_enrolled.receivers, hooks.member_profile_changed.receivers) == before
    assert len(before[0]) == 1 and len(before[1]) == 1


# -- reviews -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("https://www.Example.com/reviews/42/", "http://example.com/reviews/42#top"),
        ("  G-Review  42 ", "g-review 42"),
        ("https://maps.example.com/r?id=7", "HTTPS://MAPS.EXAMPLE.COM/r?id=7"),
    ],
)
def test_spellings_of_the_same_review_are_one_reference(one, other):
    assert review_reference_normalise(one) == review_reference_normalise(other)


def test_different_reviews_are_different_references():
    assert review_reference_normalise("https://example.com/r/1") != review_reference_normalise("https://example.com/r/2")
    assert review_reference_normalise("https://example.com/r?id=1") != review_reference_normalise(
        "https://example.com/r?id=2"
    )


def test_a_review_is_rewarded_once_and_staff_are_told_when_it_was(program):
    bonuses_on(review=30)
    member, staff = MemberFactory(), StaffFactory()
    entry = bonus_review_mark(member=member, reference="https://example.com/r/1", actor=staff)
    assert entry.actor == staff and entry.breakdown[0]["occasion"] == "example.com/r/1"
    with pytest.raises(ReviewAlreadyRewarded) as error:
        bonus_review_mark(member=member, reference="http://www.example.com/r/1/", actor=staff)
    assert "example.com/r/1" in error.value.message
    bonus_review_mark(member=member, reference="https://example.com/r/2", actor=staff)
    assert available(member) == 60


def test_a_review_needs_a_reference_and_the_bonus_switched_on(program):
    member, staff = MemberFactory(), StaffFactory()
    with pytest.raises(BonusInactive):
        bonus_review_mark(member=member, reference="r-1", actor=staff)
    bonuses_on(review=30)
    with pytest.raises(ReviewReferenceRequired):
        bonus_review_mark(member=member, reference="   ", actor=staff)
    assert not LedgerEntry.objects.exists()


# -- birthdays and anniversaries ----------------------------------------------------------


def birthday_member(birth_date, **kwargs):
    return MemberFactory(birth_date=birth_date, enrolled_at=kwargs.pop("enrolled_at", local(2020, 1, 1)), **kwargs)


def test_a_birthday_is_granted_on_its_day_in_the_program_time_zone(program):
    bonuses_on(birthday=100)
    member = birthday_member(dt.date(1990, 5, 17))
    # 21:30 UTC on the 16th is still the 16th in UTC but already the 17th in Warsaw (UTC+2).
    assert bonuses_grant_due(as_of=dt.datetime(2026, 5, 16, 21, 30, tzinfo=dt.UTC)).granted == 0
    assert bonuses_grant_due(as_of=dt.datetime(2026, 5, 16, 22, 30, tzinfo=dt.UTC)).granted == 1
    [entry] = bonus_entries(member)
    assert entry.idempotency_key == "bonus:birthday:2026"
    assert entry.effective_at == local(2026, 5, 17)  # the start of the day, however late the run


def test_a_birthday_is_granted_once_a_year(program):
    bonuses_on(birthday=100)
    member = birthday_member(dt.date(1990, 5, 17))
    for _ in range(3):
        bonuses_grant_due(as_of=local(2026, 5, 17, 9))
    bonuses_grant_due(as_of=local(2026, 5, 20, 9))
    bonuses_grant_due(as_of=local(2027, 5, 17, 9))
    assert [e.idempotency_key for e in bonus_entries(member)] == ["bonus:birthday:2026", "bonus:birthday:2027"]


@pytest.mark.parametrize(
    ("as_of", "granted"),
    [
        (local(2027, 2, 28, 8), True),  # common year: on 28 February
        (local(2027, 3, 1, 8), True),  # a day late still finds the 28th
        (local(2028, 2, 28, 8), False),  # leap year: not yet
        (local(2028, 2, 29, 8), True),
    ],
)
def test_29_february_counts_on_28_february_in_common_years(program, as_of, granted):
    bonuses_on(birthday=100)
    member = birthday_member(dt.date(2000, 2, 29))
    bonuses_grant_due(as_of=as_of)
    assert bool(bonus_entries(member)) is granted


def test_29_february_is_not_granted_on_1_march_of_a_common_year(program):
    bonuses_on(birthday=100)
    member = birthday_member(dt.date(2000, 2, 29))
    bonuses_grant_due(as_of=local(2027, 3, 1, 8))
    assert bonus_entries(member)[0].effective_at == local(2027, 2, 28)


def test_a_late_run_grants_the_birthdays_of_the_last_seven_days_only(program):
    bonuses_on(birthday=100)
    six_days_ago = birthday_member(dt.date(1990, 5, 11))
    seven_days_ago = birthday_member(dt.date(1990, 5, 10))
    result = bonuses_grant_due(as_of=local(2026, 5, 17, 9))
    assert OCCASION_LOOKBACK_DAYS == 7
    assert result.granted == 1 and result.points == 100
    assert bonus_entries(six_days_ago) and not bonus_entries(seven_days_ago)


def test_a_member_who_enrolled_after_the_birthday_waits_for_next_year(program):
    bonuses_on(birthday=100)
    late = birthday_member(dt.date(1990, 5, 15), enrolled_at=local(2026, 5, 16, 10))
    same_day = birthday_member(dt.date(1990, 5, 16), enrolled_at=local(2026, 5, 16, 10))
    bonuses_grant_due(as_of=local(2026, 5, 17, 9))
    assert not bonus_entries(late)
    [entry] = bonus_entries(same_day)
    assert entry.effective_at == local(2026, 5, 16, 10)  # not before the member existed


def test_only_active_members_get_birthdays(program):
    bonuses_on(birthday=100)
    blocked = birthday_member(dt.date(1990, 5, 17), status=Member.Status.BLOCKED)
    deleted = birthday_member(dt.date(1990, 5, 17), status=Member.Status.DELETED)
    assert bonuses_grant_due(as_of=local(2026, 5, 17, 9)).granted == 0
    assert not bonus_entries(blocked) and not bonus_entries(deleted)


def test_anniversaries_count_the_years_from_one_in_the_program_time_zone(program):
    bonuses_on(anniversary=200)
    # 23:30 UTC on 10 March is 11 March in Warsaw: the anniversary is the 11th.
    member = MemberFactory(enrolled_at=dt.datetime(2024, 3, 10, 23, 30, tzinfo=dt.UTC))
    assert bonuses_grant_due(as_of=local(2024, 3, 11, 9)).granted == 0  # the enrollment day itself
    assert bonuses_grant_due(as_of=local(2025, 3, 10, 23)).granted == 0
    assert bonuses_grant_due(as_of=local(2025, 3, 11, 0, 30)).granted == 1
    bonuses_grant_due(as_of=local(2025, 3, 12, 9))
    bonuses_grant_due(as_of=local(2026, 3, 11, 9))
    assert [e.breakdown[0]["occasion"] for e in bonus_entries(member)] == ["1", "2"]
    assert available(member) == 400


def test_an_enrollment_on_29_february_has_its_anniversary_on_28_february(program):
    bonuses_on(anniversary=200)
    member = MemberFactory(enrolled_at=local(2024, 2, 29, 12))
    bonuses_grant_due(as_of=local(2025, 2, 28, 9))
    assert [e.idempotency_key for e in bonus_entries(member)] == ["bonus:anniversary:1"]


def test_the_daily_run_does_nothing_while_the_bonuses_are_off(program, django_assert_max_num_queries):
    action_bonuses_save(values={Kind.BIRTHDAY: (100, False), Kind.ANNIVERSARY: (100, False)})
    birthday_member(dt.date(1990, 5, 17))
    action_bonuses_get()
    with django_assert_max_num_queries(1):
        assert bonuses_grant_due(as_of=local(2026, 5, 17, 9)).granted == 0


def test_a_repeated_run_reads_the_same_few_queries_however_many_members_were_granted(
    program, django_assert_max_num_queries
):
    bonuses_on(birthday=100)
    for n in range(12):
        birthday_member(dt.date(1990, 5, 17), email=f"b{n}@example.com")
    bonuses_grant_due(as_of=local(2026, 5, 17, 9))
    # One selection and one "already granted?" look-up per day with birthdays; no query per member.
    with django_assert_max_num_queries(2 * OCCASION_LOOKBACK_DAYS + 3):
        assert bonuses_grant_due(as_of=local(2026, 5, 17, 10)).granted == 0


def test_the_task_takes_an_instant_with_an_offset(program):
    bonuses_on(birthday=100)
    birthday_member(dt.date(1990, 5, 17))
    assert grant_occasion_bonuses.delay(as_of="2026-05-17T09:00:00+02:00").get() == {"granted": 1, "points": 100}
    with pytest.raises(ValueError, match="offset"):
        grant_occasion_bonuses(as_of="2026-05-17T09:00:00")


def test_beat_runs_both_bonus_jobs():
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"loyalty.tasks.grant_occasion_bonuses", "loyalty.tasks.grant_referral_bonuses"} <= tasks


# -- referrals ---------------------------------------------------------------------


@pytest.fixture
def window(program):
    program.return_window_days = 14
    program.save()
    return dt.timedelta(days=14)


@pytest.fixture
def referral(program):
    bonuses_on(referrer=100, referred=50)
    referrer = MemberFactory(email="ref@example.com", phone="+48601000010")
    friend = MemberFactory(email="friend@example.com", phone="+48601000011", referred_by=referrer)
    return referrer, friend


def buy(member, store, at, *, amount="20.00", external_id=None, source=Source.TILL):
    return purchase_record(
        external_id=external_id or f"P-{member.pk}-{at.timestamp()}", store=store, member=member,
        purchased_at=at, amount=Decimal(amount), source=source, now=max(at, timezone.now()),
    ).purchase


def test_referral_bonuses_wait_for_the_first_purchase_to_be_final(referral, store, window):
    referrer, friend = referral
    bought = timezone.now() - dt.timedelta(days=1)
    buy(friend, store, bought)
    assert referral_bonuses_grant_due(as_of=bought + window - dt.timedelta(minutes=1)).granted == 0
    result = referral_bonuses_grant_due(as_of=bought + window + dt.timedelta(hours=3))
    assert (result.granted, result.points) == (2, 150)
    [to_referrer] = bonus_entries(referrer)
    [to_friend] = bonus_entries(friend)
    assert to_referrer.idempotency_key == f"bonus:referrer:{friend.pk}"
    assert to_friend.idempotency_key == "bonus:referred:once"
    assert to_referrer.effective_at == to_friend.effective_at == bought + window  # when it became final


def test_with_no_return_window_the_referral_is_granted_at_the_next_run(referral, store):
    referrer, friend = referral
    bought = timezone.now() - dt.timedelta(minutes=5)
    buy(friend, store, bought)
    assert grant_referral_bonuses.delay().get() == {"granted": 2, "points": 150}
    assert available(referrer) == 100 and available(friend) == 50 + 20


def test_referral_bonuses_are_granted_once_however_often_the_job_runs(referral, store):
    referrer, friend = referral
    bought = timezone.now() - dt.timedelta(days=3)
    buy(friend, store, bought)
    buy(friend, store, bought + dt.timedelta(days=1))
    for hours in (1, 2, 30):
        referral_bonuses_grant_due(as_of=bought + dt.timedelta(hours=hours))
    assert len(bonus_entries(referrer)) == 1 and len(bonus_entries(friend)) == 1


def test_a_fully_refunded_first_purchase_does_not_count(referral, store, window):
    referrer, friend = referral
    bought = timezone.now() - dt.timedelta(days=20)
    purchase = buy(friend, store, bought)
    refund_record(external_id="RF-1", purchase=purchase, amount=Decimal("20.00"), source=Source.TILL,
                  refunded_at=bought + dt.timedelta(days=2))
    assert referral_bonuses_grant_due(as_of=timezone.now()).granted == 0
    assert not bonus_entries(referrer) and not bonus_entries(friend)


def test_a_partly_refunded_first_purchase_still_counts(referral, store, window):
    _referrer, friend = referral
    bought = timezone.now() - dt.timedelta(days=20)
    purchase = buy(friend, store, bought)
    refund_record(external_id="RF-2", purchase=purchase, amount=Decimal("5.00"), source=Source.TILL,
                  refunded_at=bought + dt.timedelta(days=2))
    assert referral_bonuses_grant_due(as_of=timezone.now()).granted == 2


def test_a_member_whose_first_purchase_is_imported_history_brings_no_referral(referral, store):
    _referrer, friend = referral
    buy(friend, store, timezone.now() - dt.timedelta(days=400), source=Source.IMPORT)
    buy(friend, store, timezone.now() - dt.timedelta(days=2))
    assert referral_bonuses_grant_due(as_of=timezone.now()).granted == 0


def test_a_referral_whose_purchase_became_final_over_thirty_days_ago_is_not_paid(referral, store):
    _referrer, friend = referral
    buy(friend, store, timezone.now() - dt.timedelta(days=31))
    assert referral_bonuses_grant_due(as_of=timezone.now()).granted == 0
    assert referral_bonuses_grant_due(as_of=timezone.now() - dt.timedelta(days=2)).granted == 2


def test_a_blocked_referrer_gets_nothing_but_the_new_member_does(referral, store):
    referrer, friend = referral
    Member.objects.filter(pk=referrer.pk).update(status=Member.Status.BLOCKED)
    buy(friend, store, timezone.now() - dt.timedelta(days=1))
    assert referral_bonuses_grant_due(as_of=timezone.now()).granted == 1
    assert not bonus_entries(referrer) and bonus_entries(friend)


def test_only_the_sides_switched_on_are_granted(program, store):
    action_bonuses_save(values={Kind.REFERRER: (100, True), Kind.REFERRED: (50, False)})
    referrer = MemberFactory()
    friend = MemberFactory(referred_by=referrer)
    buy(friend, store, timezone.now() - dt.timedelta(days=1))
    assert referral_bonuses_grant_due(as_of=timezone.now()).granted == 1
    assert bonus_entries(referrer) and not bonus_entries(friend)


@pytest.mark.parametrize("same", ["email", "phone", "self"])
def test_one_person_referring_themselves_never_gets_a_bonus(program, store, same):
    bonuses_on(referrer=100, referred=50)
    referrer = MemberFactory(email="one@example.com", phone="+48601000020")
    if same == "self":
        friend = referrer
        Member.objects.filter(pk=referrer.pk).update(referred_by=referrer)
    else:
        # Possible only around the sign-up checks (the referrer's details changed later, say).
        friend = MemberFactory(**{same: getattr(referrer, same) if same == "email" else "+48601000020"},
                               referred_by=referrer)
    buy(friend, store, timezone.now() - dt.timedelta(days=1))
    assert referral_bonuses_grant_due(as_of=timezone.now()).granted == 0
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.BONUS).exists()


def test_referrals_are_found_without_a_query_per_member(program, store, django_assert_max_num_queries):
    bonuses_on(referrer=100, referred=50)
    referrer = MemberFactory()
    for n in range(10):
        friend = MemberFactory(referred_by=referrer, email=f"f{n}@example.com")
        buy(friend, store, timezone.now() - dt.timedelta(days=1))
    assert referral_bonuses_grant_due(as_of=timezone.now()).granted == 20
    with django_assert_max_num_queries(4):
        assert referral_bonuses_grant_due(as_of=timezone.now()).granted == 0
    total = LedgerEntry.objects.filter(account__member=referrer).aggregate(s=Sum("points"))["s"]
    assert total == 1000


# -- concurrency (PostgreSQL) -------------------------------------------------------

THREADS = 8


def _in_threads(count, work):
    from tests.loyalty.test_concurrency import in_threads

    return in_threads(count, work)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_triggers_grant_a_bonus_once():
    ProgramFactory()
    bonuses_on(signup=50, review=30)
    member = MemberFactory()

    def work(index):
        kind, occasion = (Kind.SIGNUP, "once") if index % 2 else (Kind.REVIEW, "r-1")
        return bonus_grant(member=member, kind=kind, occasion=occasion).pk

    ids = _in_threads(THREADS, work)
    assert len(set(ids)) == 2
    assert available(member) == 80
    assert LedgerEntry.objects.filter(account__member=member).count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_review_marks_reward_it_once_and_tell_the_others():
    ProgramFactory()
    bonuses_on(review=30)
    member, staff = MemberFactory(), StaffFactory()

    def work(index):
        try:
            bonus_review_mark(member=member, reference=f"https://example.com/r/1{'/' * (index % 2)}", actor=staff)
        except ReviewAlreadyRewarded:
            return "refused"
        return "granted"

    outcomes = _in_threads(THREADS, work)
    assert sorted(outcomes) == ["granted"] + ["refused"] * (THREADS - 1)
    assert available(member) == 30


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_periodic_runs_give_the_same_ledger_as_one():
    ProgramFactory()
    store = StoreFactory(code="WAW")
    bonuses_on(birthday=100, anniversary=200, referrer=40, referred=20)
    today = timezone.now().astimezone(WARSAW)
    for n in range(6):
        # Born today (1992 is a leap year); enrolled two years and up to five days ago.
        MemberFactory(birth_date=today.date().replace(year=1992), email=f"c{n}@example.com",
                      enrolled_at=today - dt.timedelta(days=365 * 2 + n))
    referrer = MemberFactory(email="r@example.com")
    for n in range(4):
        friend = MemberFactory(referred_by=referrer, email=f"fr{n}@example.com")
        buy(friend, store, timezone.now() - dt.timedelta(hours=2))
    as_of = timezone.now()

    def work(index):
        job = bonuses_grant_due if index % 2 else referral_bonuses_grant_due
        return job(as_of=as_of, batch_size=3).granted

    granted = sum(_in_threads(THREADS, work))
    entries = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.BONUS)
    assert granted == entries.count()
    assert entries.values("account", "idempotency_key").distinct().count() == entries.count()
    assert entries.filter(idempotency_key__startswith="bonus:referr").count() == 8
    assert entries.filter(idempotency_key__startswith="bonus:birthday:").count() == 6
    assert entries.filter(idempotency_key__startswith="bonus:anniversary:").count() == 6
    assert bonuses_grant_due(as_of=as_of).granted == 0
    assert referral_bonuses_grant_due(as_of=as_of).granted == 0


def test_a_bonus_that_reaches_a_points_tier_upgrades_at_once(program):
    from loyalty.models import MemberTier, TierChange
    from loyalty.services.program import program_cache_clear
    from tests.factories import TierFactory

    program.tier_metric = "points"
    program.save()
    program_cache_clear()
    silver = TierFactory(code="silver", rank=1, threshold=Decimal("100"))
    bonuses_on(signup=150)
    member = MemberFactory()
    bonus_grant(member=member, kind=Kind.SIGNUP, occasion="once")
    assert MemberTier.objects.get(member=member).tier == silver
    assert TierChange.objects.filter(member=member, to_tier=silver, reason=TierChange.Reason.QUALIFIED).count() == 1
