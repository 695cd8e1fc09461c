"""The catalog in the program file: the ``charities`` and ``rewards`` sections.

Registered with ``loyalty.services.program_io.program_section_register`` from
``RewardsConfig.ready()`` (``loyalty`` never imports ``rewards``), so
``export_program`` writes them and ``import_program`` checks and applies them
with the rest of the file, in its one transaction.

``charities`` is the whole list, matched by ``code``: ``{code, name: {en, pl,
ro}, active}``. A charity the file does not list stops taking donations
(``active`` false); none is deleted, and the running totals are not in the
file.

``rewards`` is the whole list, matched by ``code``, in the shape of
``reward_json``; decimals are strings, times ISO 8601 with their offset
(export writes the program's time zone); ``charity`` and ``min_tier`` are
codes. A reward the file does not list is archived, never deleted (vouchers
name it). Each reward is checked as ``reward_save`` checks it (what its kind
needs, the window, the points cost); a field that its kind does not use must be
null (or empty). Not in the file:

* images (upload them on the reward's page);
* partner codes (``import_partner_codes`` or the reward's code page);
* stock, once a reward exists: the file's ``stock`` is the stock a reward is
  created with. Stock moves with every redemption, so re-applying a file
  written earlier must not put back what was redeemed since; change the stock
  of an existing reward on its page.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.models import Tier
from loyalty.services.program_io import ProgramSectionContext, Reader, SectionPlan
from loyalty.services.program_io.base import INVALID, decimal_or_null, differences
from rewards.models import Charity, Reward
from rewards.services.catalog import KIND_FIELDS, kind_uses, reward_errors

LANGUAGES = tuple(code for code, _name in settings.LANGUAGES)
DEFAULT_LANGUAGE = settings.MODELTRANSLATION_DEFAULT_LANGUAGE

CHARITY_REQUIRED = ("code", "name")
CHARITY_OPTIONAL = ("active",)
REWARD_REQUIRED = ("code", "kind", "name", "points_cost")
REWARD_OPTIONAL = (
    "description", "archived", "in_catalog", "value", "max_discount", "sku", "event_at", "place", "charity",
    "min_tier", "stock", "member_limit", "member_limit_period", "available_from", "available_until",
    "voucher_valid_days",
)
# Model fields as the file names them (translations as name.en, ...).
RENAME = {
    **{f"name_{lang}": f"name.{lang}" for lang in LANGUAGES},
    **{f"description_{lang}": f"description.{lang}" for lang in LANGUAGES},
}


def _iso(value: dt.datetime | None, tz: dt.tzinfo) -> str | None:
    return None if value is None else value.astimezone(tz).isoformat()


def _texts(instance: Any, field: str) -> dict[str, str]:
    return {lang: getattr(instance, f"{field}_{lang}") or "" for lang in LANGUAGES}


def _translations(raw: object, path: str, read: Reader) -> dict[str, str] | None:
    """``{"en": ..., "pl": ...}``: a string per language (``None`` when unreadable)."""
    what = ", ".join(LANGUAGES)
    if read.object(raw, path, what) is INVALID:
        return None
    values = {}
    for lang, value in raw.items():
        where = f"{path}.{lang}"
        if lang not in LANGUAGES:
            read.error(where, _("unknown language (use %(languages)s)") % {"languages": what})
            continue
        text = read.string(value, where)
        if text is not INVALID:
            values[lang] = text
    return values


def _set_translations(instance: Any, field: str, values: dict[str, str]) -> None:
    for lang in LANGUAGES:
        # An empty translation is null, so that it falls back to the default language.
        text = values.get(lang, "")
        setattr(instance, f"{field}_{lang}", text or ("" if lang == DEFAULT_LANGUAGE else None))


def _duplicate(read: Reader, path: str, code: str, section: str, other: int) -> None:
    read.error(path, _("%(code)s is already used by %(section)s[%(other)d]") % {
        "code": code, "section": section, "other": other,
    })


# -- charities --------------------------------------------------------------------------


def charity_json(charity: Charity) -> dict:
    return {"code": charity.code, "name": _texts(charity, "name"), "active": charity.active}


def charities_export(*, tz: dt.tzinfo) -> list[dict]:
    return [charity_json(charity) for charity in Charity.objects.order_by("code")]


def charities_plan(
    raw: object, read: Reader, *, context: ProgramSectionContext
) -> tuple[dict[str, bool] | None, SectionPlan]:
    """Check the file's charities; the codes it lists (each with whether it
    will take donations, for the rewards section) and the plan: create,
    update, and switch off the charities it does not list."""
    plan = SectionPlan()
    if read.items(raw, "charities", _("charities")) is INVALID:
        return None, plan
    existing = {charity.code: charity for charity in Charity.objects.all()}
    before = {code: charity_json(charity) for code, charity in existing.items()}
    codes: dict[str, int] = {}
    changed: list[Charity] = []
    for index, item in enumerate(raw):
        prefix = f"charities[{index}]"
        if read.object(item, prefix, "code, name, active") is INVALID:
            continue
        read.keys(item, prefix, required=CHARITY_REQUIRED, optional=CHARITY_OPTIONAL)
        code = read.string(item.get("code", ""), f"{prefix}.code")
        if code is INVALID:
            continue
        if code in codes:
            _duplicate(read, f"{prefix}.code", code, "charities", codes[code])
            continue
        codes[code] = index
        charity = existing.get(code) or Charity(code=code)
        names = _translations(item.get("name", {}), f"{prefix}.name", read)
        bad = []
        if names is None:
            bad.append("name")
        else:
            _set_translations(charity, "name", names)
        active = read.boolean(item.get("active", True), f"{prefix}.active")
        if active is INVALID:
            bad.append("active")
        else:
            charity.active = active
        try:
            charity.full_clean(
                exclude=["name", "donated_points", "donated_amount", "donations", *bad], validate_unique=False,
            )
        except ValidationError as error:
            read.model(error, prefix, RENAME)
        if charity.pk is None:
            plan.changes.append(_("charity %(code)s created") % {"code": code})
            changed.append(charity)
            continue
        found = differences(before[code], charity_json(charity))
        if found:
            plan.changes.append(_("charity %(code)s: %(changes)s") % {"code": code, "changes": ", ".join(found)})
            changed.append(charity)
    for code, charity in sorted(existing.items()):
        if code not in codes and charity.active:
            charity.active = False
            plan.changes.append(_("charity %(code)s: takes no donations (not in the file)") % {"code": code})
            changed.append(charity)

    def write() -> None:
        for charity in changed:
            if charity.pk is None:
                charity.save()
            else:  # never the totals, which donations move with F() updates
                charity.save(update_fields=[*(f"name_{lang}" for lang in LANGUAGES), "active"])

    plan.write = write
    return {code: charity.active for code, charity in _by_code(existing, changed).items() if code in codes}, plan


def _by_code(existing: dict[str, Charity], changed: list[Charity]) -> dict[str, Charity]:
    return {**existing, **{charity.code: charity for charity in changed}}


# -- rewards ----------------------------------------------------------------------------


def reward_json(reward: Reward, *, tz: dt.tzinfo, charity: str | None, min_tier: str | None) -> dict:
    """A reward as the file writes it (also the form two rewards are compared in)."""
    return {
        "code": reward.code,
        "kind": reward.kind,
        "name": _texts(reward, "name"),
        "description": _texts(reward, "description"),
        "archived": reward.status == Reward.Status.ARCHIVED,
        "in_catalog": reward.in_catalog,
        "points_cost": reward.points_cost,
        "value": decimal_or_null(reward.value),
        "max_discount": decimal_or_null(reward.max_discount),
        "sku": reward.sku,
        "event_at": _iso(reward.event_at, tz),
        "place": reward.place,
        "charity": charity,
        "min_tier": min_tier,
        "stock": reward.stock,
        "member_limit": reward.member_limit,
        "member_limit_period": reward.member_limit_period,
        "available_from": _iso(reward.available_from, tz),
        "available_until": _iso(reward.available_until, tz),
        "voucher_valid_days": reward.voucher_valid_days,
    }


def _reward_json(reward: Reward, tz: dt.tzinfo) -> dict:
    return reward_json(
        reward, tz=tz, charity=reward.charity.code if reward.charity_id else None,
        min_tier=reward.min_tier.code if reward.min_tier_id else None,
    )


def rewards_export(*, tz: dt.tzinfo) -> list[dict]:
    rewards = Reward.objects.select_related("charity", "min_tier").order_by("code")
    return [_reward_json(reward, tz) for reward in rewards]


def _charities_after(context: ProgramSectionContext) -> dict[str, Charity]:
    """The charities as they will be after the import (unsaved stand-ins with
    the code, name and ``active`` that count): the file's ``charities`` when
    it has them (and they could be read), else the database's."""
    stored = {charity.code: charity for charity in Charity.objects.all()}
    listed = context.codes.get("charities")
    if not isinstance(listed, dict):  # no charities section in the file, or unreadable
        return stored
    after = {}
    for code, active in listed.items():
        name = stored[code].name if code in stored else code
        after[code] = Charity(pk=0, code=code, active=active, name=name)
    return after


