"""Action bonuses: points for an action rather than a purchase.

Each bonus is granted at most once per *occasion*, whatever runs its
trigger and however often: the ledger entry's idempotency key is
``bonus:<kind>:<occasion>`` on the member's account, looked for under the
account lock and backed by the ledger's unique key.

| kind | occasion | trigger |
| --- | --- | --- |
| sign-up | ``once`` | a live enrollment (portal sign-up, till): the ``member_enrolled`` hook |
| completed profile | ``once`` | first name, last name, email, phone and birth date all set |
|  |  | (``member_profile_is_complete``), at enrollment or any later save |
| referral, new member | ``once`` | ``referral_bonuses_grant_due``: the referred member's |
| referral, referrer | the referred member's id | first purchase is final (see below) |
| review | the normalised reference | staff mark it (``bonus_review_mark``) |
| birthday | the year | ``bonuses_grant_due``, in the program's time zone |
| anniversary | years since enrollment (1, 2, ...) | ``bonuses_grant_due`` |

A bonus that is switched off grants nothing (and a later run does not make
up for it beyond the look-backs below); a bonus is never taken back.

Late runs. ``bonuses_grant_due`` looks back ``OCCASION_LOOKBACK_DAYS`` local
days (today included): a run that is up to six days late still grants every
birthday and anniversary of the days it missed. ``referral_bonuses_grant_due``
grants referrals whose qualifying purchase became final within the last
``REFERRAL_LOOKBACK_DAYS``. Entries are dated at the occasion (the start of
the local day, or the moment the purchase became final), so the ledger does
not depend on when, how often or how concurrently the jobs run.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.db import transaction
from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import ExtractDay, ExtractMonth, ExtractYear
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _

from loyalty.exceptions import LoyaltyError, MemberNotActive
from loyalty.models import ActionBonus, LedgerEntry, Purchase, Source
from loyalty.process_cache import ProcessCache
from loyalty.services.ledger import account_lock, points_credit
from loyalty.services.program import program_get
from members import hooks
from members.models import Member, User
from members.services.profile import member_profile_is_complete

Kind = ActionBonus.Kind
ONCE = "once"
OCCASION_LOOKBACK_DAYS = 7
REFERRAL_LOOKBACK_DAYS = 30
LIVE_SOURCES = (Source.TILL, Source.API, Source.STAFF)
"""Purchases that count for a referral: not history (imports, demo data)."""
KEY_PREFIX = "bonus:"
OCCASION_MAX = 80  # idempotency keys hold 100 characters
BONUSES_CACHE_KEY = "loyalty:action-bonuses:v1"


class BonusInactive(LoyaltyError):
    code = "bonus_inactive"
    status = 409
    template = _("The %(bonus)s bonus is switched off. Switch it on under Action bonuses first.")


class ReviewReferenceRequired(LoyaltyError):
    code = "review_reference_required"
    field = "reference"
    template = _("Give the review's link or id.")


class ReviewAlreadyRewarded(LoyaltyError):
    code = "review_already_rewarded"
    status = 409
    field = "reference"
    template = _("This review (%(reference)s) was already rewarded on %(date)s.")


class BonusPointsRequired(LoyaltyError):
    code = "bonus_points_required"
    template = _("Give the points of the %(bonus)s bonus to switch it on.")


# -- the configured bonuses ------------------------------------------------------


@dataclass(frozen=True)
class BonusSetting:
    kind: str
    points: int
    active: bool


def _load() -> tuple[str, dict[str, BonusSetting]]:
    rows = list(ActionBonus.objects.order_by("kind"))
    version = hashlib.sha1(
        ";".join(f"{row.pk}:{row.kind}:{row.points}:{row.active}:{row.updated_at}" for row in rows).encode(),
        usedforsecurity=False,
    ).hexdigest()
    return version, {row.kind: BonusSetting(kind=row.kind, points=row.points, active=row.active) for row in rows}


_settings = ProcessCache(key=BONUSES_CACHE_KEY, load=_load)


def action_bonuses_get() -> dict[str, BonusSetting]:
    """The configured bonuses by kind, kept in process memory while the cache
    vouches for them (a kind never configured is missing). Read-only."""
    return _settings.get()


def active_bonus(kind: str) -> BonusSetting | None:
    setting = action_bonuses_get().get(kind)
    return setting if setting is not None and setting.active else None


def action_bonuses_cache_clear() -> None:
    _settings.clear()


@transaction.atomic
def action_bonuses_save(*, values: Mapping[str, tuple[int | None, bool]]) -> list[str]:
    """Set the points and the on/off switch of each kind in ``values``
    (``kind: (points, active)``); returns the kinds that changed.

    A kind switched on needs points (``BonusPointsRequired`` naming it); a
    kind off without points and never configured stays unconfigured. Locks
    the bonus rows; clears the cache now and at commit.
    """
    existing = {row.kind: row for row in ActionBonus.objects.select_for_update().order_by("pk")}
    changed = []
    for kind, (points, active) in values.items():
        label = Kind(kind).label
        row = existing.get(kind)
        if active and not points:
            raise BonusPointsRequired(bonus=label)
        if row is None:
            if points:
                ActionBonus.objects.create(kind=kind, points=points, active=active)
                changed.append(kind)
            continue
        points = points or row.points
        if (row.points, row.active) != (points, active):
            row.points, row.active = points, active
            row.save(update_fields=["points", "active", "updated_at"])
            changed.append(kind)
    transaction.on_commit(action_bonuses_cache_clear)
    action_bonuses_cache_clear()
    return changed


# -- granting --------------------------------------------------------------------


def bonus_key(kind: str, occasion: str) -> str:
    """The ledger idempotency key of a bonus; a long occasion is replaced by its digest."""
    if len(occasion) > OCCASION_MAX:
        occasion = "sha256-" + hashlib.sha256(occasion.encode()).hexdigest()
    return f"{KEY_PREFIX}{kind}:{occasion}"


def _grant(
    *, member: Member, kind: str, occasion: str, now: dt.datetime | None, effective_at: dt.datetime | None,
    actor: User | None,
) -> tuple[LedgerEntry | None, bool]:
    setting = active_bonus(kind)
    if setting is None or member.status != Member.Status.ACTIVE:
        return None, False
    key = bonus_key(kind, occasion)
    with transaction.atomic():
        account = account_lock(member_id=member.pk)
        previous = account.entries.filter(idempotency_key=key).first()
        if previous is not None:
            return previous, False
        entry = points_credit(
            member=member, points=setting.points, kind=LedgerEntry.Kind.BONUS, idempotency_key=key,
            actor=actor, now=now, effective_at=effective_at,
            breakdown=[{"rule": "bonus", "bonus": kind, "occasion": occasion, "points": setting.points}],
        )
    return entry, True


def bonus_grant(
    *,
    member: Member,
    kind: str,
    occasion: str,
    now: dt.datetime | None = None,
    actor: User | None = None,
    effective_at: dt.datetime | None = None,
) -> LedgerEntry | None:
    """Credit the ``kind`` bonus for ``occasion`` when it is switched on and the
    member is active; ``None`` otherwise.

    Once per occasion: locks the member's ``PointsAccount`` row, then looks
    for the key ``bonus:<kind>:<occasion>``; when found (granted before, or
    by a concurrent run that held the lock first) returns that entry,
    whatever the bonus's points are now. The entry is available at once,
    carries ``[{"rule": "bonus", "bonus": kind, "occasion": occasion,
    "points": n}]`` as its breakdown (shown translated) and ``actor``.
    ``effective_at`` (default ``now``) dates an occasion that came earlier.
    Runs in the caller's transaction when there is one.
    """
    return _grant(member=member, kind=kind, occasion=occasion, now=now, effective_at=effective_at, actor=actor)[0]


def bonus_grant_profile(*, member: Member, now: dt.datetime | None = None) -> LedgerEntry | None:
    """The completed-profile bonus (once), when the profile is complete."""
    if active_bonus(Kind.PROFILE) is None or not member_profile_is_complete(member):
        return None
    return bonus_grant(member=member, kind=Kind.PROFILE, occasion=ONCE, now=now)


def review_reference_normalise(value: str) -> str:
    """One spelling of a review's link or id: a web link without its scheme,
    ``www.``, fragment or trailing slash, with the host in lower case; any
    other reference trimmed and case-folded."""
    text = " ".join(value.split())
    if not text:
        raise ReviewReferenceRequired()
    parts = urlsplit(text if "://" in text else "")
    if parts.scheme.lower() in {"http", "https"} and parts.hostname:
        host = parts.hostname.removeprefix("www.")
        port = f":{parts.port}" if parts.port and parts.port not in {80, 443} else ""
        query = f"?{parts.query}" if parts.query else ""
        return f"{host}{port}{parts.path.rstrip('/')}{query}"
    return text.casefold()


def bonus_review_mark(
    *, member: Member, reference: str, actor: User, now: dt.datetime | None = None
) -> LedgerEntry:
    """Staff mark a review by ``member`` (its link or id): the review bonus, once
    per review. ``ReviewAlreadyRewarded`` when this member's review was
    rewarded before (also when two staff mark it at once: the account lock
    serialises them), ``BonusInactive`` when the bonus is off,
    ``MemberNotActive`` for a blocked or deleted member. Locks the account."""
    occasion = review_reference_normalise(reference)
    if member.status != Member.Status.ACTIVE:
        raise MemberNotActive(card=member.card_number)
    if active_bonus(Kind.REVIEW) is None:
        raise BonusInactive(bonus=Kind.REVIEW.label)
    entry, created = _grant(
        member=member, kind=Kind.REVIEW, occasion=occasion, now=now, effective_at=None, actor=actor
    )
    assert entry is not None
    if not created:
        day = entry.effective_at.astimezone(program_get().tz).date()
        raise ReviewAlreadyRewarded(reference=occasion, date=formats.date_format(day, "DATE_FORMAT"))
    return entry


# -- hook receivers (registered in LoyaltyConfig.ready) -----------------------------


def _on_member_enrolled(*, member: Member, **_: object) -> None:
    bonus_grant(member=member, kind=Kind.SIGNUP, occasion=ONCE, effective_at=member.enrolled_at)
    bonus_grant_profile(member=member)


def _on_member_profile_changed(*, member: Member, **_: object) -> None:
    bonus_grant_profile(member=member)


def bonus_hooks_register() -> None:
    hooks.member_enrolled.register(_on_member_enrolled)
    hooks.member_profile_changed.register(_on_member_profile_changed)


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
        entry, created = _grant(
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
