"""ISO 4217 currencies, from Babel's CLDR data (no hand-kept list)."""

from decimal import Decimal

from babel.numbers import format_currency, get_currency_precision, list_currencies
from django.core.exceptions import ValidationError
from django.utils.translation import get_language, to_locale
from django.utils.translation import gettext_lazy as _


def validate_currency(value: str) -> None:
    if value not in list_currencies():
        raise ValidationError(
            _("%(value)s is not an ISO 4217 currency code (e.g. PLN, EUR, USD)."),
            params={"value": value}, code="invalid_currency",
        )


def currency_quantum(currency: str) -> Decimal:
    """The smallest unit of ``currency``: ``Decimal("0.01")`` for PLN."""
    return Decimal(1).scaleb(-get_currency_precision(currency))


def money_format(amount: Decimal, currency: str) -> str:
    return format_currency(amount, currency, locale=to_locale(get_language() or "en"))
