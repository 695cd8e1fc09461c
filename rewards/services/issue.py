"""Making vouchers: codes, validity, and the row itself.

Every path that gives a member a voucher (a redemption, a campaign, a full
stamp card, a place freed on an event's waitlist) ends in ``voucher_create``.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.db import IntegrityError, transaction
from django.utils import formats, timezone

from loyalty.models import Store
from members.models import User
from rewards.codes import voucher_code_new
from rewards.models import Campaign, Reward, Voucher

CODE_ATTEMPTS = 5


def when_text(instant: dt.datetime, *, tz: zoneinfo.ZoneInfo | str) -> str:
    """``instant`` as the reader's date and a 24-hour time in ``tz``, for a message
    (not ``DATETIME_FORMAT``: English ends it with "p.m.", and a sentence ending
    in the date then ends in two full stops)."""
    zone = zoneinfo.ZoneInfo(tz) if isinstance(tz, str) else tz
    local = timezone.localtime(instant, zone)
    return f"{formats.date_format(local, 'DATE_FORMAT')} {formats.time_format(local, 'H:i')}"


def day_text(instant: dt.datetime, *, tz: zoneinfo.ZoneInfo | str) -> str:
    zone = zoneinfo.ZoneInfo(tz) if isinstance(tz, str) else tz
    return formats.date_format(timezone.localtime(instant, zone), "DATE_FORMAT")


def voucher_valid_until(*, reward: Reward, issued_at: dt.datetime, tz: zoneinfo.ZoneInfo) -> dt.datetime | None:
    """When a voucher for ``reward`` issued at ``issued_at`` stops being usable:
    an event's voucher at the end of the event's day (program zone), others
    ``voucher_valid_days`` after issue (``None``: no end)."""
    if reward.kind == Reward.Kind.EVENT and reward.event_at is not None:
        day = timezone.localtime(reward.event_at, tz).date() + dt.timedelta(days=1)
        return dt.datetime.combine(day, dt.time(), tzinfo=tz).astimezone(dt.UTC)
    if reward.voucher_valid_days:
        return issued_at + dt.timedelta(days=reward.voucher_valid_days)
    return None


def voucher_create(
    *,
    reward: Reward,
    member_id: int,
    origin: str,
    idempotency_key: str,
    now: dt.datetime,
    valid_until: dt.datetime | None,
    valid_from: dt.datetime | None = None,
    points: int = 0,
    channel: str = Voucher.Channel.SYSTEM,
    store: Store | None = None,
    issued_by: User | None = None,
    campaign: Campaign | None = None,
    stamp_rule_id: int | None = None,
    redeem_entry_id: int | None = None,
    used: bool = False,
) -> Voucher:
    """Insert one voucher with a fresh code (a new one is drawn in the 1 in
    2^68 case that it is taken). ``used`` marks it used at once (a donation:
    given as it is redeemed).

    Must run inside the caller's transaction, under the member's account lock
    (the caller has checked ``idempotency_key``).
    """
    voucher = Voucher(
        reward=reward, member_id=member_id, origin=origin, points=points, idempotency_key=idempotency_key,
        issued_at=now, valid_from=valid_from or now, valid_until=valid_until, issued_via=channel,
        issued_store=store, issued_by=issued_by, campaign=campaign, stamp_rule_id=stamp_rule_id,
        redeem_entry_id=redeem_entry_id,
    )
    if used:
        voucher.status, voucher.used_at, voucher.used_via = Voucher.Status.USED, now, channel
        voucher.used_store, voucher.used_by = store, issued_by
    for attempt in range(CODE_ATTEMPTS):
        voucher.code = voucher_code_new()
        try:
            with transaction.atomic():
                voucher.save(force_insert=True)
            return voucher
        except IntegrityError:
            if attempt == CODE_ATTEMPTS - 1 or Voucher.objects.filter(code=voucher.code).exists() is False:
                raise
            voucher.pk = None
    raise AssertionError("unreachable")
