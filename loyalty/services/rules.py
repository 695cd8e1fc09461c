"""Earning rules: saving them, and the active ones cached for every earn.

``active_rules()`` is on the path of every earn. Like ``program_get`` it keeps
this process's copy of the active rules (immutable ``RuleSnapshot`` objects)
in a ``ProcessCache``, versioned by the rules' ids and ``updated_at``.
``rule_save`` and ``rule_delete`` clear the version (now and at commit):
every process then reads the rules again on its next earn.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.db import transaction

from loyalty.models import EarnRule, Store
from loyalty.process_cache import ProcessCache
from loyalty.rules import RuleSnapshot

RULES_CACHE_KEY = "loyalty:earn-rules:v1"
RULES_CACHE_SECONDS = 60


@dataclass(frozen=True)
class ActiveRules:
    version: str
    rules: tuple[RuleSnapshot, ...]
    store_timezones: dict[int, str]  # filled only when a rule looks at the store's local time

    @property
    def needs_first_purchase(self) -> bool:
        return any(rule.first_purchase_only for rule in self.rules)

    @property
    def needs_birth_date(self) -> bool:
        return any(rule.birthday_week for rule in self.rules)


def rule_snapshot(rule: EarnRule) -> RuleSnapshot:
    return RuleSnapshot(
        id=rule.pk, name=rule.name, kind=rule.kind, value=rule.value, priority=rule.priority,
        mode=rule.mode, group=rule.group, starts_at=rule.starts_at, ends_at=rule.ends_at,
        weekdays=frozenset(rule.weekdays or ()), hours_start=rule.hours_start, hours_end=rule.hours_end,
        store_ids=frozenset(store.pk for store in rule.stores.all()),
        categories=frozenset(rule.categories or ()), skus=frozenset(rule.skus or ()),
        min_spend=rule.min_spend, first_purchase_only=rule.first_purchase_only,
        birthday_week=rule.birthday_week,
    )


def _load() -> tuple[str, ActiveRules]:
    active = EarnRule.objects.filter(status=EarnRule.Status.ACTIVE)
    rows = list(active.prefetch_related("stores").order_by("-priority", "pk"))
    rules = tuple(rule_snapshot(row) for row in rows)
    digest = hashlib.sha1(
        ";".join(f"{row.pk}@{row.updated_at.isoformat()}" for row in rows).encode(), usedforsecurity=False
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
def rule_save(*, rule: EarnRule, stores: list[Store] | None = None) -> EarnRule:
    """Validate and save a rule (and its stores, when given); clears the rules cache.

    Takes no lock: the last save wins.
    """
    rule.full_clean()
    rule.save()
    if stores is not None:
        rule.stores.set(stores)  # save() moved updated_at: the version changes
    transaction.on_commit(rules_cache_clear)
    rules_cache_clear()
    return rule


@transaction.atomic
def rule_delete(*, rule: EarnRule) -> None:
    """Delete a rule; clears the rules cache. Earn entries keep their breakdowns."""
    rule.delete()
    transaction.on_commit(rules_cache_clear)
    rules_cache_clear()
