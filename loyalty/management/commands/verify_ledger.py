from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from loyalty.ledger.verify import ledger_account_count, ledger_offenders


class Command(BaseCommand):
    help = (
        "Check that every member's cached balances (available, pending, debt) equal the sums "
        "of their ledger entries and of their lots, and that none is negative. Exits with "
        "status 1 and lists the offending members otherwise. Read-only."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--limit", type=int, default=100,
            help=("List at most this many offenders (all are counted). Default 100."),
        )

    def handle(self, *args, limit=100, **options):
        checked = ledger_account_count()
        offenders = 0
        for figures in ledger_offenders():
            offenders += 1
            if offenders <= limit:
                self.stderr.write(
                    _("member %(member_id)d (card %(card)s): %(problems)s")
                    % {
                        "member_id": figures.member_id, "card": figures.card_number,
                        "problems": "; ".join(figures.problems),
                    }
                )
        if offenders:
            raise CommandError(
                _("%(offenders)d of %(checked)d accounts disagree with the ledger.")
                % {"offenders": offenders, "checked": checked},
                returncode=1,
            )
        self.stdout.write(
            _("%(checked)d accounts checked: every balance equals its ledger entries and lots.")
            % {"checked": checked}
        )
