"""Tiers in the program file: ``tiers`` is the whole list, matched by ``code``.

A tier of the program that the file does not list is archived (never
deleted: tier history and members' tiers name it). The list is checked as a
whole: codes and ranks unique, thresholds rising strictly with rank among the
qualifying (not paid, not archived) tiers, a paid tier with a fee and a period
and no threshold. Tiers are written here rather than through ``tier_save``,
which checks one tier against the others in the database: in the middle of an
import those are a mix of old and new.
"""

from __future__ import annotations

import itertools

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.utils.translation import gettext as _

from loyalty.models import MemberTier, Tier
from loyalty.services.tiers import tiers_cache_clear

from .base import INVALID, Reader, SectionPlan, decimal_or_null, decimal_str, differences

LANGUAGES = tuple(code for code, _name in settings.LANGUAGES)
DEFAULT_LANGUAGE = settings.MODELTRANSLATION_DEFAULT_LANGUAGE
REQUIRED_KEYS = ("code", "name", "rank")
OPTIONAL_KEYS = ("benefits", "threshold", "multiplier", "is_paid", "fee", "period_months", "archived")
TIER_FIELDS = ("code", "rank", "threshold", "multiplier", "is_paid", "fee", "period_months", "archived")
RANK_MAX = 32767  # PositiveSmallIntegerField
RENAME = {
    **{f"name_{lang}": f"name.{lang}" for lang in LANGUAGES},
    **{f"benefits_{lang}": f"benefits.{lang}" for lang in LANGUAGES},
}


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def tier_json(tier: Tier) -> dict:
    """A tier as the file writes it (also the form two tiers are compared in)."""
    return {
        "code": tier.code,
        "name": {lang: getattr(tier, f"name_{lang}") or "" for lang in LANGUAGES},
        "benefits": {lang: _lines(getattr(tier, f"benefits_{lang}")) for lang in LANGUAGES},
        "rank": tier.rank,
        "threshold": decimal_or_null(tier.threshold),
        "multiplier": decimal_str(tier.multiplier),
        "is_paid": tier.is_paid,
        "fee": decimal_or_null(tier.fee),
        "period_months": tier.period_months,
        "archived": tier.archived,
    }


def tiers_export() -> list[dict]:
    return [tier_json(tier) for tier in Tier.objects.order_by("rank")]


def _translations(raw: object, path: str, read: Reader, *, lines: bool) -> dict | None:
    """``{"en": ..., "pl": ...}``: a string per language, or a list of lines (benefits)."""
    what = ", ".join(LANGUAGES)
    if read.object(raw, path, what) is INVALID:
        return None
    values = {}
    for lang, value in raw.items():
        where = f"{path}.{lang}"
        if lang not in LANGUAGES:
            read.error(where, _("unknown language (use %(languages)s)") % {"languages": what})
        elif not lines:
            value = read.string(value, where)
            if value is not INVALID:
                values[lang] = value
        elif not isinstance(value, list) or not all(isinstance(line, str) for line in value):
            read.error(where, _("must be a list of lines (strings)"))
        elif any("\n" in line or "\r" in line for line in value):
            read.error(where, _("one benefit per line: a line must not hold a line break"))
        else:
            values[lang] = [line.strip() for line in value if line.strip()]
    return values


def _tier_from_file(item: dict, prefix: str, tier: Tier, read: Reader) -> list[str]:
    """Set ``tier``'s fields from the file's entry; the fields that could not be read."""
    bad = []

    def take(key: str, value: object) -> None:
        if value is INVALID:
            bad.append(key)
        else:
            setattr(tier, key, value)

    take("code", read.string(item.get("code", ""), f"{prefix}.code"))
    names = _translations(item.get("name", {}), f"{prefix}.name", read, lines=False)
    benefits = _translations(item.get("benefits", {}), f"{prefix}.benefits", read, lines=True)
    for lang in LANGUAGES:
        if names is None:
            bad.append(f"name_{lang}")
        else:
            name = names.get(lang, "")
            setattr(tier, f"name_{lang}", name or ("" if lang == DEFAULT_LANGUAGE else None))
        if benefits is None:
            bad.append(f"benefits_{lang}")
        else:
            text = "\n".join(benefits.get(lang, []))
            # An empty translation is null, so that it falls back to the default language.
            setattr(tier, f"benefits_{lang}", text or ("" if lang == DEFAULT_LANGUAGE else None))
    take("rank", read.integer(item.get("rank"), f"{prefix}.rank", minimum=0))
    take("threshold", read.decimal(item.get("threshold"), f"{prefix}.threshold", null=True))
    take("multiplier", read.decimal(item.get("multiplier", "1"), f"{prefix}.multiplier"))
    take("is_paid", read.boolean(item.get("is_paid", False), f"{prefix}.is_paid"))
    take("fee", read.decimal(item.get("fee"), f"{prefix}.fee", null=True))
    take("period_months", read.integer(item.get("period_months"), f"{prefix}.period_months", minimum=1, null=True))
    take("archived", read.boolean(item.get("archived", False), f"{prefix}.archived"))
    return bad