def _reward_from_file(
    item: dict, prefix: str, reward: Reward, read: Reader, *, created: bool
) -> tuple[list[str], dict[str, str | None]]:
    """Set ``reward``'s fields from the file's entry; the fields that could not
    be read, and the charity and tier codes it names."""
    bad: list[str] = []

    def take(key: str, value: object) -> None:
        if value is INVALID:
            bad.append(key)
        else:
            setattr(reward, key, value)

    take("code", read.string(item.get("code", ""), f"{prefix}.code"))
    take("kind", read.string(item.get("kind", ""), f"{prefix}.kind"))
    for field in ("name", "description"):
        values = _translations(item.get(field, {}), f"{prefix}.{field}", read)
        if values is None:
            bad.extend(f"{field}_{lang}" for lang in LANGUAGES)
        else:
            _set_translations(reward, field, values)
    archived = read.boolean(item.get("archived", False), f"{prefix}.archived")
    if archived is INVALID:
        bad.append("status")
    else:
        reward.status = Reward.Status.ARCHIVED if archived else Reward.Status.ACTIVE
    take("in_catalog", read.boolean(item.get("in_catalog", True), f"{prefix}.in_catalog"))
    take("points_cost", read.integer(item.get("points_cost"), f"{prefix}.points_cost", minimum=0))
    take("value", read.decimal(item.get("value"), f"{prefix}.value", null=True))
    take("max_discount", read.decimal(item.get("max_discount"), f"{prefix}.max_discount", null=True))
    for key in ("sku", "place"):
        take(key, read.string(item.get(key) or "", f"{prefix}.{key}"))
    for key in ("event_at", "available_from", "available_until"):
        take(key, read.datetime(item.get(key), f"{prefix}.{key}"))
    stock = read.integer(item.get("stock"), f"{prefix}.stock", minimum=0, null=True)
    if stock is INVALID:
        bad.append("stock")
    elif created:  # an existing reward keeps its stock (see the module docstring)
        reward.stock = stock
    take("member_limit", read.integer(item.get("member_limit"), f"{prefix}.member_limit", minimum=1, null=True))
    take("member_limit_period", read.string(item.get("member_limit_period", "ever"), f"{prefix}.member_limit_period"))
    take("voucher_valid_days", read.integer(
        item.get("voucher_valid_days", 30), f"{prefix}.voucher_valid_days", minimum=1, null=True,
    ))
    refs: dict[str, str | None] = {}
    for key in ("charity", "min_tier"):
        value = item.get(key)
        if value is None:
            refs[key] = None
        else:
            code = read.string(value, f"{prefix}.{key}")
            if code is INVALID or not code:
                if code is not INVALID:
                    read.error(f"{prefix}.{key}", _("must be a code, or null"))
                bad.append(key)
            else:
                refs[key] = code
    return bad, refs


