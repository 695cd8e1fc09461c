from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from loyalty.imports import import_members
from members.exceptions import LoyaltyError


def print_errors(command: BaseCommand, *, file: str, result) -> None:
    """Every error kept, one line each, then fail with the count (exit status 1)."""
    for error in result.errors:
        command.stderr.write(str(error))
    hidden = result.error_count - len(result.errors)
    if hidden:
        command.stderr.write(_("... and %(count)d more errors.") % {"count": hidden})
    raise CommandError(
        ngettext(
            "%(count)d error in %(file)s; nothing was imported.",
            "%(count)d errors in %(file)s; nothing was imported.",
            result.error_count,
        )
        % {"count": result.error_count, "file": file}
    )


class Command(BaseCommand):
    help = (
        "Import members from a CSV file (UTF-8, commas, a header row; columns external_id, "
        "card_number, email, phone, first_name, last_name, birth_date, enrolled_at, store, "
        "language, marketing_consent, referred_by). All or nothing: any bad row is reported "
        "with its line and field and nothing is written. Re-running the same file changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", metavar="FILE.csv")

    def handle(self, *args, file, **options):
        try:
            result = import_members(file=file)
        except OSError as error:
            raise CommandError(
                _("Cannot read %(file)s: %(error)s") % {"file": file, "error": error.strerror}
            ) from None
        except LoyaltyError as error:  # e.g. the program is not set up yet
            raise CommandError(error.message) from None
        if not result.ok:
            print_errors(self, file=file, result=result)
        self.stdout.write(
            _("Imported %(created)d members from %(file)s (%(skipped)d were imported before and skipped).")
            % {"created": result.created, "file": file, "skipped": result.skipped}
        )
