"""Card numbers: 13 digits in the EAN-13 in-store range, the last a check digit.

The ``29`` prefix is GS1's range for numbers used inside one business, so a
card prints as a standard EAN-13 barcode that every till scanner reads and
checks; the check digit also catches a mistyped number before any lookup.
"""

import secrets

CARD_PREFIX = "29"
CARD_LENGTH = 13


def ean13_check_digit(body: str) -> str:
    """The EAN-13 check digit for the first 12 digits ``body``."""
    if len(body) != CARD_LENGTH - 1 or not body.isdigit():
        raise ValueError("an EAN-13 body is 12 digits")
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return str((10 - total % 10) % 10)


def card_number_is_valid(number: str) -> bool:
    return (
        len(number) == CARD_LENGTH
        and number.isdigit()
        and ean13_check_digit(number[:-1]) == number[-1]
    )


def card_number_generate(*, rng: secrets.SystemRandom | None = None) -> str:
    """A new random card number (uniqueness is the caller's to check)."""
    rng = rng or secrets.SystemRandom()
    body = CARD_PREFIX + "".join(str(rng.randrange(10)) for _ in range(10))
    return body + ean13_check_digit(body)
