"""The catalog as staff edit it: rewards and charities (reward images in
``rewards.services.images``, partner codes in ``rewards.services.partner_codes``).

``reward_save`` checks a reward as a whole (``reward_errors``: what each kind
needs, the redeemable window, the points cost of a catalog reward, the minimum
tier) and raises one ``ValidationError`` naming every field that is wrong.
Fields that the reward's kind does not use are emptied on save, so switching a
draft from a percent discount to a free product leaves no stray cap behind.

Stock moves with every redemption (a conditional ``UPDATE`` in
``rewards.services.redemption``), so a save never writes a stock it read
earlier: it locks the reward's row and keeps the stock as it is unless the
editor changed it, and refuses the change if redemptions moved the stock since
the form was shown (``stock_seen``).
"""

from __future__ import annotations

import copy
import logging
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from members.models import User
from rewards.models import Charity, Reward

logger = logging.getLogger(__name__)

LANGUAGES = tuple(code for code, _name in settings.LANGUAGES)
TRANSLATED = (*(f"name_{lang}" for lang in LANGUAGES), *(f"description_{lang}" for lang in LANGUAGES))
REWARD_FIELDS = (
    "code", "kind", *TRANSLATED, "in_catalog", "points_cost", "value", "max_discount", "sku", "event_at",
    "place", "charity", "min_tier", "stock", "member_limit", "member_limit_period", "available_from",
    "available_until", "voucher_valid_days",
)
CHARITY_FIELDS = ("code", *(f"name_{lang}" for lang in LANGUAGES), "active")
# Paths under /staff/rewards/ that are not reward codes.
RESERVED_CODES = frozenset({"new", "charities"})

Kind = Reward.Kind
# The kinds that use each kind-specific field; for the others it is emptied.
KIND_FIELDS: dict[str, frozenset[str]] = {
    "value": frozenset({Kind.AMOUNT, Kind.PERCENT, Kind.DONATION}),
    "max_discount": frozenset({Kind.PERCENT}),
    "sku": frozenset({Kind.PRODUCT}),
    "event_at": frozenset({Kind.EVENT}),
    "place": frozenset({Kind.EVENT}),
    "charity": frozenset({Kind.DONATION}),
    "stock": frozenset(set(Kind.values) - {Kind.PARTNER}),  # a partner reward's stock is its free codes
}
EMPTY: dict[str, Any] = {"sku": "", "place": ""}  # the others empty to None



class _Unseen:
    def __repr__(self) -> str:
        return "UNSEEN"


UNSEEN: Any = _Unseen()


def kind_uses(kind: str, field: str) -> bool:
    """Whether a reward of ``kind`` uses the kind-specific ``field`` (every kind uses the others)."""
    kinds = KIND_FIELDS.get(field)
    return kinds is None or kind in kinds


def reward_unused_fields(reward: Reward) -> list[str]:
    """The kind-specific fields that ``reward`` fills but its kind does not use."""
    return [
        field for field in KIND_FIELDS
        if not kind_uses(reward.kind, field) and getattr(reward, f"{field}_id" if field == "charity" else field)
        not in (None, "")
    ]


def _empty_unused(reward: Reward) -> None:
    for field in reward_unused_fields(reward):
        setattr(reward, field, EMPTY.get(field))


# -- checking a reward ------------------------------------------------------------------