def _tier_checks(tier: Tier, prefix: str, bad: list[str], read: Reader) -> None:
    """The checks of one tier that the model does not make (as ``tier_save`` makes them)."""
    if "is_paid" in bad:
        return
    if tier.is_paid:
        if "threshold" not in bad and tier.threshold is not None:
            read.error(
                f"{prefix}.threshold", _("A paid tier is granted by its fee, not reached: make the threshold null.")
            )
        if "fee" not in bad and tier.fee is None:
            read.error(f"{prefix}.fee", _("Give the fee that buys this paid tier."))
        elif "fee" not in bad and tier.fee <= 0:
            read.error(f"{prefix}.fee", _("The fee must be above zero."))
        if "period_months" not in bad and not tier.period_months:
            read.error(f"{prefix}.period_months", _("Say for how many months the fee grants the tier."))
        return
    if "threshold" not in bad:
        if tier.threshold is None:
            read.error(f"{prefix}.threshold", _("A tier reached by spend or points needs a threshold."))
        elif tier.threshold <= 0:
            read.error(f"{prefix}.threshold", _("The threshold must be above zero."))
    if "fee" not in bad and tier.fee is not None:
        read.error(f"{prefix}.fee", _("Only a paid tier has a fee: make it null, or set is_paid to true."))
    if "period_months" not in bad and tier.period_months is not None:
        read.error(f"{prefix}.period_months", _("Only a paid tier has a period: make it null, or set is_paid to true."))


def _thresholds_rise(entries: list[tuple[int, Tier, list[str]]], read: Reader) -> None:
    """Among the qualifying tiers, a higher rank needs a strictly higher threshold."""
    qualifying = sorted(
        (
            (tier.rank, index, tier) for index, tier, bad in entries
            if not {"rank", "threshold", "is_paid", "archived"} & set(bad)
            and not tier.is_paid and not tier.archived and tier.threshold is not None
        ),
        key=lambda entry: entry[0],
    )
    for (_rank, lower_index, lower), (_rank2, index, tier) in itertools.pairwise(qualifying):
        if tier.threshold <= lower.threshold:
            read.error(
                f"tiers[{index}].threshold",
                _(
                    "Overlapping thresholds: %(other)s (tiers[%(other_index)d], rank %(rank)d) needs "
                    "%(needs)s. Thresholds must rise with rank: a higher tier needs more than every lower one."
                ) % {
                    "other": lower.code, "other_index": lower_index, "rank": lower.rank,
                    "needs": decimal_str(lower.threshold),
                },
            )


