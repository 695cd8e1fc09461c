"""Options shared by the management commands of the ledger."""

from __future__ import annotations

import datetime as dt

from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from loyalty.services.program import program_get

AS_OF_HELP = gettext_lazy(
    "Process what fell due at or before this instant, ISO 8601 (e.g. 2026-03-01T06:00 or "
    "2026-03-01T05:00:00+00:00); a value without an offset is in the program's time zone. "
    "Past or present, never the future. Default: now."
)


def as_of_parse(value: str | None, *, now: dt.datetime | None = None) -> dt.datetime:
    """The ``--as-of`` instant, aware; naive values are in the program's zone.

    Raises ``CommandError`` naming the option for an unparseable or future value.
    """
    now = now or timezone.now()
    if value is None:
        return now
    try:
        parsed = parse_datetime(value.strip())
    except ValueError:
        parsed = None
    if parsed is None:
        raise CommandError(
            _("--as-of: %(value)r is not an ISO 8601 date and time (e.g. 2026-03-01T06:00).")
            % {"value": value}
        )
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, program_get().tz)
    if parsed > now:
        raise CommandError(
            _("--as-of: %(value)s is in the future; give a past or present instant.") % {"value": value}
        )
    return parsed
