"""Action bonuses granted by the periodic jobs: birthdays and anniversaries
(daily occasions) and referrals (once the first purchase is final)."""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import ExtractDay, ExtractMonth, ExtractYear
from django.utils import timezone

from loyalty.models import LedgerEntry, Purchase, Source
from loyalty.services.bonuses.grants import ONCE, Kind, active_bonus, bonus_grant_once, bonus_key
from loyalty.services.program import program_get
from members.models import Member

OCCASION_LOOKBACK_DAYS = 7
REFERRAL_LOOKBACK_DAYS = 30
LIVE_SOURCES = (Source.TILL, Source.API, Source.STAFF)
"""Purchases that count for a referral: not history (imports, demo data)."""


# -- periodic: birthdays and anniversaries ----------------------------------------


@dataclass(frozen=True)
class BonusRun:
    granted: int
    points: int


def _month_day(day: dt.date, month: str, day_of_month: str) -> Q:
    """Dates falling on ``day`` each year; 29 February falls on 28 February in common years."""
    match = Q(**{month: day.month, day_of_month: day.day})
    if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
        match |= Q(**{month: 2, day_of_month: 29})
    return match


def _days(as_of: dt.datetime, tz) -> list[dt.date]:
    today = as_of.astimezone(tz).date()
    return [today - dt.timedelta(days=back) for back in range(OCCASION_LOOKBACK_DAYS - 1, -1, -1)]


def _day_start(day: dt.date, tz) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=tz)


def _batches(members: QuerySet[Member], batch_size: int) -> Iterator[list[Member]]:
    """``members`` in primary-key order, a batch at a time (keyset pages)."""
    last = 0
    while True:
        batch = list(members.filter(pk__gt=last).order_by("pk")[:batch_size])
        if not batch:
            return
        yield batch
        last = batch[-1].pk


def _grant_batch(batch: list[tuple[Member, str, str, dt.datetime]], *, now: dt.datetime) -> BonusRun:
    """Grant ``(member, kind, occasion, effective_at)``, skipping (in one query)
    those already granted."""
    keys = {bonus_key(kind, occasion) for _member, kind, occasion, _at in batch}
    done = set(
        LedgerEntry.objects.filter(account_id__in={member.pk for member, *_ in batch}, idempotency_key__in=keys)
        .values_list("account_id", "idempotency_key")
    )
    granted = points = 0
    for member, kind, occasion, effective_at in batch:
        if (member.pk, bonus_key(kind, occasion)) in done:
            continue
        entry, created = bonus_grant_once(
            member=member, kind=kind, occasion=occasion, now=now, effective_at=effective_at, actor=None
        )
        if created and entry is not None:
            granted += 1
            points += entry.points
    return BonusRun(granted=granted, points=points)


def bonuses_grant_due(*, as_of: dt.datetime | None = None, batch_size: int = 500) -> BonusRun:
    """Grant the birthday and anniversary bonuses of the ``OCCASION_LOOKBACK_DAYS``
    local days (program time zone) ending with ``as_of``'s.

    Active members only, selected by month and day in the database, in
    keyset batches; a birthday counts from the year after birth and only when
    the member had enrolled by the end of that day; anniversaries count from
    1. Each grant is its own short transaction (``bonus_grant``: the account
    lock and the key), dated at the start of the day (or the enrollment, if
    later). Idempotent, safe to run late and concurrently.
    """
    now = timezone.now()
    as_of = as_of or now
    tz = program_get().tz
    granted = points = 0
    active = Member.objects.filter(status=Member.Status.ACTIVE)
    for day in _days(as_of, tz):
        start, end = _day_start(day, tz), _day_start(day + dt.timedelta(days=1), tz)
        if active_bonus(Kind.BIRTHDAY) is not None:
            born = active.filter(
                _month_day(day, "birth_date__month", "birth_date__day"),
                birth_date__year__lt=day.year, enrolled_at__lt=end,
            )
            for batch in _batches(born, batch_size):
                run = _grant_batch(
                    [(m, Kind.BIRTHDAY, str(day.year), max(start, m.enrolled_at)) for m in batch], now=now
                )
                granted, points = granted + run.granted, points + run.points
        if active_bonus(Kind.ANNIVERSARY) is not None:
            enrolled = active.annotate(
                e_month=ExtractMonth("enrolled_at", tzinfo=tz), e_day=ExtractDay("enrolled_at", tzinfo=tz),
                e_year=ExtractYear("enrolled_at", tzinfo=tz),
            ).filter(_month_day(day, "e_month", "e_day"), e_year__lt=day.year)
            for batch in _batches(enrolled, batch_size):
                run = _grant_batch(
                    [(m, Kind.ANNIVERSARY, str(day.year - m.e_year), start) for m in batch], now=now
                )
                granted, points = granted + run.granted, points + run.points
    return BonusRun(granted=granted, points=points)