def reward_errors(reward: Reward, *, stored: Reward | None, has_vouchers: bool = False) -> dict[str, list[str]]:
    """What is wrong with ``reward`` beyond the model's own checks, by field.

    ``stored`` is the reward as the database holds it (``None`` for a new one):
    the code and, once vouchers exist (``has_vouchers``), the kind cannot
    change; a minimum tier is checked only when it is being set. Reads nothing
    but what is passed in (and the charity and tier already on ``reward``).
    """
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    kind = reward.kind
    code = (reward.code or "").strip()
    if stored is None and code in RESERVED_CODES:
        add("code", gettext("%(code)s is a word the staff pages use; choose another code.") % {"code": code})
    if stored is not None and code != stored.code:
        add("code", gettext(
            "The code cannot change: program files and links name the reward by it. "
            "Create a new reward instead, and archive this one."
        ))
    if stored is not None and has_vouchers and kind != stored.kind:
        add("kind", gettext(
            "Vouchers were issued for this reward, so its kind cannot change. "
            "Create a new reward instead, and archive this one."
        ))

    value = reward.value
    if kind == Kind.AMOUNT:
        if value is None:
            add("value", gettext("Give the amount the discount takes off."))
        elif value <= 0:
            add("value", gettext("The discount must be above zero."))
    elif kind == Kind.PERCENT:
        if value is None:
            add("value", gettext("Give the discount in percent, e.g. 10."))
        elif not Decimal(0) < value <= Decimal(100):
            add("value", gettext("A percent discount must be above 0 and at most 100."))
        if reward.max_discount is not None and reward.max_discount <= 0:
            add("max_discount", gettext("The largest discount must be above zero, or empty for no cap."))
    elif kind == Kind.PRODUCT:
        if not (reward.sku or "").strip():
            add("sku", gettext("Give the SKU of the product given, so the till knows what to hand over."))
    elif kind == Kind.EVENT:
        if reward.event_at is None:
            add("event_at", gettext("Give the date and time the event starts."))
        if not (reward.place or "").strip():
            add("place", gettext("Give the place of the event."))
        if reward.stock is None:
            add("stock", gettext("An event has a capacity: give the places left (0 when it is full)."))
    elif kind == Kind.DONATION:
        if reward.charity_id is None:
            add("charity", gettext("Choose the charity that receives the donations."))
        elif not reward.charity.active and reward.status == Reward.Status.ACTIVE:
            add("charity", gettext(
                "%(charity)s no longer takes donations; choose an active charity."
            ) % {"charity": reward.charity.name})
        if value is None:
            add("value", gettext("Give the amount each donation gives to the charity."))
        elif value <= 0:
            add("value", gettext("A donation must give an amount above zero."))

    if reward.available_from and reward.available_until and reward.available_from >= reward.available_until:
        add("available_until", gettext("The end of the redeemable window must come after its start."))
    if reward.in_catalog and (reward.points_cost is None or reward.points_cost < 1):
        add("points_cost", gettext(
            "A reward in the catalog costs at least 1 point. To give it only through campaigns or stamp "
            "cards, clear \"in the catalog\"."
        ))
    tier_set = reward.min_tier_id is not None and (stored is None or stored.min_tier_id != reward.min_tier_id)
    if tier_set and reward.min_tier.archived:
        add("min_tier", gettext("%(tier)s is archived: choose a current tier, or none.") % {
            "tier": reward.min_tier.name,
        })
    return errors


def reward_validate(*, reward: Reward, stored: Reward | None = None) -> None:
    """Raise one ``ValidationError`` naming every wrong field of ``reward``
    (``reward_errors`` and the model's checks: code format and uniqueness, a
    name in English, numbers in range). Reads the vouchers and the stored row
    (``stored``, else looked up); writes nothing."""
    if stored is None and reward.pk:
        stored = Reward.objects.filter(pk=reward.pk).first()
    has_vouchers = stored is not None and stored.vouchers.exists()
    errors = reward_errors(reward, stored=stored, has_vouchers=has_vouchers)
    try:
        reward.full_clean(exclude=["name", "description", "image"])
    except ValidationError as error:
        for field, messages in error.message_dict.items():
            if field not in errors:  # ours say it better
                errors[field] = messages
    if errors:
        raise ValidationError(errors)


# -- saving, archiving ------------------------------------------------------------------


@transaction.atomic
def reward_save(
    *, reward: Reward | None, data: dict[str, Any], actor: User | None, stock_seen: Any = UNSEEN
) -> Reward:
    """Create (``reward=None``) or change a reward from ``data`` (field names of
    ``REWARD_FIELDS``; ``charity`` and ``min_tier`` as instances or ``None``).

    Checked as a whole (``reward_validate``); raises ``ValidationError`` by
    field and writes nothing then. Fields the kind does not use are emptied.
    Locks the reward's row first, so that the stock it writes is
    the current one: when ``data`` has no ``stock``, or the ``stock`` the
    editor was shown (``stock_seen``) is the one sent back, the stock is kept
    as redemptions left it; a changed stock is refused when redemptions moved
    it since ``stock_seen``. A partner reward's stock is its free codes (none
    is stored). Not idempotent by itself: saving the same data twice writes
    the same row twice.
    """
    unknown = set(data) - set(REWARD_FIELDS)
    if unknown:
        raise ValueError(f"not reward fields: {sorted(unknown)}")
    current = None
    if reward is None:
        reward = Reward()
    elif reward.pk:
        current = Reward.objects.select_for_update().filter(pk=reward.pk).first()
    for field, value in data.items():
        setattr(reward, field, value.strip() if isinstance(value, str) and field != "kind" else value)
    if current is not None:
        wanted = reward.stock if "stock" in data else current.stock
        untouched = "stock" not in data or (stock_seen is not UNSEEN and wanted == stock_seen)
        if untouched:
            reward.stock = current.stock
        elif stock_seen is not UNSEEN and stock_seen != current.stock and reward.kind != Kind.PARTNER:
            raise ValidationError({"stock": ValidationError(
                gettext(
                    "While you were editing, the stock moved from %(seen)s to %(now)s (redemptions or "
                    "cancellations). Check the stock and save again."
                ) % {"seen": _stock_text(stock_seen), "now": _stock_text(current.stock)},
                code="stock_moved",
            )})
    _empty_unused(reward)
    reward_validate(reward=reward, stored=current)
    reward.save()
    logger.info(
        "reward %s %s by %s", reward.code, "changed" if current else "created", getattr(actor, "pk", None),
    )
    return reward


