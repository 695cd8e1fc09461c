import json
import sys

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from loyalty.services.program_io import ProgramFileInvalid, program_import


class Command(BaseCommand):
    help = (
        "Apply a program file written by export_program: the program's settings, its stores "
        "and tiers (by code), earning rules (by key) and action bonuses (by kind). The whole "
        "file is checked first and every error is listed with its JSON path; then it is "
        "applied in one transaction, or not at all. Re-applying a file changes nothing. "
        "Tiers and rules not in the file are archived and bonuses switched off (nothing is "
        "deleted); stores not in the file, and sections the file leaves out, are left alone."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help=("the JSON file, or - for standard input"))
        parser.add_argument(
            "--dry-run", action="store_true",
            help=("check the file and show what would change, without writing"),
        )

    def handle(self, *args, file, dry_run=False, **options):
        try:
            if file == "-":
                data = json.load(sys.stdin)
            else:
                with open(file, encoding="utf-8-sig") as handle:
                    data = json.load(handle)
        except OSError as error:
            raise CommandError(
                _("%(file)s: cannot be read (%(error)s)") % {"file": file, "error": error.strerror}
            ) from None
        except UnicodeDecodeError:
            raise CommandError(_("%(file)s: is not UTF-8 text") % {"file": file}) from None
        except json.JSONDecodeError as error:
            raise CommandError(
                _("%(file)s: line %(line)d, column %(column)d: not valid JSON (%(error)s)")
                % {"file": file, "line": error.lineno, "column": error.colno, "error": error.msg}
            ) from None
        try:
            result = program_import(data=data, dry_run=dry_run)
        except ProgramFileInvalid as invalid:
            for error in invalid.errors:
                self.stderr.write(str(error))
            raise CommandError(invalid.message) from None
        if not result.changed:
            self.stdout.write(_("No changes: the program already matches %(file)s.") % {"file": file})
            return
        for change in result.changes:
            self.stdout.write(change)
        if dry_run:
            self.stdout.write(_("Dry run: nothing was written."))
        else:
            self.stdout.write(_("Applied %(count)d change(s).") % {"count": len(result.changes)})
