"""Feedback: a member rates the program 0-10 (for the NPS) with an optional comment,
at most once per ``FEEDBACK_INTERVAL_DAYS``."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import formats, timezone

from members.exceptions import FeedbackScoreInvalid, FeedbackTooSoon
from members.models import Feedback, Member

FEEDBACK_INTERVAL_DAYS = 90
COMMENT_MAX_LENGTH = 2000


def feedback_last_get(*, member: Member) -> Feedback | None:
    """The member's latest rating (one query, on the ``feedback_member_latest`` index)."""
    return Feedback.objects.filter(member_id=member.pk).order_by("-created_at", "-pk").first()


def feedback_next_allowed_at(*, last: Feedback | None) -> dt.datetime | None:
    """When the member may rate again after ``last`` (``None``: now)."""
    return last.created_at + dt.timedelta(days=FEEDBACK_INTERVAL_DAYS) if last else None


def _day(value: dt.datetime, tz: ZoneInfo | None) -> str:
    return formats.date_format(value.astimezone(tz or timezone.get_current_timezone()), "DATE_FORMAT")


@transaction.atomic
def feedback_give(
    *,
    member: Member,
    score: int,
    comment: str = "",
    tz: ZoneInfo | None = None,
    now: dt.datetime | None = None,
) -> Feedback:
    """Record the member's rating of the program.

    Refuses a score outside 0-10 (``FeedbackScoreInvalid``) and a second
    rating within ``FEEDBACK_INTERVAL_DAYS`` of the last one
    (``FeedbackTooSoon``, naming the day they can rate again, a calendar day
    in ``tz``, the program's zone). Locks the member's row, so two
    submissions at once give one rating. Not idempotent by key: the interval
    is what refuses a double submit.
    """
    if isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= 10:
        raise FeedbackScoreInvalid()
    comment = comment.strip()
    if len(comment) > COMMENT_MAX_LENGTH:
        raise ValueError("the form limits comments to COMMENT_MAX_LENGTH characters")
    now = now or timezone.now()
    Member.objects.select_for_update().filter(pk=member.pk).values_list("pk", flat=True).get()
    last = feedback_last_get(member=member)
    next_at = feedback_next_allowed_at(last=last)
    if last is not None and next_at is not None and now < next_at:
        raise FeedbackTooSoon(last=_day(last.created_at, tz), next=_day(next_at, tz))
    return Feedback.objects.create(member=member, score=score, comment=comment, created_at=now)
