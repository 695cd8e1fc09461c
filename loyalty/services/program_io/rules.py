"""Earning rules in the program file: ``rules`` is the whole list.

Rules have no code of their own (the model keeps none), so the file names each
rule by a ``key``: its name, as ``export_program`` writes it. When several
rules share a name (say last year's archived "Double points weekend" and this
year's), export gives them ``"<name> #1"``, ``"<name> #2"``, ... in the order
they were created. Import matches each of the file's rules to the rule whose
key (computed the same way over the rules in the database) is the file's
``key``; failing that, to the rule whose key is the file's ``name`` (a rule
already renamed by an earlier import of the same file); failing that, it
creates a new rule. So renaming a rule is editing its ``name`` and keeping its
``key``. A rule of the program that the file does not list is archived, never
deleted: breakdowns of past earns and the rule's budget usage name it.

Lists in a rule are sets: written sorted, without repeats. Times are ISO 8601
with the offset (export writes the program's time zone); hours are the
store's local ``"HH:MM"``.

``segments`` are ids of saved segments (they are not in the file, and ids
differ between databases): an id that a rule does not already have must name a
saved segment that is not archived, unless no segment resolver is registered
(``loyalty.segments``).

``reward`` (optional, ``null`` by default; export writes it only for a rule
that has one) is the code of the reward a full stamp card gives a voucher for. It must name a reward the program has
(``rules_plan``'s ``rewards``: by default the rewards in the database, read
with ``apps.get_model`` since ``loyalty`` never imports ``rewards``).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import Counter
from collections.abc import Iterable

from django.apps import apps
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from loyalty.models import EarnRule, Store, Tier
from loyalty.segments import segments_unknown
from loyalty.services.rules import rule_save, rules_cache_clear

from .base import INVALID, Reader, SectionPlan, decimal_or_null, decimal_str, differences, time_str

REQUIRED_KEYS = ("key", "name", "kind", "value")
OPTIONAL_KEYS = (
    "status", "stamps_needed", "starts_at", "ends_at", "weekdays", "hours_start", "hours_end", "stores",
    "tiers", "segments", "categories", "skus", "min_spend", "first_purchase_only", "birthday_week",
    "priority", "mode", "group", "member_cap", "member_cap_period", "budget", "reward",
)
# A reward named by the file that the import creates: its id is known only when it is written.
PENDING_REWARD = -1


def rule_keys(rules: Iterable[tuple[int, str]]) -> dict[int, str]:
    """The file key of each rule, from ``(id, name)`` pairs: the name, or
    ``"<name> #<n>"`` (n counting from 1 in id order) for names that several rules share."""
    rules = sorted(rules)
    counts = Counter(name for _pk, name in rules)
    used = {name for name, count in counts.items() if count == 1}
    keys: dict[int, str] = {}
    next_number: Counter[str] = Counter()
    for pk, name in rules:
        if counts[name] == 1:
            keys[pk] = name
            continue
        while True:
            next_number[name] += 1
            key = f"{name} #{next_number[name]}"
            if key not in used:
                break
        used.add(key)
        keys[pk] = key
    return keys


def _iso(value: dt.datetime | None, tz: dt.tzinfo) -> str | None:
    return None if value is None else value.astimezone(tz).isoformat()


def rule_json(
    rule: EarnRule, *, key: str, stores: list[str], tiers: list[str], tz: dt.tzinfo, reward: str | None = None
) -> dict:
    """A rule as the file writes it (also the form two rules are compared in); ``reward``
    is the code of its reward, written only when there is one."""
    item = {
        "key": key,
        "name": rule.name,
        "status": rule.status,
        "kind": rule.kind,
        "value": decimal_str(rule.value),
        "stamps_needed": rule.stamps_needed,
        "starts_at": _iso(rule.starts_at, tz),
        "ends_at": _iso(rule.ends_at, tz),
        "weekdays": sorted(set(rule.weekdays or ())),
        "hours_start": time_str(rule.hours_start),
        "hours_end": time_str(rule.hours_end),
        "stores": sorted(stores),
        "tiers": sorted(tiers),
        "segments": sorted(set(rule.segments or ())),
        "categories": sorted(set(rule.categories or ())),
        "skus": sorted(set(rule.skus or ())),
        "min_spend": decimal_or_null(rule.min_spend),
        "first_purchase_only": rule.first_purchase_only,
        "birthday_week": rule.birthday_week,
        "priority": rule.priority,
        "mode": rule.mode,
        "group": rule.group,
        "member_cap": rule.member_cap,
        "member_cap_period": rule.member_cap_period,
        "budget": rule.budget,
    }
    if reward is not None:
        item["reward"] = reward
    return item


def _all_rules() -> list[EarnRule]:
    return list(EarnRule.objects.select_related("reward").prefetch_related("stores", "tiers").order_by("pk"))


def _reward_code(rule: EarnRule) -> str | None:
    return rule.reward.code if rule.reward_id is not None else None


def _reward_model():
    return apps.get_model("rewards", "Reward")


def reward_codes_in_database() -> dict[str, int]:
    """``{code: id}`` of every reward (archived ones too: a rule may still name one)."""
    return dict(_reward_model().objects.values_list("code", "pk"))


def _codes(rule: EarnRule) -> tuple[list[str], list[str]]:
    return [store.code for store in rule.stores.all()], [tier.code for tier in rule.tiers.all()]


def rules_export(*, tz: dt.tzinfo) -> list[dict]:
    rules = _all_rules()
    keys = rule_keys((rule.pk, rule.name) for rule in rules)
    result = []
    for rule in rules:
        stores, tiers = _codes(rule)
        result.append(rule_json(rule, key=keys[rule.pk], stores=stores, tiers=tiers, tz=tz, reward=_reward_code(rule)))
    return result


def _match(entries: list[tuple[str, str]], rules: list[tuple[int, str]]) -> list[int | None]:
    """The rule id each ``(key, name)`` of the file matches: by key, else by name, else ``None``."""
    by_key = {key: pk for pk, key in rule_keys(rules).items()}
    found: list[int | None] = [by_key.get(key) for key, _name in entries]
    taken = {pk for pk in found if pk is not None}
    for index, (_key, name) in enumerate(entries):
        if found[index] is None and by_key.get(name) is not None and by_key[name] not in taken:
            found[index] = by_key[name]
            taken.add(by_key[name])
    return found


def _rule_from_file(
    item: dict, prefix: str, rule: EarnRule, read: Reader, *, stores: set[str], tiers: set[str],
    rewards: set[str], reward_ids: dict[str, int],
) -> tuple[list[str], list[str], list[str], str | None]:
    """Set ``rule``'s fields from the file; the fields that could not be read, the store
    and tier codes, and the reward's code. A reward the import creates is set as
    ``PENDING_REWARD`` until it is written."""
    bad: list[str] = []

    def take(name: str, value: object) -> None:
        if value is INVALID:
            bad.append(name)
        else:
            setattr(rule, name, value)

    def path(name: str) -> str:
        return f"{prefix}.{name}"

    for name in ("name", "kind", "status", "mode", "group", "member_cap_period"):
        default = {"status": EarnRule.Status.ACTIVE, "mode": EarnRule.Mode.STACK, "group": "",
                   "member_cap_period": EarnRule.CapPeriod.RULE}.get(name, "")
        take(name, read.string(item.get(name, default), path(name)))
    take("value", read.decimal(item.get("value"), path("value")))
    take("stamps_needed", read.integer(item.get("stamps_needed"), path("stamps_needed"), null=True))
    take("starts_at", read.datetime(item.get("starts_at"), path("starts_at")))
    take("ends_at", read.datetime(item.get("ends_at"), path("ends_at")))
    take("weekdays", read.integers(item.get("weekdays", []), path("weekdays"), minimum=0, maximum=6))
    take("hours_start", read.time(item.get("hours_start"), path("hours_start")))
    take("hours_end", read.time(item.get("hours_end"), path("hours_end")))
    had_segments = set(rule.segments or ())
    segment_ids = read.integers(item.get("segments", []), path("segments"), minimum=1)
    take("segments", segment_ids)
    # Segment ids differ between databases: a new one must name a saved segment
    # here (ids the rule already has are kept, so re-applying a file stays a no-op).
    unknown = sorted(segments_unknown(set(segment_ids) - had_segments)) if segment_ids is not INVALID else []
    if unknown:
        read.error(path("segments"), _("no saved segment with the id %(ids)s (or it is archived)") % {
            "ids": ", ".join(str(segment_id) for segment_id in unknown),
        })
        bad.append("segments")
    take("categories", read.strings(item.get("categories", []), path("categories")))
    take("skus", read.strings(item.get("skus", []), path("skus")))
    take("min_spend", read.decimal(item.get("min_spend"), path("min_spend"), null=True))
    take("first_purchase_only", read.boolean(item.get("first_purchase_only", False), path("first_purchase_only")))
    take("birthday_week", read.boolean(item.get("birthday_week", False), path("birthday_week")))
    take("priority", read.integer(item.get("priority", 0), path("priority")))
    take("member_cap", read.integer(item.get("member_cap"), path("member_cap"), null=True))
    take("budget", read.integer(item.get("budget"), path("budget"), null=True))
    codes = {}
    for name, known, what in (("stores", stores, _("store")), ("tiers", tiers, _("tier"))):
        value = read.strings(item.get(name, []), path(name))
        if value is INVALID:
            bad.append(name)
            value = []
        unknown = [code for code in value if code not in known]
        if unknown:
            read.error(
                path(name), _("no %(thing)s with the code %(codes)s") % {"thing": what, "codes": ", ".join(unknown)}
            )
            bad.append(name)
        codes[name] = value
    reward = item.get("reward")
    if reward is not None:
        reward = read.string(reward, path("reward"))
    if reward is INVALID:
        bad.append("reward")
        reward = None
    elif reward is not None and reward not in rewards and reward not in reward_ids:
        read.error(path("reward"), _("no %(thing)s with the code %(codes)s") % {"thing": _("reward"), "codes": reward})
        bad.append("reward")
        reward = None
    elif reward is None:
        rule.reward = None
    elif reward in reward_ids:
        rule.reward_id = reward_ids[reward]
    else:  # created by this import: checked by clean(), not by the foreign key
        rule.reward_id = PENDING_REWARD
        bad.append("reward")
    return bad, codes["stores"], codes["tiers"], reward


def rules_plan(
    raw: object, read: Reader, *, stores: set[str], tiers: set[str], tz: str, rewards: set[str] | None = None
) -> SectionPlan:
    """Check the file's rules as a whole and plan their import (see the module docstring).

    ``stores``, ``tiers`` and ``rewards`` are the codes a rule may name: those
    the program will have once the file is applied (``rewards`` ``None``: the
    rewards in the database). A reward the file creates must be written
    before the rules are.
    """
    plan = SectionPlan()
    if read.items(raw, "rules", _("rules")) is INVALID:
        return plan
    try:
        zone: dt.tzinfo = zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = dt.UTC  # the time zone's own error is reported; only change lines use it
    existing = _all_rules()
    by_pk = {rule.pk: rule for rule in existing}
    keys = rule_keys((rule.pk, rule.name) for rule in existing)
    before = {rule.pk: rule_json(rule, key=keys[rule.pk], stores=codes[0], tiers=codes[1], tz=zone,
                                 reward=_reward_code(rule))
              for rule in existing for codes in [_codes(rule)]}
    reward_ids = reward_codes_in_database()
    reward_codes = set(reward_ids) if rewards is None else set(rewards)
    items: list[tuple[int, dict]] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(raw):
        prefix = f"rules[{index}]"
        if read.object(item, prefix, "key, name, kind, value, ...") is INVALID:
            continue
        read.keys(item, prefix, required=REQUIRED_KEYS, optional=OPTIONAL_KEYS)
        key = read.string(item.get("key", ""), f"{prefix}.key")
        if key is INVALID:
            continue
        if not key:
            read.error(f"{prefix}.key", _("must not be empty (export_program writes the rule's name)"))
            continue
        if key in seen:
            read.error(
                f"{prefix}.key", _("%(key)s is already used by rules[%(other)d]") % {"key": key, "other": seen[key]}
            )
            continue
        seen[key] = index
        items.append((index, item))
    entries = []  # (key, name) of each rule that has a usable key
    for _index, item in items:
        key = item["key"].strip()
        entries.append((key, item["name"].strip() if isinstance(item.get("name"), str) else key))
    matched = _match(entries, [(rule.pk, rule.name) for rule in existing])
    _check_stable(entries, matched, existing, read, [index for index, _item in items])

    changed: list[tuple[EarnRule, list[str], list[str], str | None]] = []
    for (index, item), (key, _name), pk in zip(items, entries, matched, strict=True):
        prefix = f"rules[{index}]"
        rule = by_pk[pk] if pk is not None else EarnRule()
        bad, store_codes, tier_codes, reward_code = _rule_from_file(
            item, prefix, rule, read, stores=stores, tiers=tiers, rewards=reward_codes, reward_ids=reward_ids
        )
        try:
            rule.full_clean(exclude=bad)
        except ValidationError as error:
            read.model(error, prefix)
        after = rule_json(rule, key=key, stores=store_codes, tiers=tier_codes, tz=zone, reward=reward_code)
        if pk is None:
            plan.changes.append(_('rule "%(key)s" created') % {"key": key})
            changed.append((rule, store_codes, tier_codes, reward_code))
            continue
        # "reward" is left out without one: compare it explicitly, so that dropping it is a change.
        rule_changes = differences(
            {**before[pk], "key": key, "reward": before[pk].get("reward")}, {**after, "reward": reward_code}
        )
        if rule_changes:
            plan.changes.append(_('rule "%(key)s": %(changes)s') % {"key": key, "changes": ", ".join(rule_changes)})
            changed.append((rule, store_codes, tier_codes, reward_code))
    archive = [rule for rule in existing if rule.pk not in matched and rule.status != EarnRule.Status.ARCHIVED]
    for rule in archive:
        plan.changes.append(_('rule "%(key)s" archived (not in the file)') % {"key": keys[rule.pk]})

    def write() -> None:
        store_ids = Store.objects.in_bulk(stores, field_name="code")
        tier_ids = Tier.objects.in_bulk(tiers, field_name="code")
        for rule in archive:
            # Saved as it is (an old rule may not pass today's checks): only its status changes.
            rule.status = EarnRule.Status.ARCHIVED
            rule.save(update_fields=["status", "updated_at"])
        reward_now = reward_codes_in_database() if any(
            rule.reward_id == PENDING_REWARD for rule, *_rest in changed
        ) else reward_ids
        for rule, store_codes, tier_codes, reward_code in changed:
            if rule.reward_id == PENDING_REWARD:
                if reward_code not in reward_now:
                    raise ValueError(f"reward {reward_code} must be written before the rules that name it")
                rule.reward_id = reward_now[reward_code]
            rule_save(
                rule=rule, stores=[store_ids[code] for code in store_codes],
                tiers=[tier_ids[code] for code in tier_codes],
            )
        rules_cache_clear()  # and again at commit (program_import)

    plan.write = write
    return plan


def _check_stable(
    entries: list[tuple[str, str]], matched: list[int | None], existing: list[EarnRule], read: Reader,
    indexes: list[int],
) -> None:
    """Refuse a file that, once applied, would match other rules when applied again.

    That happens only when renames make two rules share a name, so that the
    keys export would write are no longer the file's.
    """
    names = {rule.pk: rule.name for rule in existing}
    next_pk = max(names, default=0) + 1
    after = dict(names)
    identities = []
    for (_key, name), pk in zip(entries, matched, strict=True):
        if pk is None:
            pk, next_pk = next_pk, next_pk + 1
        after[pk] = name
        identities.append(pk)
    again = _match(entries, list(after.items()))
    lost = [index for index, (first, second) in enumerate(zip(identities, again, strict=True)) if first != second]
    # Point at the rules renamed or added by the file, when they are the cause.
    renamed = [index for index in lost if matched[index] is None or entries[index][0] != entries[index][1]]
    for index in renamed or lost:
        name = entries[index][1]
        read.error(
            f"rules[{indexes[index]}].name",
            _(
                'after this import another rule would also be named "%(name)s", so applying the file '
                "again would not find this rule by its key; give the rules different names"
            ) % {"name": name},
        )