def tiers_plan(raw: object, read: Reader) -> tuple[set[str] | None, SectionPlan]:
    """Check the file's tiers as a whole; the codes it lists (``None``: not a list) and the plan.

    The plan creates and updates the listed tiers, archives the others, and
    moves an unlisted tier whose rank a listed one takes to a free rank (ranks
    are unique among all tiers, archived ones included).
    """
    plan = SectionPlan()
    if read.items(raw, "tiers", _("tiers")) is INVALID:
        return None, plan
    existing = {tier.code: tier for tier in Tier.objects.order_by("rank")}
    before = {code: tier_json(tier) for code, tier in existing.items()}
    codes: dict[str, int] = {}
    ranks: dict[int, int] = {}
    entries: list[tuple[int, Tier, list[str]]] = []
    for index, item in enumerate(raw):
        prefix = f"tiers[{index}]"
        if read.object(item, prefix, "code, name, rank, ...") is INVALID:
            continue
        read.keys(item, prefix, required=REQUIRED_KEYS, optional=OPTIONAL_KEYS)
        code = item.get("code")
        if isinstance(code, str) and code.strip() in codes:
            read.error(
                f"{prefix}.code",
                _("%(code)s is already used by tiers[%(other)d]")
                % {"code": code.strip(), "other": codes[code.strip()]},
            )
            continue
        tier = existing.get(code.strip()) if isinstance(code, str) else None
        tier = tier or Tier()
        bad = _tier_from_file(item, prefix, tier, read)
        if "code" not in bad:
            codes[tier.code] = index
        if "rank" not in bad:
            if tier.rank in ranks:
                read.error(
                    f"{prefix}.rank",
                    _("rank %(rank)d is already used by tiers[%(other)d]")
                    % {"rank": tier.rank, "other": ranks[tier.rank]},
                )
                bad.append("rank")
            else:
                ranks[tier.rank] = index
        try:
            tier.full_clean(exclude=["name", "benefits", *bad], validate_unique=False, validate_constraints=False)
        except ValidationError as error:
            read.model(error, prefix, RENAME)
        _tier_checks(tier, prefix, bad, read)
        entries.append((index, tier, bad))
    _thresholds_rise(entries, read)
    _kind_locked(entries, before, read)

    listed = [tier for _index, tier, _bad in entries]
    unlisted = [tier for code, tier in existing.items() if code not in codes]
    changed: list[Tier] = []
    for tier in listed:
        if tier.pk is None:
            plan.changes.append(_("tier %(code)s created") % {"code": tier.code})
            changed.append(tier)
            continue
        tier_changes = differences(before[tier.code], tier_json(tier))
        if tier_changes:
            plan.changes.append(
                _("tier %(code)s: %(changes)s") % {"code": tier.code, "changes": ", ".join(tier_changes)}
            )
            changed.append(tier)
    used = set(ranks) | {values["rank"] for values in before.values()}
    for tier in unlisted:
        notes = []
        if not tier.archived:
            tier.archived = True
            notes.append(_("archived (not in the file)"))
        if tier.rank in ranks:
            above_first = itertools.chain(range(max(used) + 1, RANK_MAX + 1), range(RANK_MAX, -1, -1))
            free = next(rank for rank in above_first if rank not in used)
            used.add(free)
            notes.append(
                _("rank %(old)d -> %(new)d (its rank is now another tier's)") % {"old": tier.rank, "new": free}
            )
            tier.rank = free
        if notes:
            plan.changes.append(_("tier %(code)s: %(changes)s") % {"code": tier.code, "changes": ", ".join(notes)})
            changed.append(tier)

    def write() -> None:
        _tiers_write(changed, existing_ranks={tier.pk: before[code]["rank"] for code, tier in existing.items()})

    plan.write = write
    return set(codes), plan


def _kind_locked(entries: list[tuple[int, Tier, list[str]]], before: dict[str, dict], read: Reader) -> None:
    """A tier that members hold cannot turn from qualifying to paid or back (as ``tier_save`` refuses)."""
    flipping = {
        tier.pk: index for index, tier, bad in entries
        if tier.pk is not None and "is_paid" not in bad and before[tier.code]["is_paid"] != tier.is_paid
    }
    if not flipping:
        return
    held = MemberTier.objects.filter(tier_id__in=flipping).values("tier_id").annotate(n=Count("pk"))
    holders = dict(held.values_list("tier_id", "n"))
    for pk, count in holders.items():
        read.error(
            f"tiers[{flipping[pk]}].is_paid",
            _(
                "%(count)d members hold this tier: it cannot change between paid and reached by spend "
                "or points. Create a new tier instead."
            ) % {"count": count},
        )


def _tiers_write(changed: list[Tier], *, existing_ranks: dict[int, int]) -> None:
    """Save ``changed`` tiers without ever holding one rank twice (the constraint is not deferred).

    Existing tiers whose rank changes first move to free placeholder ranks.
    """
    finals = {tier.rank for tier in changed}
    used = set(existing_ranks.values()) | finals
    placeholders = (rank for rank in range(RANK_MAX, -1, -1) if rank not in used)
    for tier in changed:
        if tier.pk is not None and existing_ranks[tier.pk] != tier.rank:
            Tier.objects.filter(pk=tier.pk).update(rank=next(placeholders))
    for tier in changed:
        if tier.pk is not None:
            tier.save()
    for tier in changed:
        if tier.pk is None:
            tier.save()
    tiers_cache_clear()  # and again at commit (program_import)

