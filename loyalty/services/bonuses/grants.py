"""Action bonuses: the settings, granting once per occasion, reviews and the
members hooks (the package docstring has the rules)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import formats

from loyalty.exceptions import (
    BonusInactive,
    BonusPointsRequired,
    MemberNotActive,
    ReviewAlreadyRewarded,
    ReviewReferenceRequired,
)
from loyalty.models import ActionBonus, LedgerEntry
from loyalty.process_cache import ProcessCache
from loyalty.services.ledger import account_lock, points_credit
from loyalty.services.program import program_get
from loyalty.services.tiers import tier_upgrade_if_qualified
from members import hooks
from members.models import Member, User
from members.services.profile import member_profile_is_complete

Kind = ActionBonus.Kind
ONCE = "once"
KEY_PREFIX = "bonus:"
OCCASION_MAX = 80  # idempotency keys hold 100 characters
BONUSES_CACHE_KEY = "loyalty:action-bonuses:v1"










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
        if active and not (points or row):
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


def bonus_grant_once(
    *, member: Member, kind: str, occasion: str, now: dt.datetime | None, effective_at: dt.datetime | None,
    actor: User | None,
) -> tuple[LedgerEntry | None, bool]:
    """``bonus_grant`` that also says whether the entry is new (``False``: granted before, or nothing)."""
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
        program = program_get()
        if program.tier_metric == "points":  # a bonus counts towards a points tier: upgrade at once
            tier_upgrade_if_qualified(member_id=member.pk, now=entry.recorded_at, program=program)
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
    entry, _created = bonus_grant_once(
        member=member, kind=kind, occasion=occasion, now=now, effective_at=effective_at, actor=actor
    )
    return entry


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
    entry, created = bonus_grant_once(
        member=member, kind=Kind.REVIEW, occasion=occasion, now=now, effective_at=None, actor=actor
    )
    if entry is None:  # switched off meanwhile
        raise BonusInactive(bonus=Kind.REVIEW.label)
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
