"""Voucher codes: random, readable, and a mistyped code is refused before any lookup.

No test here is marked ``django_db``: pytest-django fails any database access,
so these also show that checking a code never touches the database.
"""

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from members.exceptions import LoyaltyError
from rewards.codes import (
    VOUCHER_CODE_ALPHABET,
    VOUCHER_CODE_BITS,
    VOUCHER_CODE_LENGTH,
    VOUCHER_CODE_PAYLOAD_LENGTH,
    voucher_code_check,
    voucher_code_check_character,
    voucher_code_format,
    voucher_code_new,
    voucher_code_normalise,
)
from rewards.exceptions import (
    InvalidVoucherCode,
    VoucherCodeBadCharacter,
    VoucherCodeMistyped,
    VoucherCodeWrongLength,
)

payloads = st.text(
    alphabet=VOUCHER_CODE_ALPHABET, min_size=VOUCHER_CODE_PAYLOAD_LENGTH, max_size=VOUCHER_CODE_PAYLOAD_LENGTH
)
codes = payloads.map(lambda payload: payload + voucher_code_check_character(payload))


def iso7064_mod29_2_is_valid(code: str) -> bool:
    """The documented rule, written out independently: sum(a[i] * 2**i) ≡ 1 (mod 29),
    i counted from the right, the check character at 0."""
    values = [VOUCHER_CODE_ALPHABET.index(c) for c in reversed(code)]
    return sum(value * 2**i for i, value in enumerate(values)) % 29 == 1


# -- the alphabet and the randomness -----------------------------------------------


def test_the_alphabet_has_no_look_alikes_and_a_prime_size():
    assert len(set(VOUCHER_CODE_ALPHABET)) == len(VOUCHER_CODE_ALPHABET) == 29
    assert all(29 % d for d in range(2, 29))  # prime: every weight and difference is invertible
    for missing in "0O1ILSZ":
        assert missing not in VOUCHER_CODE_ALPHABET
    assert set("23456789") <= set(VOUCHER_CODE_ALPHABET)


def test_a_code_carries_at_least_60_bits_of_randomness():
    bits = VOUCHER_CODE_PAYLOAD_LENGTH * math.log2(len(VOUCHER_CODE_ALPHABET))
    assert bits >= 60
    assert pytest.approx(bits) == VOUCHER_CODE_BITS
    assert VOUCHER_CODE_LENGTH == VOUCHER_CODE_PAYLOAD_LENGTH + 1


def test_new_codes_are_valid_canonical_and_all_different():
    drawn = [voucher_code_new() for _ in range(10_000)]
    assert len(set(drawn)) == len(drawn)
    for code in drawn:
        assert len(code) == VOUCHER_CODE_LENGTH
        assert voucher_code_check(code) == code
        assert iso7064_mod29_2_is_valid(code)
    # every character turns up at every random position: no position is fixed or narrowed,
    # so the entropy computed above is the entropy drawn (a miss has probability ~1e-148)
    for position in range(VOUCHER_CODE_PAYLOAD_LENGTH):
        assert {code[position] for code in drawn} == set(VOUCHER_CODE_ALPHABET)


def test_new_codes_draw_from_secrets(monkeypatch):
    monkeypatch.setattr("rewards.codes.secrets.choice", lambda alphabet: alphabet[3])
    code = voucher_code_new()
    assert code[:-1] == VOUCHER_CODE_ALPHABET[3] * VOUCHER_CODE_PAYLOAD_LENGTH
    assert voucher_code_check(code) == code


# -- the check character -------------------------------------------------------------


@given(code=codes)
def test_the_check_character_follows_iso_7064_mod_29_2(code):
    assert iso7064_mod29_2_is_valid(code)
    assert voucher_code_check(code) == code


@given(code=codes)
def test_every_single_substitution_is_refused(code):
    for position in range(VOUCHER_CODE_LENGTH):
        for character in VOUCHER_CODE_ALPHABET:
            if character == code[position]:
                continue
            typo = code[:position] + character + code[position + 1 :]
            with pytest.raises(VoucherCodeMistyped):
                voucher_code_check(typo)