def _stock_text(stock: int | None) -> str:
    return gettext("unlimited") if stock is None else str(stock)


@transaction.atomic
def reward_archive(*, reward: Reward, actor: User | None) -> Reward:
    """Take a reward out of the catalog: members can no longer redeem it, and
    campaigns no longer give it. Vouchers already issued stay usable until they
    expire. Idempotent; writes the status alone (never the stock)."""
    Reward.objects.filter(pk=reward.pk).update(status=Reward.Status.ARCHIVED, updated_at=timezone.now())
    reward.status = Reward.Status.ARCHIVED
    logger.info("reward %s archived by %s", reward.code, getattr(actor, "pk", None))
    return reward


@transaction.atomic
def reward_restore(*, reward: Reward, actor: User | None) -> Reward:
    """Bring an archived reward back, checked as a save is (say, its charity
    must still take donations). Raises ``ValidationError`` and changes nothing
    when it no longer passes. Idempotent; writes the status alone."""
    stored = Reward.objects.select_for_update().get(pk=reward.pk)
    candidate = copy.copy(stored)
    candidate.status = Reward.Status.ACTIVE
    reward_validate(reward=candidate, stored=stored)
    Reward.objects.filter(pk=reward.pk).update(status=Reward.Status.ACTIVE, updated_at=timezone.now())
    reward.status = Reward.Status.ACTIVE
    logger.info("reward %s restored by %s", reward.code, getattr(actor, "pk", None))
    return reward


# -- charities --------------------------------------------------------------------------


def charity_errors(charity: Charity, *, stored: Charity | None) -> dict[str, list[str]]:
    """The checks of a charity beyond the model's: its code is fixed once
    created; it cannot stop taking donations while active rewards give to it."""
    errors: dict[str, list[str]] = {}
    if stored is not None and charity.code != stored.code:
        errors["code"] = [gettext("The code cannot change: program files name the charity by it.")]
    if stored is not None and stored.active and not charity.active:
        rewards = list(
            Reward.objects.filter(charity_id=charity.pk, status=Reward.Status.ACTIVE).values_list("code", flat=True)
        )
        if rewards:
            errors["active"] = [ngettext(
                "Reward %(rewards)s still gives to this charity: archive it first.",
                "Rewards %(rewards)s still give to this charity: archive them first.",
                len(rewards),
            ) % {"rewards": ", ".join(rewards)}]
    return errors


@transaction.atomic
def charity_save(*, charity: Charity | None, data: dict[str, Any], actor: User | None) -> Charity:
    """Create (``charity=None``) or change a charity (code, names, active) from
    ``data``. Raises ``ValidationError`` by field. The donation totals are not
    written here (they move with donations, by ``F()`` updates): the save
    writes only the fields it edits. Locks the charity's row."""
    unknown = set(data) - set(CHARITY_FIELDS)
    if unknown:
        raise ValueError(f"not charity fields: {sorted(unknown)}")
    stored = None
    if charity is None:
        charity = Charity()
    elif charity.pk:
        stored = Charity.objects.select_for_update().filter(pk=charity.pk).first()
    for field, value in data.items():
        setattr(charity, field, value.strip() if isinstance(value, str) else value)
    errors = charity_errors(charity, stored=stored)
    try:
        charity.full_clean(exclude=["name", "donated_points", "donated_amount", "donations"])
    except ValidationError as error:
        for field, messages in error.message_dict.items():
            errors.setdefault(field, messages)
    if errors:
        raise ValidationError(errors)
    if stored is None:
        charity.save()
    else:
        charity.save(update_fields=[field for field in CHARITY_FIELDS if field != "code"])
    logger.info("charity %s saved by %s", charity.code, getattr(actor, "pk", None))
    return charity
