"""Voucher codes: random, easy to read aloud and to type, checked before any lookup.

A code is 14 random characters and one check character, 15 in all, shown to
people in groups of five (``7KQ4M-XR9DA-2HTW5``) and stored without the dashes
(``7KQ4MXR9DA2HTW5``): the *canonical* form, the only one that reaches the
database.

Alphabet (29 characters): the digits ``2``–``9`` and the letters without
``I L O S Z``::

    23456789ABCDEFGHJKMNPQRTUVWXY

- ``0 O`` and ``1 I L`` are all left out: each looks like the others in many
  fonts and in handwriting, and mapping one onto another would guess. A code
  typed with one of them is refused with a message naming the character.
- ``S`` and ``Z`` are left out and ``5`` and ``2`` kept: they differ from their
  digits only by curved against angular strokes, the most frequent misreading
  on receipts and screens. Because neither letter is in the alphabet, a typed
  ``S`` is read as ``5`` and a ``Z`` as ``2`` without ambiguity.
- ``B`` and ``8`` are both kept: they are told apart more easily (a straight
  side), and the alphabet must have a prime number of characters (29) for the
  check below; a confusion that is left is caught by the check character,
  which refuses the code rather than accepting another one.

Randomness: the 14 payload characters come from ``secrets.choice``:
14 × log2(29) ≈ 68.0 bits, above the 60 the program requires. Uniqueness is
the database's job (a unique index on the canonical code, with a retry); a
collision is about 1 in 2^68 per pair.

Check character: ISO/IEC 7064 *pure system* with modulus 29 and radix 2 (the
construction of ISO 7064 MOD 11-2 and MOD 37-2, with the alphabet's prime
size as modulus). With character values ``a`` (their index in the alphabet)
and the check character at position 0 counted from the right, a code is valid
when ``sum(a[i] * 2**i) ≡ 1 (mod 29)``. Every weight ``2**i mod 29`` is
non-zero and, as 2 has order 28 modulo 29, the 15 weights are all different;
29 is prime, so:

- changing one character changes the sum by ``w × (a − b)``, never 0 mod 29:
  every single substitution is caught, the check character's included;
- swapping two characters changes it by ``(w_i − w_j) × (a − b)``, never 0:
  every transposition is caught, adjacent or not.

The check character's value is below 29, so it is always a character of the
alphabet (MOD 37-2, by contrast, needs a 37th symbol, ``*``).
"""

import math
import re
import secrets
import unicodedata

from rewards.exceptions import VoucherCodeBadCharacter, VoucherCodeMistyped, VoucherCodeWrongLength

VOUCHER_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRTUVWXY"
VOUCHER_CODE_MODULUS = len(VOUCHER_CODE_ALPHABET)  # 29, a prime
VOUCHER_CODE_RADIX = 2
VOUCHER_CODE_PAYLOAD_LENGTH = 14
VOUCHER_CODE_LENGTH = VOUCHER_CODE_PAYLOAD_LENGTH + 1
VOUCHER_CODE_GROUP = 5
VOUCHER_CODE_BITS = VOUCHER_CODE_PAYLOAD_LENGTH * math.log2(len(VOUCHER_CODE_ALPHABET))

# Letters that are not in the alphabet but stand for one character that is.
# 0, O, 1, I and L are not here: each could stand for more than one thing.
VOUCHER_CODE_LOOK_ALIKES = {"S": "5", "Z": "2"}

_VALUE = {character: value for value, character in enumerate(VOUCHER_CODE_ALPHABET)}
# Spaces of every kind and the dashes a keyboard, a phone or a word processor type.
_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―−]+")
_LOOK_ALIKES = str.maketrans(VOUCHER_CODE_LOOK_ALIKES)


def voucher_code_check_character(payload: str) -> str:
    """The check character of ``payload`` (canonical characters only): the one
    that makes the weighted sum of the whole code 1 modulo 29."""
    total = 0
    for character in payload:
        total = (total + _VALUE[character]) * VOUCHER_CODE_RADIX % VOUCHER_CODE_MODULUS
    return VOUCHER_CODE_ALPHABET[(1 - total) % VOUCHER_CODE_MODULUS]


def voucher_code_new() -> str:
    """A new random code in canonical form (no dashes). Not checked for
    uniqueness: the caller stores it under a unique index and draws again on
    the (astronomically rare) conflict."""
    payload = "".join(secrets.choice(VOUCHER_CODE_ALPHABET) for _ in range(VOUCHER_CODE_PAYLOAD_LENGTH))
    return payload + voucher_code_check_character(payload)


def voucher_code_format(code: str) -> str:
    """``code`` grouped for people: ``7KQ4M-XR9DA-2HTW5``. Takes any form a
    person typed; groups whatever ``voucher_code_normalise`` makes of it."""
    code = voucher_code_normalise(code)
    return "-".join(code[i : i + VOUCHER_CODE_GROUP] for i in range(0, len(code), VOUCHER_CODE_GROUP))


def voucher_code_normalise(text: str) -> str:
    """What a cashier typed or a scanner read, in canonical characters: Unicode
    compatibility forms folded (full-width digits), upper case, spaces and
    dashes dropped, ``S`` read as ``5`` and ``Z`` as ``2``. Does not validate:
    see ``voucher_code_check``."""
    text = unicodedata.normalize("NFKC", text)
    return _SEPARATORS.sub("", text).upper().translate(_LOOK_ALIKES)


def voucher_code_check(text: str) -> str:
    """The canonical code of ``text``, or a ``InvalidVoucherCode`` subclass
    (``field="code"``) if it cannot be a code: a character no code contains
    (named in the message), a wrong length, or a check character that does not
    match. Pure: no lookup, so the errors say nothing about which codes exist."""
    code = voucher_code_normalise(text)
    for character in code:
        if character not in _VALUE:
            raise VoucherCodeBadCharacter(character=character)
    if len(code) != VOUCHER_CODE_LENGTH:
        reason = "empty" if not code else "short" if len(code) < VOUCHER_CODE_LENGTH else "long"
        raise VoucherCodeWrongLength(reason=reason, expected=VOUCHER_CODE_LENGTH)
    if voucher_code_check_character(code[:-1]) != code[-1]:
        raise VoucherCodeMistyped()
    return code
