import json

from django.core.management.base import BaseCommand, CommandError

from loyalty.exceptions import ProgramNotConfigured
from loyalty.services.program_io import program_export


class Command(BaseCommand):
    help = (
        "Print the program's configuration (settings, stores, tiers, earning rules and action "
        "bonuses) as JSON, for version control or to move it to another installation: "
        "export_program > program.json"
    )

    def handle(self, *args, **options):
        try:
            data = program_export()
        except ProgramNotConfigured as error:
            raise CommandError(error.message) from None
        self.stdout.write(json.dumps(data, indent=2, ensure_ascii=False))