@given(code=codes)
def test_every_adjacent_transposition_is_refused(code):
    for position in range(VOUCHER_CODE_LENGTH - 1):
        a, b = code[position], code[position + 1]
        if a == b:
            continue
        swapped = code[:position] + b + a + code[position + 2 :]
        with pytest.raises(VoucherCodeMistyped):
            voucher_code_check(swapped)


@given(code=codes)
def test_every_transposition_at_any_distance_is_refused(code):
    for i in range(VOUCHER_CODE_LENGTH):
        for j in range(i + 1, VOUCHER_CODE_LENGTH):
            if code[i] == code[j]:
                continue
            swapped = list(code)
            swapped[i], swapped[j] = swapped[j], swapped[i]
            with pytest.raises(VoucherCodeMistyped):
                voucher_code_check("".join(swapped))


def test_a_known_code():
    assert voucher_code_check_character("7KQ4MXR9DA2HTW") == "5"
    assert voucher_code_check("7kq4m-xr9da-2htw5") == "7KQ4MXR9DA2HTW5"
    with pytest.raises(VoucherCodeMistyped):
        voucher_code_check("7KQ4M-XR9DA-2HTW6")


# -- what people type and scanners read -----------------------------------------------------


@given(code=codes)
def test_the_grouped_form_is_three_groups_of_five_and_round_trips(code):
    shown = voucher_code_format(code)
    assert re.fullmatch(r"[%s]{5}-[%s]{5}-[%s]{5}" % ((VOUCHER_CODE_ALPHABET,) * 3), shown)
    assert voucher_code_normalise(shown) == code
    assert voucher_code_check(shown) == code
    assert voucher_code_format(shown) == shown


@given(data=st.data(), code=codes)
def test_case_separators_and_look_alikes_are_forgiven(data, code):
    typed = []
    for character in code:
        typed.append(data.draw(st.sampled_from(["", " ", "-", "  ", " - ", "\u00a0", "\u2013", "\t"])))
        variants = [character, character.lower()]
        if character == "5":
            variants += ["S", "s"]
        if character == "2":
            variants += ["Z", "z"]
        typed.append(data.draw(st.sampled_from(variants)))
    typed.append(data.draw(st.sampled_from(["", " ", "\n"])))
    text = "".join(typed)
    assert voucher_code_normalise(text) == code
    assert voucher_code_check(text) == code


def test_full_width_characters_from_a_phone_keyboard_are_read():
    assert voucher_code_check("７ＫＱ４Ｍ－ＸＲ９ＤＡ－２ＨＴＷ５") == "7KQ4MXR9DA2HTW5"


@pytest.mark.parametrize("bad", ["0", "O", "o", "1", "I", "i", "L", "l", "/", "*"])
def test_a_character_no_code_contains_is_named(bad):
    text = "7KQ4M-XR9DA-2HTW" + bad
    with pytest.raises(VoucherCodeBadCharacter) as refused:
        voucher_code_check(text)
    assert refused.value.params["character"] == bad.upper()
    assert f"“{bad.upper()}”" in refused.value.message
    assert refused.value.field == "code"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        (" - ", "empty"),
        ("7KQ4M-XR9DA", "short"),
        ("7KQ4M-XR9DA-2HTW", "short"),
        ("7KQ4M-XR9DA-2HTW55", "long"),
    ],
)
def test_a_wrong_length_is_refused_with_the_length_of_a_code(text, reason):
    with pytest.raises(VoucherCodeWrongLength) as refused:
        voucher_code_check(text)
    assert refused.value.params["reason"] == reason
    if reason != "empty":
        assert "15 characters" in refused.value.message
        assert ("too short" if reason == "short" else "too long") in refused.value.message


def test_the_errors_are_domain_errors_on_the_code_field():
    for error in (VoucherCodeBadCharacter, VoucherCodeWrongLength, VoucherCodeMistyped):
        assert issubclass(error, InvalidVoucherCode)
        assert issubclass(error, LoyaltyError)
        assert error.field == "code"
        assert error.status == 400
    assert len({VoucherCodeBadCharacter.code, VoucherCodeWrongLength.code, VoucherCodeMistyped.code}) == 3
    with pytest.raises(VoucherCodeMistyped) as refused:
        voucher_code_check("7KQ4M-XR9DA-2HTW6")
    assert "typing mistake" in refused.value.message
