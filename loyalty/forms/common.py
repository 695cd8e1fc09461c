"""Choices and the crispy helper the staff and till forms share."""

from __future__ import annotations

import zoneinfo
from functools import cache

from babel.numbers import get_currency_name, list_currencies
from crispy_forms.helper import FormHelper
from django.utils.translation import get_language, to_locale

# -- choices ---------------------------------------------------------------------


@cache
def timezone_choices() -> list[tuple[str, str]]:
    names = sorted(
        name for name in zoneinfo.available_timezones()
        if "/" in name and not name.startswith(("Etc/", "SystemV/", "posix/", "right/"))
    )
    return [("UTC", "UTC"), *((name, name.replace("_", " ")) for name in names)]


def currency_choices() -> list[tuple[str, str]]:
    locale = to_locale(get_language() or "en")
    return [(code, f"{code} — {get_currency_name(code, locale=locale)}") for code in sorted(list_currencies())]


class NoTagHelper(FormHelper):
    """Crispy renders the fields; the template writes the ``<form>`` tag."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.form_tag = False
        self.disable_csrf = True
