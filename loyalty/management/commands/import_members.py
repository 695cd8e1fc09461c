from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from loyalty.imports import import_members
from loyalty.management.importing import import_file


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
        result = import_file(self, importer=import_members, file=file)
        self.stdout.write(
            _("Imported %(created)d members from %(file)s (%(skipped)d were imported before and skipped).")
            % {"created": result.created, "file": file, "skipped": result.skipped}
        )
