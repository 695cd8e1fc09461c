"""Configuring tiers: saving with the checks that refuse contradictions, archiving."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from loyalty.currencies import money_format
from loyalty.models import (
    MemberTier,
    Program,
    Tier,
)
from loyalty.services.tiers.table import tiers_cache_clear

# -- configuring tiers (staff) ------------------------------------------------------


MULTIPLIER_BELOW_ONE = _("A multiplier below 1 would take points away; 1 keeps the base points.")


def tier_threshold_text(value: Decimal, program: Program | None) -> str:
    """A threshold as members and staff read it: money (spend) or points."""
    if program is not None and program.tier_metric == "points":
        return gettext("%(points)s points") % {"points": f"{int(value):,}".replace(",", "\u202f")}
    if program is not None:
        return money_format(value, program.currency)
    return str(value)


def _tier_errors(tier: Tier, program: Program | None) -> dict[str, list[ValidationError]]:
    errors: dict[str, list[ValidationError]] = {}

    def add(field: str, message: str, code: str, **params: object) -> None:
        errors.setdefault(field, []).append(ValidationError(message, code=code, params=params or None))

    if tier.multiplier is not None and tier.multiplier < 1:
        add("multiplier", MULTIPLIER_BELOW_ONE, "multiplier_below_one")
    if tier.is_paid:
        if tier.threshold is not None:
            add("threshold", _("A paid tier is granted by its fee, not reached: leave the threshold empty."),
                "paid_with_threshold")
        if tier.fee is None:
            add("fee", _("Give the fee that buys this paid tier."), "fee_missing")
        elif tier.fee <= 0:
            add("fee", _("The fee must be above zero."), "fee_not_positive")
        if not tier.period_months:
            add("period_months", _("Say for how many months the fee grants the tier."), "period_missing")
    else:
        if tier.threshold is None:
            add("threshold", _("A tier reached by spend or points needs a threshold."), "threshold_missing")
        elif tier.threshold <= 0:
            add("threshold", _("The threshold must be above zero."), "threshold_not_positive")
        if tier.fee is not None:
            add("fee", _("Only a paid tier has a fee: tick \"paid tier\" or leave the fee empty."),
                "fee_without_paid")
        if tier.period_months is not None:
            add("period_months", _("Only a paid tier has a period: tick \"paid tier\" or leave it empty."),
                "period_without_paid")
    others = Tier.objects.exclude(pk=tier.pk) if tier.pk else Tier.objects.all()
    if tier.rank is not None:
        taken = others.filter(rank=tier.rank).first()
        if taken is not None:
            add("rank", _("Rank %(rank)d is taken by %(other)s; each tier needs a rank of its own."), "rank_taken",
                rank=tier.rank, other=taken.name)
    if not tier.is_paid and not tier.archived and tier.threshold is not None and tier.rank is not None:
        for other in others.filter(archived=False, is_paid=False, threshold__isnull=False):
            lower_but_more = other.rank < tier.rank and other.threshold >= tier.threshold
            higher_but_less = other.rank > tier.rank and other.threshold <= tier.threshold
            if lower_but_more or higher_but_less:
                add(
                    "threshold",
                    _("Overlapping thresholds: %(other)s (rank %(rank)d) needs %(needs)s. Thresholds must "
                      "rise with rank: a higher tier needs more than every lower one.")
                    if lower_but_more else
                    _("Overlapping thresholds: %(other)s (rank %(rank)d) needs only %(needs)s. Thresholds must "
                      "rise with rank: a lower tier needs less than every higher one."),
                    "overlapping_thresholds",
                    other=other.name, rank=other.rank, needs=tier_threshold_text(other.threshold, program),
                )
    return errors


def _program_or_none() -> Program | None:
    return Program.objects.filter(pk=1).first()


def tier_validate(*, tier: Tier) -> None:
    """Raise a ``ValidationError`` naming each field that contradicts: thresholds
    that do not rise strictly with rank among the non-archived qualifying tiers
    ("overlapping thresholds"), a qualifying tier without a threshold, a paid
    tier with a threshold or without a fee and a period, a multiplier below 1,
    a rank taken, and a tier that members hold turning from qualifying to paid
    or back. Reads the other tiers; writes nothing."""
    program = _program_or_none()
    errors = _tier_errors(tier, program)
    try:
        tier.full_clean(validate_constraints=False)
    except ValidationError as error:
        for field, messages in error.error_dict.items():
            if field not in errors:  # ours say it better
                errors[field] = messages
    if tier.pk:
        was_paid = Tier.objects.filter(pk=tier.pk).values_list("is_paid", flat=True).first()
        if was_paid is not None and was_paid != tier.is_paid:
            holders = MemberTier.objects.filter(tier_id=tier.pk).count()
            if holders:
                errors.setdefault("is_paid", []).append(ValidationError(
                    ngettext(
                        "%(count)d member holds this tier: it cannot change between paid and reached by "
                        "spend or points. Create a new tier instead.",
                        "%(count)d members hold this tier: it cannot change between paid and reached by "
                        "spend or points. Create a new tier instead.", holders,
                    ),
                    code="kind_locked", params={"count": holders},
                ))
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def tier_save(*, tier: Tier) -> Tier:
    """Validate (``tier_validate``) and save a tier; clears the tier cache now
    and at commit. Takes no lock: the last save wins.
    """
    tier_validate(tier=tier)
    tier.save()
    transaction.on_commit(tiers_cache_clear)
    tiers_cache_clear()
    return tier


@transaction.atomic
def tier_archive(*, tier: Tier) -> Tier:
    """Archive a tier: nobody reaches or buys it any more; clears the tier cache.

    Members who hold it keep it (with its multiplier and benefits) until the
    next review moves them, without a grace period, to the tier they qualify
    for; holders of an archived paid tier keep it until their paid period
    ends. Its history stays. Takes no lock.
    """
    tier.archived = True
    tier.save(update_fields=["archived", "updated_at"])
    transaction.on_commit(tiers_cache_clear)
    tiers_cache_clear()
    return tier


def tier_restore(*, tier: Tier) -> Tier:
    """Bring an archived tier back, checked like ``tier_save`` (its threshold
    must fit between the other tiers')."""
    tier.archived = False
    return tier_save(tier=tier)