def _unused_in_file(item: dict, kind: str, prefix: str, read: Reader) -> list[str]:
    """Fields given a value that ``kind`` does not use: an error each (the file says what it means)."""
    found = []
    for field in KIND_FIELDS:
        if field not in item or item[field] in (None, "") or kind_uses(kind, field):
            continue
        kinds = ", ".join(sorted(KIND_FIELDS[field]))
        read.error(
            f"{prefix}.{field}",
            _("a %(kind)s reward does not use %(field)s (only %(kinds)s do): make it null") % {
                "kind": kind, "field": field, "kinds": kinds,
            },
        )
        found.append(field)
    return found


def rewards_plan(raw: object, read: Reader, *, context: ProgramSectionContext) -> tuple[set[str] | None, SectionPlan]:
    """Check the file's rewards as a whole; the codes it lists and the plan
    (create, update, and archive the rewards it does not list)."""
    plan = SectionPlan()
    if read.items(raw, "rewards", _("rewards")) is INVALID:
        return None, plan
    tz = dt.UTC
    existing = {reward.code: reward for reward in Reward.objects.select_related("charity", "min_tier")}
    before = {code: _reward_json(reward, tz) for code, reward in existing.items()}
    with_vouchers = set(
        Reward.objects.filter(vouchers__isnull=False).values_list("code", flat=True).distinct()
    )
    charities = _charities_after(context)
    kinds = Reward.Kind.values
    codes: dict[str, int] = {}
    changed: list[tuple[Reward, dict[str, str | None]]] = []
    for index, item in enumerate(raw):
        prefix = f"rewards[{index}]"
        if read.object(item, prefix, "code, kind, name, points_cost, ...") is INVALID:
            continue
        read.keys(item, prefix, required=REWARD_REQUIRED, optional=REWARD_OPTIONAL)
        code = item.get("code")
        code = code.strip() if isinstance(code, str) else None
        if code is not None and code in codes:
            _duplicate(read, f"{prefix}.code", code, "rewards", codes[code])
            continue
        stored = existing.get(code) if code is not None else None
        reward = Reward(pk=stored.pk, stock=stored.stock, image=stored.image) if stored else Reward()
        bad, refs = _reward_from_file(item, prefix, reward, read, created=stored is None)
        if "code" not in bad:
            codes[reward.code] = index
        if "kind" not in bad and reward.kind not in kinds:
            read.error(f"{prefix}.kind", _("unknown kind (use %(kinds)s)") % {"kinds": ", ".join(kinds)})
            bad.append("kind")
        if "kind" not in bad:
            bad.extend(_unused_in_file(item, reward.kind, prefix, read))
        if "charity" not in bad and refs.get("charity") is not None:
            charity = charities.get(refs["charity"])
            if charity is None:
                read.error(f"{prefix}.charity", _("no charity has the code %(code)s") % {"code": refs["charity"]})
                bad.append("charity")
            else:
                reward.charity = charity
        if "min_tier" not in bad and refs.get("min_tier") is not None and refs["min_tier"] not in context.tiers:
            read.error(f"{prefix}.min_tier", _("no tier has the code %(code)s") % {"code": refs["min_tier"]})
            bad.append("min_tier")
        # As reward_save checks it (reserved codes, what the kind needs, the window, the points cost).
        errors = reward_errors(
            _without_tier(reward), stored=stored, has_vouchers=stored is not None and stored.code in with_vouchers,
        )
        for field, messages in errors.items():
            if field not in bad:
                for message in messages:
                    read.error(f"{prefix}.{RENAME.get(field, field)}", message)
        try:
            reward.full_clean(
                exclude=["name", "description", "image", "charity", "min_tier", "status", *bad],
                validate_unique=False,
            )
        except ValidationError as error:
            read.model(error, prefix, RENAME)
        after = reward_json(reward, tz=tz, charity=refs.get("charity"), min_tier=refs.get("min_tier"))
        if stored is None:
            plan.changes.append(_("reward %(code)s created") % {"code": reward.code})
            changed.append((reward, refs))
            continue
        found = differences(before[stored.code], after)
        if found:
            plan.changes.append(_("reward %(code)s: %(changes)s") % {"code": stored.code, "changes": ", ".join(found)})
            changed.append((reward, refs))
    for code, reward in sorted(existing.items()):
        if code not in codes and reward.status != Reward.Status.ARCHIVED:
            plan.changes.append(_("reward %(code)s: archived (not in the file)") % {"code": code})
            changed.append((reward, None))

    def write() -> None:
        _rewards_write(changed)

    plan.write = write
    return set(codes), plan


