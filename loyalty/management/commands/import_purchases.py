from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from loyalty.imports import import_purchases
from loyalty.management.importing import import_file


class Command(BaseCommand):
    help = (
        "Import purchases and refunds from a CSV file (UTF-8, commas, a header row; columns "
        "external_id, member, store, purchased_at, amount, currency, kind, refers_to). All or "
        "nothing: any bad row is reported with its line and field and nothing is written. "
        "Re-running the same file changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", metavar="FILE.csv")

    def handle(self, *args, file, **options):
        result = import_file(self, importer=import_purchases, file=file)
        self.stdout.write(
            _(
                "Imported %(purchases)d purchases and %(refunds)d refunds from %(file)s "
                "(%(skipped)d rows were imported before and skipped); points: %(earned)d earned, "
                "%(reversed)d reversed, on the accounts of %(accounts)d members."
            )
            % {
                "purchases": result.purchases, "refunds": result.refunds, "file": file,
                "skipped": result.skipped, "earned": result.points_earned,
                "reversed": result.points_reversed, "accounts": result.accounts,
            }
        )
