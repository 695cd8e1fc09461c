"""What the analytics commands share: help translated in the language active
when the parser is built, and date options read one way."""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _


class TranslatedHelpCommand(BaseCommand):
    """A command whose ``help`` is a lazy translation: argparse needs a str, made
    when the parser is built, in the language active then."""

    def create_parser(self, prog_name, subcommand, **kwargs):
        self.help = str(self.help)
        return super().create_parser(prog_name, subcommand, **kwargs)


def date_option(value: str, option: str) -> dt.date:
    """``value`` of ``option`` as a date (``YYYY-MM-DD``), or a ``CommandError`` naming the option."""
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise CommandError(
            _("%(option)s: %(value)r is not a date in the form YYYY-MM-DD.") % {"option": option, "value": value}
        ) from None