# -- periodic: referrals -----------------------------------------------------------


def referral_is_same_person(member: Member, referrer: Member) -> bool:
    """The referred member and the referrer are one person: the same member,
    or the same email (any case), phone or card."""
    if member.pk == referrer.pk or member.card_number == referrer.card_number:
        return True
    email = member.email.strip().lower()
    if email and email == referrer.email.strip().lower():
        return True
    return bool(member.phone) and str(member.phone) == str(referrer.phone)


def referral_bonuses_grant_due(*, as_of: dt.datetime | None = None, batch_size: int = 500) -> BonusRun:
    """Grant both sides of each referral whose qualifying purchase became final
    within the ``REFERRAL_LOOKBACK_DAYS`` before ``as_of``.

    The qualifying purchase is the referred member's first purchase that is
    not fully refunded; it must be a live one (till, API, staff: a member
    whose first purchase is imported history was referred in the old
    system) and out of the return window (its lot released, or at once with
    a window of 0). Then the new member gets the ``referred`` bonus (once) and
    the referrer, if active, the ``referrer`` bonus (occasion: the new
    member's id), both dated when the purchase became final. Never when the
    two are one person (``referral_is_same_person``). Active referred members
    only, in keyset batches; each grant its own short transaction. Idempotent,
    safe to run late and concurrently.
    """
    now = timezone.now()
    as_of = as_of or now
    referred_on, referrer_on = active_bonus(Kind.REFERRED), active_bonus(Kind.REFERRER)
    if referred_on is None and referrer_on is None:
        return BonusRun(granted=0, points=0)
    window = dt.timedelta(days=program_get().return_window_days)
    final_by = as_of - window
    first_kept = Purchase.objects.filter(member=OuterRef("pk"), refunded_amount__lt=F("amount")).order_by(
        "purchased_at", "pk"
    )
    members = (
        Member.objects.filter(status=Member.Status.ACTIVE, referred_by__isnull=False)
        .select_related("referred_by")
        .annotate(
            first_at=Subquery(first_kept.values("purchased_at")[:1]),
            first_source=Subquery(first_kept.values("source")[:1]),
        )
        .filter(
            first_at__lte=final_by, first_at__gt=final_by - dt.timedelta(days=REFERRAL_LOOKBACK_DAYS),
            first_source__in=LIVE_SOURCES,
        )
    )
    granted = points = 0
    for batch in _batches(members, batch_size):
        grants = []
        for member in batch:
            referrer = member.referred_by
            if referral_is_same_person(member, referrer):
                continue
            final_at = member.first_at + window
            if referred_on is not None:
                grants.append((member, Kind.REFERRED, ONCE, final_at))
            if referrer_on is not None and referrer.status == Member.Status.ACTIVE:
                grants.append((referrer, Kind.REFERRER, str(member.pk), final_at))
        run = _grant_batch(grants, now=now) if grants else BonusRun(granted=0, points=0)
        granted, points = granted + run.granted, points + run.points
    return BonusRun(granted=granted, points=points)
