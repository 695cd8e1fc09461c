"""Saving and archiving segments (``analytics.segments`` holds the condition
language; these are the writes)."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from analytics.models import Segment
from analytics.segments import segment_validate
from members.models import User


@transaction.atomic
def segment_save(
    *,
    segment: Segment | None = None,
    name: str,
    description: str = "",
    conditions: object,
    user: User | None = None,
) -> Segment:
    """Create a segment (``segment`` ``None``) or change one, after checking its
    name (unique) and conditions (``segment_validate``); a ``ValidationError``
    keyed by ``name`` / ``conditions`` changes nothing. An archived segment
    cannot be changed. Members are not stored: the segment is computed when used.
    Changing a segment locks its row and starts from the row as stored, so an
    archive made since ``segment`` was read is neither missed nor undone.
    """
    segment = (
        Segment(created_by=user) if segment is None else Segment.objects.select_for_update().get(pk=segment.pk)
    )
    if segment.archived_at is not None:
        raise ValidationError(
            {"name": ValidationError(_("An archived segment cannot be changed."), code="archived")}
        )
    errors: dict[str, list[ValidationError]] = {}
    try:
        segment.conditions = segment_validate(conditions)
    except ValidationError as error:
        errors["conditions"] = error.error_list
    segment.name = (name or "").strip()
    segment.description = (description or "").strip()
    try:
        segment.full_clean(exclude=["conditions", "created_by"])
    except ValidationError as error:
        for field, field_errors in error.error_dict.items():
            errors.setdefault(field, []).extend(field_errors)
    if errors:
        raise ValidationError(errors)
    segment.save()
    return segment


@transaction.atomic
def segment_archive(*, segment: Segment, now: dt.datetime | None = None) -> Segment:
    """Archive a segment: it leaves the list, and rules and campaigns naming it
    find nobody in it (``segment_members`` gives ``None``). Archiving an
    archived segment changes nothing. Locks the segment's row."""
    locked = Segment.objects.select_for_update().get(pk=segment.pk)
    if locked.archived_at is None:
        locked.archived_at = now or timezone.now()
        locked.save(update_fields=["archived_at", "updated_at"])
    return locked


@transaction.atomic
def segment_restore(*, segment: Segment) -> Segment:
    """Bring an archived segment back, conditions unchanged: rules and campaigns that
    still name it find its members again. Restoring a live segment changes nothing.
    Locks the segment's row."""
    locked = Segment.objects.select_for_update().get(pk=segment.pk)
    if locked.archived_at is not None:
        locked.archived_at = None
        locked.save(update_fields=["archived_at", "updated_at"])
    return locked
