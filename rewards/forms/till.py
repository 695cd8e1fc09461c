"""Forms of the till's vouchers: telling a voucher code from a member search,
using a voucher, and confirming a redemption at the counter."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from loyalty.forms.till import _TillForm
from rewards.codes import VOUCHER_CODE_ALPHABET, VOUCHER_CODE_GROUP, VOUCHER_CODE_LENGTH, voucher_code_normalise

# Letters no code has but a cashier reading one aloud or typing it may put for 0, 1
# or an L-like stroke: a letters-only word with them is still meant as a code.
_CODE_CHARACTERS = frozenset(VOUCHER_CODE_ALPHABET) | frozenset("OIL")


def voucher_code_meant(text: str) -> bool:
    """Whether what was typed or scanned into the till's one box is meant as a
    voucher code rather than a card number, phone, email or name.

    A code is 15 characters of the code alphabet once normalised (dashes and
    spaces dropped); card numbers are 13 digits, and phones and emails hold
    ``+``, ``0``, ``1`` or ``@``, which no code has. Codes almost always mix
    letters and digits, which no card, phone or name does: mixed text of about
    a code's length (10 to 20 characters, say one left out, one typed twice or
    an ``O`` for a ``0``) is a code too, so that ``voucher_check`` says exactly
    what is wrong with it. A code of letters only is one when typed as one
    word or as three groups of five, even with an ``O``, ``I`` or ``L`` typed
    for a look-alike; words of other lengths ("Andrew Hernandez") are a name.
    Says nothing about whether the code is valid.
    """
    if "@" in text:
        return False
    code = voucher_code_normalise(text)
    if not (code.isascii() and code.isalnum()):
        return False
    # As typed: S and Z are read as 5 and 2 in codes, but a name's Z is no digit.
    letters, digits = any(c.isalpha() for c in text), any(c.isdigit() for c in text)
    if letters and digits:
        return VOUCHER_CODE_LENGTH - 5 <= len(code) <= VOUCHER_CODE_LENGTH + 5
    if len(code) != VOUCHER_CODE_LENGTH or not set(code) <= _CODE_CHARACTERS:
        return False
    words = text.split()
    return digits or len(words) == 1 or [len(word) for word in words] == [VOUCHER_CODE_GROUP] * 3


class VoucherUseForm(_TillForm):
    """The one action of a usable voucher: the receipt number (optional) and
    "Use voucher". The code travels in the body, never in the address."""

    prefix = "voucher"

    code = forms.CharField(widget=forms.HiddenInput, max_length=64)
    receipt = forms.CharField(
        label=_("Receipt number (optional)"), required=False, max_length=64,
        help_text=_("The receipt the voucher is taken on; scanning it moves on to the button."),
        widget=forms.TextInput(attrs={
            "autocomplete": "off", "class": "form-control-lg", "data-till-scan": True, "enterkeyhint": "next",
        }),
    )

    def __init__(self, *args, focus: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if focus:
            self.fields["receipt"].widget.attrs["autofocus"] = True

    def clean_receipt(self) -> str:
        return self.cleaned_data["receipt"].strip()


class RedeemForm(_TillForm):
    """Confirming a redemption: nothing to type. The form's token is drawn when
    the confirmation is shown and becomes the redemption's idempotency key, so
    the same confirmation sent twice issues one voucher."""

    prefix = "redeem"

    def idempotency_key(self) -> str:
        return f"till:{self.cleaned_data['token'].id}"
