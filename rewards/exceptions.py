"""Domain errors of the rewards catalog and of vouchers.

Each carries a stable ``code`` for the API, an HTTP ``status`` and a
translatable message template with named parameters (see
``members.exceptions.LoyaltyError``).
"""

from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from members.exceptions import LoyaltyError

__all__ = [
    "InvalidVoucherCode",
    "LoyaltyError",
    "VoucherCodeBadCharacter",
    "VoucherCodeMistyped",
    "VoucherCodeWrongLength",
]


# -- voucher codes (checked before any lookup; they never say whether a code exists) --


class InvalidVoucherCode(LoyaltyError):
    """Base of the errors of a typed or scanned voucher code that cannot be a
    code at all: wrong length, a character codes never contain, or a check
    character that does not match."""

    code = "invalid_voucher_code"
    field = "code"
    template = _("This is not a voucher code. Check it and type it again.")


class VoucherCodeWrongLength(InvalidVoucherCode):
    """``reason`` is ``empty``, ``short`` or ``long``; ``expected`` the length."""

    code = "voucher_code_length"
    templates = {
        "empty": _("Type or scan a voucher code."),
        "short": ngettext_lazy(
            "This voucher code is too short: a code has %(expected)d character, not counting dashes and spaces.",
            "This voucher code is too short: a code has %(expected)d characters, not counting dashes and spaces.",
            "expected",
        ),
        "long": ngettext_lazy(
            "This voucher code is too long: a code has %(expected)d character, not counting dashes and spaces.",
            "This voucher code is too long: a code has %(expected)d characters, not counting dashes and spaces.",
            "expected",
        ),
    }

    def message_template(self) -> object:
        return self.templates.get(str(self.params.get("reason", "")), self.template)

    @property
    def message(self) -> str:
        return self.message_template() % self.params  # a lazy plural picks its form from ``expected``


class VoucherCodeBadCharacter(InvalidVoucherCode):
    """``character`` is the first character that no code contains."""

    code = "voucher_code_character"
    template = _(
        "Voucher codes never contain “%(character)s” (they have no 0, 1, O, I or L). Check the code and type it again."
    )


class VoucherCodeMistyped(InvalidVoucherCode):
    """The check character does not match: a character is wrong or two are swapped."""

    code = "voucher_code_mistyped"
    template = _(
        "This voucher code has a typing mistake: a character is wrong or two are swapped. "
        "Check the code and type it again."
    )
