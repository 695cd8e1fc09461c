"""Earning rules: saving them, and the active ones cached for every earn.

``active_rules()`` is on the path of every earn. Like ``program_get`` it keeps
this process's copy of the active rules (immutable ``RuleSnapshot`` objects)
in a ``ProcessCache``, versioned by the rules' ids and ``updated_at``.
``rule_save`` and ``rule_delete`` clear the version (now and at commit):
every process then reads the rules again on its next earn.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from django.conf import settings
from django.db import transaction
from django.utils import translation

from loyalty.exceptions import RuleStatusUnchanged
from loyalty.models import EarnRule, Store, Tier
from loyalty.process_cache import ProcessCache
from loyalty.rules import RuleSnapshot

RULES_CACHE_KEY = "loyalty:earn-rules:v1"
RULES_CACHE_SECONDS = 60


@dataclass(frozen=True)
class RuleNeeds:
    """What a set of rules looks at, so that an earn reads only that."""

    first_purchase: bool
    birth_date: bool
    tier: bool  # a rule names tiers
    segment_ids: frozenset[int]  # every segment a rule names
    stamp_rule_ids: tuple[int, ...]  # saved stamp rules (their members' cards are read)
    store_time: bool


def rule_needs(rules: Iterable[RuleSnapshot]) -> RuleNeeds:
    rules = tuple(rules)
    return RuleNeeds(
        first_purchase=any(rule.first_purchase_only for rule in rules),
        birth_date=any(rule.birthday_week for rule in rules),
        tier=any(rule.tier_ids for rule in rules),
        segment_ids=frozenset().union(*(rule.segment_ids for rule in rules)),
        stamp_rule_ids=tuple(rule.id for rule in rules if rule.is_stamps and rule.id > 0),
        store_time=any(rule.needs_store_time for rule in rules),
    )


@dataclass(frozen=True)
class ActiveRules:
    version: str
    rules: tuple[RuleSnapshot, ...]
    store_timezones: dict[int, str]  # filled only when a rule looks at the store's local time

    @cached_property
    def needs(self) -> RuleNeeds:
        return rule_needs(self.rules)

    @property
    def needs_first_purchase(self) -> bool:
        return self.needs.first_purchase

    @property
    def needs_birth_date(self) -> bool:
        return self.needs.birth_date

    @property
    def stamp_rule_ids(self) -> tuple[int, ...]:
        return self.needs.stamp_rule_ids

    @cached_property
    def by_id(self) -> dict[int, RuleSnapshot]:
        return {rule.id: rule for rule in self.rules}


def rule_snapshot(
    rule: EarnRule,
    *,
    rule_id: int | None = None,
    stores: Iterable[Store | int] | None = None,
    tiers: Iterable[Tier | int] | None = None,
) -> RuleSnapshot:
    """The immutable copy of ``rule`` the engine evaluates.

    A saved rule's stores and tiers are read from the rule (prefetch them for
    many rules). A rule not saved yet (the simulator's draft) has no id and no
    many-to-many rows: give ``rule_id`` (a temporary one; ``SIMULATED_RULE_ID``
    never clashes with a saved rule) and the ``stores`` and ``tiers`` chosen
    in the form (``None``: every store, every tier). Given lists also win for
    a saved rule, so an edit can be simulated before it is saved.
    """
    if rule_id is None:
        rule_id = rule.pk
    if rule_id is None:
        raise ValueError("an unsaved rule needs a temporary rule_id (SIMULATED_RULE_ID)")

    def ids(given, related: str) -> frozenset[int]:
        if given is None:
            given = getattr(rule, related).all() if rule.pk is not None else ()
        return frozenset(item if isinstance(item, int) else item.pk for item in given)

    return RuleSnapshot(
        id=rule_id, name=rule.name, kind=rule.kind, value=rule.value, priority=rule.priority,
        mode=rule.mode, group=rule.group, starts_at=rule.starts_at, ends_at=rule.ends_at,
        weekdays=frozenset(rule.weekdays or ()), hours_start=rule.hours_start, hours_end=rule.hours_end,
        store_ids=ids(stores, "stores"), tier_ids=ids(tiers, "tiers"),
        segment_ids=frozenset(rule.segments or ()),
        categories=frozenset(rule.categories or ()), skus=frozenset(rule.skus or ()),
        min_spend=rule.min_spend, first_purchase_only=rule.first_purchase_only,
        birthday_week=rule.birthday_week, stamps_needed=rule.stamps_needed,
        member_cap=rule.member_cap, member_cap_period=rule.member_cap_period, budget=rule.budget,
        reward_id=rule.reward_id, reward_name=_reward_name(rule),
    )


def _reward_name(rule: EarnRule) -> str:
    """The name of the reward a stamp rule's full card gives, in the site's default
    language (the snapshot is shared by every reader); "" without one."""
    if rule.reward_id is None:
        return ""
    with translation.override(settings.LANGUAGE_CODE):
        return str(rule.reward.name)


# The id of a draft rule in a simulation: saved rules have positive ids.
SIMULATED_RULE_ID = -1


def _load() -> tuple[str, ActiveRules]:
    active = EarnRule.objects.filter(status=EarnRule.Status.ACTIVE)
    rows = list(active.select_related("reward").prefetch_related("stores", "tiers").order_by("-priority", "pk"))
    rules = tuple(rule_snapshot(row) for row in rows)
    # The reward's name is in the version too: renaming it refreshes the snapshots.
    digest = hashlib.sha1(
        ";".join(
            f"{row.pk}@{row.updated_at.isoformat()}"
            + (f"/{snap.reward_id}:{snap.reward_name}" if snap.reward_id else "")
            for row, snap in zip(rows, rules, strict=True)
        ).encode(),
        usedforsecurity=False,
    ).hexdigest()
    timezones: dict[int, str] = {}
    if any(rule.needs_store_time for rule in rules):
        timezones = dict(Store.objects.values_list("pk", "timezone"))
    return digest, ActiveRules(version=digest, rules=rules, store_timezones=timezones)


_active = ProcessCache(key=RULES_CACHE_KEY, load=_load, timeout=RULES_CACHE_SECONDS)


def active_rules() -> ActiveRules:
    """The active rules, read once per process while the cache vouches for them.

    Read-only: the snapshots are shared by every caller in the process.
    """
    return _active.get()


def rules_cache_clear() -> None:
    _active.clear()


@transaction.atomic
def rule_save(
    *, rule: EarnRule, stores: list[Store] | None = None, tiers: list[Tier] | None = None
) -> EarnRule:
    """Validate and save a rule (and its stores and tiers, when given); clears the rules cache.

    Takes no lock: the last save wins.
    """
    rule.full_clean()
    rule.save()
    # save() moved updated_at: the version changes
    if stores is not None:
        rule.stores.set(stores)
    if tiers is not None:
        rule.tiers.set(tiers)
    transaction.on_commit(rules_cache_clear)
    rules_cache_clear()
    return rule


# What each staff action does to a rule's status: (the statuses it applies to, the result).
RULE_STATUS_ACTIONS = {
    "pause": (frozenset({EarnRule.Status.ACTIVE}), EarnRule.Status.PAUSED),
    "resume": (frozenset({EarnRule.Status.PAUSED}), EarnRule.Status.ACTIVE),
    "archive": (frozenset({EarnRule.Status.ACTIVE, EarnRule.Status.PAUSED}), EarnRule.Status.ARCHIVED),
}


@transaction.atomic
def rule_status_change(*, rule: EarnRule, action: str) -> EarnRule:
    """Pause, resume or archive ``rule`` (``action`` a key of ``RULE_STATUS_ACTIONS``).

    Raises ``RuleStatusUnchanged`` when the rule is not in a status the action
    applies to (an archived rule stays archived), ``ValidationError`` when the
    rule no longer validates. Saves through ``rule_save``: no lock, the last
    save wins.
    """
    sources, target = RULE_STATUS_ACTIONS[action]
    if rule.status not in sources:
        raise RuleStatusUnchanged(name=rule.name, status=rule.get_status_display().lower())
    rule.status = target
    return rule_save(rule=rule)


@transaction.atomic
def rule_copy(*, rule: EarnRule, name: str) -> EarnRule:
    """A paused copy of ``rule`` named ``name``, with the same stores and tiers."""
    copy = EarnRule.objects.get(pk=rule.pk)
    copy.pk = None
    copy._state.adding = True
    copy.name = name[: EarnRule._meta.get_field("name").max_length]
    copy.status = EarnRule.Status.PAUSED
    return rule_save(rule=copy, stores=list(rule.stores.all()), tiers=list(rule.tiers.all()))


@transaction.atomic
def rule_delete(*, rule: EarnRule) -> None:
    """Delete a rule; clears the rules cache. Earn entries keep their breakdowns."""
    rule.delete()
    transaction.on_commit(rules_cache_clear)
    rules_cache_clear()