def _without_tier(reward: Reward) -> Reward:
    """``reward`` for ``reward_errors`` without its minimum tier: the file's
    tiers are checked by code (they may be created by the same import)."""
    reward.min_tier = None
    return reward


FILE_FIELDS = (
    "kind", "in_catalog", "points_cost", "value", "max_discount", "sku", "event_at", "place", "member_limit",
    "member_limit_period", "available_from", "available_until", "voucher_valid_days", "status",
    *(f"name_{lang}" for lang in LANGUAGES), *(f"description_{lang}" for lang in LANGUAGES),
)


def _rewards_write(changed: list[tuple[Reward, dict[str, str | None] | None]]) -> None:
    """Create and update the planned rewards (after the tiers and charities of
    the same file are written); archive the unlisted ones. An existing reward's
    stock and image are never written here."""
    tiers = dict(Tier.objects.values_list("code", "pk"))
    charities = dict(Charity.objects.values_list("code", "pk"))
    for reward, refs in changed:
        if refs is None:  # not in the file
            Reward.objects.filter(pk=reward.pk).update(status=Reward.Status.ARCHIVED, updated_at=timezone.now())
            continue
        reward.charity_id = charities[refs["charity"]] if refs.get("charity") else None
        reward.min_tier_id = tiers[refs["min_tier"]] if refs.get("min_tier") else None
        if reward.pk is None:
            reward.save()
        else:
            reward.save(update_fields=[*FILE_FIELDS, "charity", "min_tier", "updated_at"])
