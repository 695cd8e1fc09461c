"""Reads of vouchers and voucher campaigns shaped for the staff pages, and
the reading of a campaign's list of members (pasted or uploaded) into
member ids.

A voucher's ``state`` is its status as a person should read it now: an
issued voucher past its end is ``expired`` even before the periodic task
marks it (``rewards.tasks.expire_vouchers``), as the services treat it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import Case, CharField, F, Q, QuerySet, Value, When
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from members.cards import CARD_LENGTH, card_number_is_valid
from members.models import Member
from rewards.models import Campaign, Reward, Voucher
from rewards.selectors.states import voucher_state_counts, voucher_state_q

Status = Voucher.Status

# What a campaign's list may hold in one submission, and how many ids one query asks for.
RECIPIENTS_MAX = 20_000
RECIPIENTS_FILE_MAX_BYTES = 2 * 1024 * 1024
LOOKUP_CHUNK = 1000
RECIPIENT_COLUMNS = ("card_number", "email")

_SEPARATORS = re.compile(r"[\s\-./]")


# -- vouchers ------------------------------------------------------------------------


def _with_state(vouchers: QuerySet[Voucher], *, now: dt.datetime) -> QuerySet[Voucher]:
    """Adds ``state``: the status, with issued vouchers past their end read as expired."""
    return vouchers.annotate(
        state=Case(
            When(status=Status.ISSUED, valid_until__lte=now, then=Value(Status.EXPIRED.value)),
            default=F("status"),
            output_field=CharField(),
        )
    )


def voucher_state_filter(state: str, *, now: dt.datetime) -> Q:
    """The vouchers whose ``state`` (see ``_with_state``) is ``state``."""
    return voucher_state_q(state, now=now)


def voucher_list_for_staff(
    *,
    state: str = "",
    reward: Reward | None = None,
    origin: str = "",
    member: Member | None = None,
    campaign: Campaign | None = None,
    now: dt.datetime | None = None,
) -> QuerySet[Voucher]:
    """Vouchers, newest first, with their reward, member, campaign and the store
    where they were used: one query per page (and one to count), whatever the
    filters. ``state`` is one of ``Voucher.Status`` as read now (``expired``
    includes issued vouchers past their end). Without a member or a campaign
    the list is ordered by id (the primary key's index: the newest issued are
    the highest ids); a member's list walks the ``voucher_member`` index.
    """
    now = now or timezone.now()
    vouchers = Voucher.objects.select_related("reward", "member", "campaign", "used_store")
    if state:
        vouchers = vouchers.filter(voucher_state_filter(state, now=now))
    if reward is not None:
        vouchers = vouchers.filter(reward=reward)
    if origin:
        vouchers = vouchers.filter(origin=origin)
    if member is not None:
        vouchers = vouchers.filter(member=member).order_by("-issued_at", "-pk")
    elif campaign is not None:
        vouchers = vouchers.filter(campaign=campaign).order_by("-issued_at", "-pk")
    else:
        vouchers = vouchers.order_by("-pk")
    return _with_state(vouchers, now=now)


def voucher_get_for_staff(*, pk: int, now: dt.datetime | None = None) -> Voucher | None:
    """One voucher with everything its staff page shows (who issued, used and
    cancelled it, where, its campaign or stamp card, its partner code, and the
    ledger entries that took and returned its points): one query."""
    vouchers = Voucher.objects.filter(pk=pk).select_related(
        "reward", "member", "campaign", "stamp_rule", "issued_store", "issued_by", "used_store", "used_by",
        "cancelled_by", "redeem_entry__actor", "return_entry__actor", "partner_code",
    )
    return _with_state(vouchers, now=now or timezone.now()).first()


# -- campaigns -----------------------------------------------------------------------


def _with_counts(campaigns: QuerySet[Campaign], *, now: dt.datetime) -> QuerySet[Campaign]:
    return campaigns.annotate(**voucher_state_counts(now=now))


def campaign_list_for_staff(*, now: dt.datetime | None = None) -> QuerySet[Campaign]:
    """Campaigns, newest first, with their reward, who created them and how
    many vouchers were issued, used, are open, cancelled and expired: one
    query (the vouchers are the one relation aggregated)."""
    campaigns = Campaign.objects.select_related("reward", "created_by").order_by("-created_at", "-pk")
    return _with_counts(campaigns, now=now or timezone.now())


def campaign_get_for_staff(*, pk: int, now: dt.datetime | None = None) -> Campaign | None:
    return campaign_list_for_staff(now=now).filter(pk=pk).first()


# -- a campaign's members, from what staff typed or uploaded --------------------------------


@dataclass
class Recipients:
    """Members read from a list: their ids (each once), and the errors as
    ``(line, message)`` (line 0: the list as a whole)."""

    member_ids: list[int] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)
    entries: int = 0  # lines that named someone


@dataclass(frozen=True)
class _Entry:
    line: int
    kind: str  # "card" or "email"
    value: str  # normalised: 13 digits, or a lower-case email
    typed: str


def _entry(line: int, text: str, errors: list[tuple[int, str]], *, kind: str = "") -> _Entry | None:
    """What one line names, or ``None`` after adding the reason to ``errors``."""
    typed = text.strip()
    if kind == "email" or (not kind and "@" in typed):
        try:
            validate_email(typed)
        except ValidationError:
            errors.append((line, gettext("“%(text)s” is not an email address.") % {"text": typed}))
            return None
        return _Entry(line=line, kind="email", value=typed.lower(), typed=typed)
    compact = _SEPARATORS.sub("", typed)
    if compact.isdigit():
        if len(compact) != CARD_LENGTH:
            errors.append((line, ngettext(
                "“%(text)s” is not a card number: a card number has %(length)d digit.",
                "“%(text)s” is not a card number: a card number has %(length)d digits.",
                CARD_LENGTH,
            ) % {"text": typed, "length": CARD_LENGTH}))
            return None
        if not card_number_is_valid(compact):
            errors.append((line, gettext(
                "%(text)s is not a valid card number: a digit is wrong or two are swapped."
            ) % {"text": typed}))
            return None
        return _Entry(line=line, kind="card", value=compact, typed=typed)
    errors.append((line, gettext("“%(text)s” is neither a card number nor an email address.") % {"text": typed}))
    return None


def _members_by_card(cards: list[str]) -> dict[str, tuple[int, ...]]:
    found: dict[str, tuple[int, ...]] = {}
    for start in range(0, len(cards), LOOKUP_CHUNK):
        rows = Member.objects.exclude(status=Member.Status.DELETED).filter(
            card_number__in=cards[start:start + LOOKUP_CHUNK]
        ).values_list("card_number", "pk")
        found.update((card, (pk,)) for card, pk in rows)
    return found


def _members_by_email(emails: list[str]) -> dict[str, tuple[int, ...]]:
    found: dict[str, list[int]] = {}
    for start in range(0, len(emails), LOOKUP_CHUNK):
        rows = (
            Member.objects.exclude(status=Member.Status.DELETED)
            .annotate(email_lower=Lower("email"))  # the member_email_lower index
            .filter(email_lower__in=emails[start:start + LOOKUP_CHUNK])
            .order_by("pk")
            .values_list("email_lower", "pk")
        )
        for email, pk in rows:
            found.setdefault(email, []).append(pk)
    return {email: tuple(pks) for email, pks in found.items()}


def recipients_resolve(entries: Iterable[tuple[int, str]], *, kinds: dict[int, str] | None = None) -> Recipients:
    """The members named by ``entries`` (``(line, text)``: a card number, with
    or without spaces and dashes, or an email in any case), each once.

    Every line that names nobody is an error with its line number: not a
    card number or an email, a card number with a wrong check digit, no
    member with that card or email (deleted members are not found), or an
    email that several members share (their card numbers tell them apart).
    Blocked members are found: the campaign skips them and says how many.
    Two queries per 1,000 lines.
    """
    result = Recipients()
    parsed: list[_Entry] = []
    for line, text in entries:
        result.entries += 1
        entry = _entry(line, text, result.errors, kind=(kinds or {}).get(line, ""))
        if entry is not None:
            parsed.append(entry)
    if result.entries > RECIPIENTS_MAX:
        result.errors.insert(0, (0, gettext(
            "The list has %(count)s lines; a campaign is issued to at most %(max)s members at a time. "
            "Split the list and issue each part: nobody is given a voucher twice."
        ) % {"count": result.entries, "max": RECIPIENTS_MAX}))
        return result
    by_card = _members_by_card(sorted({e.value for e in parsed if e.kind == "card"}))
    by_email = _members_by_email(sorted({e.value for e in parsed if e.kind == "email"}))
    seen: set[int] = set()
    for entry in parsed:
        found = (by_card if entry.kind == "card" else by_email).get(entry.value, ())
        if not found:
            if entry.kind == "card":
                message = gettext("No member has the card number %(card)s.") % {"card": entry.value}
            else:
                message = gettext("No member has the email %(email)s.") % {"email": entry.typed}
            result.errors.append((entry.line, message))
        elif len(found) > 1:
            result.errors.append((entry.line, ngettext(
                "%(count)d member has the email %(email)s; give their card number instead.",
                "%(count)d members have the email %(email)s; give their card numbers instead.",
                len(found),
            ) % {"count": len(found), "email": entry.typed}))
        elif found[0] not in seen:
            seen.add(found[0])
            result.member_ids.append(found[0])
    result.errors.sort(key=lambda error: error[0])
    return result


def recipients_from_text(text: str) -> Recipients:
    """One card number or email per line (line 1 is the first); blank lines are skipped."""
    entries = [(number, line) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not entries:
        return Recipients(errors=[(0, gettext("The list is empty: give one card number or email per line."))])
    return recipients_resolve(entries)


def recipients_from_csv(file: IO) -> Recipients:
    """A CSV file (UTF-8, a BOM accepted, comma-separated) whose header row
    (line 1) has a ``card_number`` or an ``email`` column, or both (a row's
    card number wins over its email); other columns are ignored, so a member
    export can be uploaded as it is. Blank rows are skipped."""
    raw = file.read(RECIPIENTS_FILE_MAX_BYTES + 1)
    if len(raw) > RECIPIENTS_FILE_MAX_BYTES:
        return Recipients(errors=[(0, gettext("The file is larger than %(size)d MB.") % {
            "size": RECIPIENTS_FILE_MAX_BYTES // (1024 * 1024),
        })])
    try:
        text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw.removeprefix("\ufeff")
    except UnicodeDecodeError:
        return Recipients(errors=[(0, gettext(
            "The file is not UTF-8 text. Save it as \"CSV UTF-8\" and upload it again."
        ))])
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as error:
        return Recipients(errors=[(1, gettext("The header row cannot be read: %(error)s") % {"error": error})])
    columns = [cell.strip().lower() for cell in header or []]
    positions = {name: columns.index(name) for name in RECIPIENT_COLUMNS if name in columns}
    if not positions:
        return Recipients(errors=[(1, gettext(
            "The first line must be a header with a card_number or an email column."
        ))])
    entries: list[tuple[int, str]] = []
    kinds: dict[int, str] = {}
    errors: list[tuple[int, str]] = []
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            errors.append((reader.line_num, gettext("This line cannot be read: %(error)s") % {"error": error}))
            break
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        card = row[positions["card_number"]].strip() if positions.get("card_number", len(row)) < len(row) else ""
        email = row[positions["email"]].strip() if positions.get("email", len(row)) < len(row) else ""
        if card:
            entries.append((line, card))
            kinds[line] = "card"
        elif email:
            entries.append((line, email))
            kinds[line] = "email"
        else:
            errors.append((line, gettext("This row has no card number and no email.")))
    if not entries and not errors:
        return Recipients(errors=[(0, gettext("The file has no members: after the header, one member per row."))])
    result = recipients_resolve(entries, kinds=kinds)
    result.errors = sorted(errors + result.errors, key=lambda error: error[0])
    result.entries += len(errors)
    return result
