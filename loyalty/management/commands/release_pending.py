from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from loyalty.management.options import AS_OF_HELP, as_of_parse
from loyalty.services.ledger import points_release_due


class Command(BaseCommand):
    help = (
        "Release pending points whose return window has ended, each dated when it fell due. "
        "Safe to run again or concurrently: the ledger ends the same. Celery beat runs the "
        "same job (loyalty.tasks.release_pending_points)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--as-of", dest="as_of", metavar="INSTANT", help=AS_OF_HELP)

    def handle(self, *args, as_of=None, **options):
        instant = as_of_parse(as_of)
        result = points_release_due(as_of=instant)
        self.stdout.write(
            _(
                "Released %(points)d points in %(entries)d entries for %(accounts)d members, "
                "as of %(as_of)s."
            )
            % {
                "points": result.points, "entries": result.entries, "accounts": result.accounts,
                "as_of": instant.isoformat(),
            }
        )
