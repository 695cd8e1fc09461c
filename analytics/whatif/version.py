"""A program as the replay's engine needs it, in memory: the current one, or the scenario's."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import cached_property

from analytics.whatif.scenario import NEVER, Scenario, rule_change_snapshot
from loyalty.ledger.engine import LedgerRules
from loyalty.ledger.storage import ledger_rules
from loyalty.models import Program
from loyalty.rules import ProgramFacts, RuleSnapshot
from loyalty.services.rules import RuleNeeds, active_rules, rule_needs
from loyalty.services.tiers.table import TierTable, tier_table


@dataclass(frozen=True)
class Version:
    """What the engine needs of a program, in memory."""

    facts: ProgramFacts
    rules: tuple[RuleSnapshot, ...]
    by_id: Mapping[int, RuleSnapshot]
    needs: RuleNeeds
    tiers: TierTable
    ledger: LedgerRules
    point_value: Decimal

    @cached_property  # read for every member: computed once (a frozen dataclass still has a __dict__)
    def stamp_rules(self) -> dict[int, RuleSnapshot]:
        return {rule.id: rule for rule in self.rules if rule.is_stamps and rule.stamps_needed}

    @cached_property
    def needs_lines(self) -> bool:
        return any(rule.needs_lines for rule in self.rules)


def version_current(program: Program) -> Version:
    rules = active_rules().rules
    return Version(
        facts=ProgramFacts(earn_rate=program.earn_rate, timezone=program.timezone), rules=rules,
        by_id={rule.id: rule for rule in rules}, needs=rule_needs(rules), tiers=tier_table(),
        ledger=ledger_rules(program), point_value=program.point_value,
    )


def version_changed(current: Version, scenario: Scenario) -> Version:
    rules = current.rules
    if scenario.rule is not None:
        rules = tuple(rule for rule in rules if rule.id != scenario.rule.rule_id)
        if scenario.rule.action != "remove":
            rules = (*rules, rule_change_snapshot(scenario.rule))
    tiers = current.tiers
    if scenario.tier_thresholds:
        tiers = TierTable(tiers=tuple(
            replace(tier, threshold=scenario.tier_thresholds.get(tier.id, tier.threshold)) for tier in tiers.tiers
        ))
    ledger = current.ledger
    if scenario.expiry_months is not None:
        ledger = replace(ledger, expiry_months=None if scenario.expiry_months == NEVER else scenario.expiry_months)
    facts = current.facts
    if scenario.earn_rate is not None:
        facts = replace(facts, earn_rate=scenario.earn_rate)
    return Version(
        facts=facts, rules=rules, by_id={rule.id: rule for rule in rules}, needs=rule_needs(rules), tiers=tiers,
        ledger=ledger, point_value=current.point_value if scenario.point_value is None else scenario.point_value,
    )
