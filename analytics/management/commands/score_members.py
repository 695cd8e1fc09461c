"""``manage.py score_members``: one scoring run (RFM and CLV per member), as the nightly task does."""

from __future__ import annotations

from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from analytics.management.base import TranslatedHelpCommand, date_option
from analytics.models import RfmGroup
from analytics.services.scoring import members_score
from loyalty.services.program import program_get

HELP = gettext_lazy(
    "Compute and store every member's RFM scores and CLV prediction as of the start of a day "
    "in the program's time zone (default: today), then print the members per RFM group."
)


class Command(TranslatedHelpCommand):
    help = HELP

    def add_arguments(self, parser):
        parser.add_argument(
            "--as-of", metavar="YYYY-MM-DD", dest="as_of",
            help=_("Score as of the start of this day (purchases before it count); default today."),
        )

    def handle(self, *args, as_of=None, **options):
        day = None
        if as_of is not None:
            day = date_option(as_of, "--as-of")
            today = timezone.now().astimezone(program_get().tz).date()
            if day > today:
                raise CommandError(
                    _("--as-of: %(value)s is after today (%(today)s).")
                    % {"value": day.isoformat(), "today": today.isoformat()}
                )
        run = members_score(as_of=day)
        if run is None:
            raise CommandError(_("Another scoring run is under way; nothing was written."))
        summary = run.summary
        self.stdout.write(
            ngettext(
                "Scored %(count)d member as of %(as_of)s in %(seconds).1f s.",
                "Scored %(count)d members as of %(as_of)s in %(seconds).1f s.",
                run.members_scored,
            )
            % {"count": run.members_scored, "as_of": run.as_of.isoformat(), "seconds": summary["duration_seconds"]}
        )
        rows = [(str(group.label), summary["groups"][group.value]) for group in RfmGroup]
        rows.append((_("No purchase in the last 365 days"), summary["unscored"]))
        width = max(len(label) for label, _count in rows)
        for label, count in rows:
            self.stdout.write(f"  {label:<{width}}  {count:>8}")
