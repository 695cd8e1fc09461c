from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from rewards.exceptions import NotAPartnerReward, PartnerCodesFileInvalid
from rewards.models import Reward
from rewards.services.partner_codes import partner_codes_import, partner_file_error_text


class Command(BaseCommand):
    help = (
        "Add a partner's codes to the pool of a partner reward, from a CSV file (UTF-8, a BOM is "
        "accepted) with the header code and one code per line. All or nothing: every bad line is "
        "reported with its number (the header is line 1) and nothing is added. Codes already in "
        "the pool are skipped, so re-running the same file changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("reward", metavar="REWARD_CODE", help="the code of the partner reward")
        parser.add_argument("file", metavar="FILE.csv")
        parser.add_argument(
            "--dry-run", action="store_true", help="check the file and count the new codes, without adding them",
        )

    def handle(self, *args, reward, file, dry_run=False, **options):
        found = Reward.objects.filter(code=reward).first()
        if found is None:
            raise CommandError(_("No reward has the code %(code)s.") % {"code": reward})
        try:
            with open(file, "rb") as handle:
                result = partner_codes_import(reward=found, file=handle, dry_run=dry_run)
        except OSError as error:
            raise CommandError(
                _("%(file)s: cannot be read (%(error)s)") % {"file": file, "error": error.strerror}
            ) from None
        except PartnerCodesFileInvalid as invalid:
            for line, message in invalid.errors:
                self.stderr.write(f"{file}: {partner_file_error_text(line, message)}")
            raise CommandError(invalid.message) from None
        except NotAPartnerReward as error:
            raise CommandError(error.message) from None
        counts = {"added": result.added, "skipped": result.skipped, "free": result.free, "file": file}
        if dry_run:
            self.stdout.write(_(
                "Dry run: %(added)d new codes in %(file)s (%(skipped)d already in the pool); nothing was added."
            ) % counts)
        else:
            self.stdout.write(_(
                "Added %(added)d codes from %(file)s (%(skipped)d were already in the pool). Free codes now: %(free)d."
            ) % counts)
