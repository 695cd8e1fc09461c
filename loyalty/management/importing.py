"""What the two import commands share: run the import, report its errors."""

from collections.abc import Callable

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from loyalty.imports.csvfile import ImportResult
from members.exceptions import LoyaltyError


def import_file(command: BaseCommand, *, importer: Callable[..., ImportResult], file: str) -> ImportResult:
    """Run ``importer`` on ``file``; on any error print each one and fail (exit status 1)."""
    try:
        result = importer(file=file)
    except OSError as error:
        raise CommandError(_("Cannot read %(file)s: %(error)s") % {"file": file, "error": error.strerror}) from None
    except LoyaltyError as error:  # e.g. the program is not set up yet
        raise CommandError(error.message) from None
    if result.ok:
        return result
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
