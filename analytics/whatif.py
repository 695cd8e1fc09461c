"""What-if on history: the last 12 months of real purchases replayed through
the earning engine under a changed program, beside the current program.

``Scenario`` is the change (earn rate, point value, expiry months, one earning
rule changed, added or removed, tier thresholds); ``whatif_replay`` replays the
window ``[end - 12 months, end)`` (calendar days in the program's zone) twice,
with the current program ("actual") and with the change, and returns both
sets of figures and the ledger's own (``analytics.kpis``), so that the replay
of the current program can be checked against what really happened. It
writes nothing: it runs in a transaction that is rolled back, and the engine
it drives (``loyalty.rules.evaluate``, ``loyalty.ledger.engine.AccountLedger``,
``TierTable``'s decisions, the review's ``_review_one``, ``refund_apply``,
``earning_credit``) works on in-memory objects.

How a member is replayed
------------------------
Members are read in ascending id, ``BATCH_MEMBERS`` at a time; each stream of
a batch is read with ``.iterator(chunk_size=...)`` and only the batch's
events are held. For each member:

1. The opening state at the window's start: every ledger entry before it
   (earn, bonus, returned redemption and positive adjustment: credits;
   redemption and negative adjustment: debits; refund reversals) goes
   through one ``AccountLedger`` with the real settings, which releases and
   expires lots as they fell due. Both programs start from this state (lots
   earned before the window keep the real expiry). The tier held at the
   start is the last ``TierChange`` before it.
2. Then, in time order, for each program: each purchase of the window is
   evaluated by the engine with that program's earn rate, rules and tiers
   and the member's context as replayed so far (tier, stamps, first
   purchase, birthday, segments), capped by that program's caps, and
   credited as a pending lot expiring after that program's months; the tier
   moves up at once after it, as ``tier_upgrade_if_qualified`` decides.
   Refunds reverse ``floor(points x remaining / amount)`` of the replayed
   points. Bonuses, returned vouchers and adjustments are replayed as they
   happened. Redemptions are member decisions: the real redemption is kept,
   capped by the replayed available balance (a member cannot spend points
   the changed program would not have given them); a returned voucher gives
   back at most what the replay took. The periodic tier review runs at the
   instants it really ran (the times of the ledger's grace and review
   changes); paid tiers and staff changes happen when they really happened.
3. At the end the account is settled to the window's end; the figures are
   summed: points earned (earn + bonus + reversal, as the KPI), redeemed
   (redeem - returned), expired, liability ((available + pending) x point
   value), breakage (expired / earned), and the tier mix at the end.

Known simplifications (in the README too)
-----------------------------------------
* The current program (settings, active rules, tiers) is taken to have been
  in force the whole window; a rule paused, archived or edited during the
  window, or settings changed, make the baseline replay differ from the
  ledger (the page shows the ledger's figures beside it).
* Segment membership is today's, not as it was at each purchase.
* Stamp cards start the window with the stamps the earn entries before it
  gave (modulo a card); stamps taken back by refunds before the window, and
  stamps of purchases made before the window that are refunded in it, are
  not counted.
* Caps: per-member caps count what the member's earn entries before the
  window gave; total budgets count what all earn entries before the window
  gave, then the replay in member order (as the bulk import counts them),
  not in strict time order.
* A paid tier's floor under a higher qualifying tier is not modelled.
* Manual adjustments, bonuses and redemptions are replayed as they were
  (redemptions capped by the replayed balance); they are not re-decided.
* Events of one member at the same instant are taken purchases first, then
  refunds, then other ledger entries.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from types import SimpleNamespace
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Min, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _gettext
from django.utils.translation import gettext_lazy as _

from analytics.kpis import _ledger as kpis_ledger
from analytics.kpis import _money as kpi_money
from analytics.kpis import _ratio as kpi_ratio
from analytics.kpis import kpi_scope
from loyalty.earning import Earning
from loyalty.ledger.engine import AccountLedger, LedgerRules
from loyalty.ledger.storage import ledger_rules
from loyalty.models import EarnRule, LedgerEntry, Program, Purchase, PurchaseLine, Refund, Store, Tier, TierChange
from loyalty.months import months_shift
from loyalty.rules import (
    Evaluation,
    Line,
    MemberContext,
    ProgramFacts,
    PurchaseFacts,
    RuleSnapshot,
    evaluate,
    evaluation_capped,
    stamp_card_fill,
)
from loyalty.segments import members_segments
from loyalty.services.budgets import TOTAL, capped_rules, member_scope, rule_caps
from loyalty.services.program import program_get
from loyalty.services.purchases import earning_credit, refund_apply
from loyalty.services.rules import SIMULATED_RULE_ID, RuleNeeds, active_rules, rule_needs, rule_snapshot
from loyalty.services.stamps import stamps_given, stamps_removed
from loyalty.services.tiers.review import _review_one
from loyalty.services.tiers.table import TierTable, tier_table, tier_upgrade_window, tier_window_start
from members.models import Member

Kind = LedgerEntry.Kind
WINDOW_MONTHS = 12
BATCH_MEMBERS = 500
CHUNK = 2000
NEVER = "never"
RULE_ACTIONS = ("change", "add", "remove")
_TICK = dt.timedelta(microseconds=1)
BASE_LABEL = "Base rate"

# -- the scenario ------------------------------------------------------------------


@dataclass(frozen=True)
class RuleChange:
    """One earning rule changed (``rule_id`` and the new ``fields``), added (``fields`` as
    the rule form takes them) or removed (``rule_id``)."""

    action: str
    rule_id: int | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    """A change of the program to replay. ``None`` (and an empty mapping) means unchanged;
    ``expiry_months=NEVER`` means points never expire. Build it with ``scenario_from_data``,
    which checks it."""

    earn_rate: Decimal | None = None
    point_value: Decimal | None = None
    expiry_months: int | str | None = None
    rule: RuleChange | None = None
    tier_thresholds: Mapping[int, Decimal] = field(default_factory=dict)

    @property
    def changes_earning(self) -> bool:
        return self.earn_rate is not None or self.rule is not None or bool(self.tier_thresholds)

    def as_data(self) -> dict:
        """The JSON kept on ``Simulation.scenario`` (``scenario_from_data`` reads it back)."""
        data: dict[str, Any] = {}
        if self.earn_rate is not None:
            data["earn_rate"] = str(self.earn_rate)
        if self.point_value is not None:
            data["point_value"] = str(self.point_value)
        if self.expiry_months is not None:
            data["expiry_months"] = self.expiry_months
        if self.rule is not None:
            rule: dict[str, Any] = {"action": self.rule.action}
            if self.rule.rule_id is not None:
                rule["id"] = self.rule.rule_id
            if self.rule.fields:
                rule["fields"] = dict(self.rule.fields)
            data["rule"] = rule
        if self.tier_thresholds:
            data["tier_thresholds"] = {str(pk): str(value) for pk, value in self.tier_thresholds.items()}
        return data


LABELS = {
    "earn_rate": _("Earn rate"),
    "point_value": _("Point value"),
    "expiry_months": _("Expiry (months)"),
    "rule": _("Earning rule"),
    "tier_thresholds": _("Tier thresholds"),
}


def _error(name: str, message: str, **params: object) -> ValidationError:
    """An error on ``name`` whose message starts with the field's label."""
    text = _gettext("%(field)s: %(message)s") % {"field": LABELS.get(name, name), "message": message % params}
    return ValidationError({name: ValidationError(text, code="invalid")})


def _decimal(name: str, value: object, *, places: int) -> Decimal:
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise _error(name, _gettext("%(value)s is not a number; write it with a dot, e.g. 1.5."),
                     value=str(value)[:20]) from None
    if not number.is_finite() or number < 0:
        raise _error(name, _gettext("give a number of 0 or more."))
    if number != number.quantize(Decimal(1).scaleb(-places)):
        raise _error(name, _gettext("use at most %(places)d decimal places."), places=places)
    return number


def scenario_from_data(data: Mapping[str, Any]) -> Scenario:
    """Check a scenario given as data (the form's, or ``Simulation.scenario``).

    Raises ``ValidationError`` keyed by the field at fault, its message naming
    the field; a rule's own fields are checked by the staff rule form (keys
    ``rule.<field>``). Reads the rules and tiers; writes nothing. A scenario
    that changes nothing is refused.
    """
    if not isinstance(data, Mapping):
        raise _error("rule", _gettext("the scenario is not readable."))
    unknown = set(data) - set(LABELS)
    if unknown:
        raise ValidationError({"__all__": _gettext("Unknown scenario keys: %(keys)s.") % {
            "keys": ", ".join(sorted(map(str, unknown)))}})
    earn_rate = point_value = None
    if data.get("earn_rate") not in (None, ""):
        earn_rate = _decimal("earn_rate", data["earn_rate"], places=4)
    if data.get("point_value") not in (None, ""):
        point_value = _decimal("point_value", data["point_value"], places=4)
    expiry = data.get("expiry_months")
    if expiry in ("", None):
        expiry = None
    elif expiry != NEVER:
        if isinstance(expiry, bool) or not str(expiry).strip().isdigit() or int(expiry) < 1 or int(expiry) > 240:
            raise _error("expiry_months", _gettext("give whole months from 1 to 240, or \"never\"."))
        expiry = int(expiry)
    rule = _rule_change(data.get("rule"))
    thresholds = _thresholds(data.get("tier_thresholds") or {})
    scenario = Scenario(
        earn_rate=earn_rate, point_value=point_value, expiry_months=expiry, rule=rule, tier_thresholds=thresholds,
    )
    if not scenario.as_data():
        raise ValidationError({"__all__": _gettext("Choose a change to try: the scenario changes nothing.")})
    return scenario


def _rule_change(value: object) -> RuleChange | None:
    if value in (None, "", {}):
        return None
    if not isinstance(value, Mapping) or value.get("action") not in RULE_ACTIONS:
        raise _error("rule", _gettext("say whether a rule is changed, added or removed."))
    action = value["action"]
    fields = value.get("fields") or {}
    if not isinstance(fields, Mapping):
        raise _error("rule", _gettext("the rule's fields are not readable."))
    rule_id = value.get("id")
    if action == "add":
        change = RuleChange(action=action, fields=dict(fields))
    else:
        if isinstance(rule_id, bool) or not str(rule_id or "").isdigit():
            raise _error("rule", _gettext("choose the rule to change or remove."))
        rule_id = int(rule_id)
        rule = EarnRule.objects.filter(pk=rule_id).first()
        if rule is None or rule.status == EarnRule.Status.ARCHIVED:
            raise _error("rule", _gettext("rule %(id)d does not exist or is archived."), id=rule_id)
        if action == "remove" and rule.status != EarnRule.Status.ACTIVE:
            raise _error("rule", _gettext("rule %(name)s is not active: removing it changes nothing."),
                         name=rule.name)
        if action == "change" and not fields:
            raise _error("rule", _gettext("give at least one new value for rule %(name)s."), name=rule.name)
        change = RuleChange(action=action, rule_id=rule_id, fields=dict(fields) if action == "change" else {})
    if action != "remove":
        rule_change_snapshot(change)  # the rule form checks the fields
    return change


def _thresholds(value: object) -> dict[int, Decimal]:
    if not isinstance(value, Mapping):
        raise _error("tier_thresholds", _gettext("the thresholds are not readable."))
    tiers = {tier.pk: tier for tier in Tier.objects.all()}
    found: dict[int, Decimal] = {}
    for key, raw in value.items():
        if raw in (None, ""):
            continue
        tier = tiers.get(int(key)) if str(key).isdigit() else None
        if tier is None or tier.is_paid or tier.archived:
            raise _error("tier_thresholds", _gettext("%(key)s is not a qualifying tier."), key=str(key)[:20])
        number = _decimal("tier_thresholds", raw, places=2)
        if number == tier.threshold:
            continue
        found[tier.pk] = number
    ranked = sorted(
        (tier for tier in tiers.values() if not tier.is_paid and not tier.archived and tier.threshold is not None),
        key=lambda tier: tier.rank,
    )
    values = [found.get(tier.pk, tier.threshold) for tier in ranked]
    for lower, higher, low_value, high_value in zip(ranked, ranked[1:], values, values[1:], strict=False):
        if high_value <= low_value:
            raise _error(
                "tier_thresholds",
                _gettext("%(higher)s (%(high)s) must need more than %(lower)s (%(low)s)."),
                higher=higher.code, high=high_value, lower=lower.code, low=low_value,
            )
    return found


def rule_change_snapshot(change: RuleChange) -> RuleSnapshot:
    """The snapshot of a changed or added rule, its fields checked by the staff rule form
    (``EarnRuleForm``, the same checks as saving it); errors are keyed ``rule.<field>``.
    The rule is never saved: the form works on an unsaved copy."""
    from loyalty.forms.rules import EarnRuleForm  # a form: imported only where a rule is checked

    program = program_get()
    if change.action == "add":
        data = {"status": EarnRule.Status.ACTIVE, "priority": 0, "mode": EarnRule.Mode.STACK,
                "member_cap_period": EarnRule.CapPeriod.RULE, **change.fields}
        form = EarnRuleForm(data=data, tz=program.tz)
        rule_id = SIMULATED_RULE_ID
    else:
        current = EarnRule.objects.get(pk=change.rule_id)
        unbound = EarnRuleForm(instance=current, tz=program.tz)
        data = {name: unbound[name].value() for name in unbound.fields}
        data = {name: value for name, value in data.items() if value is not None}
        unknown = set(change.fields) - set(unbound.fields)
        if unknown:
            raise _error("rule", _gettext("the rule form has no field %(name)s."), name=sorted(unknown)[0])
        data.update(change.fields)
        form = EarnRuleForm(data=data, instance=EarnRule.objects.get(pk=change.rule_id), tz=program.tz)
        rule_id = change.rule_id
    if not form.is_valid():
        errors = {}
        for name, messages in form.errors.items():
            label = form.fields[name].label if name in form.fields else _gettext("Earning rule")
            errors[f"rule.{name}"] = [
                ValidationError(_gettext("%(field)s: %(message)s") % {"field": label, "message": message})
                for message in messages
            ]
        raise ValidationError(errors)
    stores = list(form.cleaned_data.get("stores") or [])
    tiers = list(form.cleaned_data["tiers"]) if "tiers" in form.cleaned_data else None
    return rule_snapshot(form.instance, rule_id=rule_id, stores=stores, tiers=tiers)


# -- a program version: the current one, or the scenario's --------------------------


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

    @property
    def stamp_rules(self) -> dict[int, RuleSnapshot]:
        return {rule.id: rule for rule in self.rules if rule.is_stamps and rule.stamps_needed}

    @property
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


# -- the result -----------------------------------------------------------------------


@dataclass
class Figures:
    """One column of the comparison. ``tier_mix``: members per tier code at the end
    (``""``: no tier), over the members ``members_total`` counts."""

    points_earned: int = 0
    points_redeemed: int = 0
    points_expired: int = 0
    points_outstanding: int = 0
    liability: Decimal = Decimal("0.00")
    breakage_rate: float | None = None
    tier_mix: dict[str, int] = field(default_factory=dict)
    points_base: int | None = None  # the earn's breakdown (replays only), before refunds
    points_tier: int | None = None
    points_rules: int | None = None

    def as_data(self) -> dict:
        return {
            "points_earned": self.points_earned, "points_redeemed": self.points_redeemed,
            "points_expired": self.points_expired, "points_outstanding": self.points_outstanding,
            "liability": str(self.liability), "breakage_rate": self.breakage_rate, "tier_mix": self.tier_mix,
            "points_base": self.points_base, "points_tier": self.points_tier, "points_rules": self.points_rules,
        }


@dataclass(frozen=True)
class WhatIfResult:
    start: dt.date
    end: dt.date
    currency: str
    actual: Figures  # the replay of the current program
    scenario: Figures  # the replay with the change
    ledger: Figures  # what the ledger says (analytics.kpis), to check the replay against
    members: int
    purchases: int
    refunds: int
    purchases_changed: int  # purchases whose points differ between the two replays
    seconds: float

    def as_data(self) -> dict:
        return {
            "start": self.start.isoformat(), "end": self.end.isoformat(), "currency": self.currency,
            "actual": self.actual.as_data(), "scenario": self.scenario.as_data(), "ledger": self.ledger.as_data(),
            "members": self.members, "purchases": self.purchases, "refunds": self.refunds,
            "purchases_changed": self.purchases_changed, "seconds": round(self.seconds, 2),
        }


# -- one member's replay under one version -----------------------------------------


@dataclass
class _TierState:
    member_id: int
    tier_id: int | None = None
    grace_until: dt.datetime | None = None
    cells: list = field(default_factory=list)  # [at, value] in time order (spend: per purchase)
    by_purchase: dict = field(default_factory=dict)

    def add(self, at: dt.datetime, value, purchase_id: int | None = None) -> None:
        cell = [at, value]
        self.cells.append(cell)
        if len(self.cells) > 1 and self.cells[-2][0] > at:
            self.cells.sort(key=lambda item: item[0])
        if purchase_id is not None:
            self.by_purchase[purchase_id] = cell

    def value(self, start: dt.datetime, end: dt.datetime) -> Decimal:
        return Decimal(sum((cell[1] for cell in self.cells if start < cell[0] <= end), 0))

    def copy(self) -> _TierState:
        cells = [list(cell) for cell in self.cells]
        by_cell = {id(old): new for old, new in zip(self.cells, cells, strict=True)}
        return _TierState(
            self.member_id, self.tier_id, self.grace_until, cells,
            {pk: by_cell[id(cell)] for pk, cell in self.by_purchase.items()},
        )


class _ReviewWrites:
    """What ``_review_one`` decides, applied to the replayed tier (the review's own rules)."""

    def __init__(self, state: _TierState) -> None:
        self.state = state

    def move(self, status, *, member_id, tier_id, reason, at, count, vip_until=None, clear_vip=False):
        self.state.tier_id, self.state.grace_until = tier_id, None
        return self.state

    def mark(self, status, *, reason, at, count) -> None:
        pass


@dataclass
class _Totals:
    earned: int = 0
    redeemed: int = 0
    expired: int = 0
    outstanding: int = 0
    base: int = 0
    tier: int = 0
    rules: int = 0
    tier_mix: Counter = field(default_factory=Counter)
    budgets: dict = field(default_factory=dict)  # rule id -> points given in all


class _Track:
    """One member's account replayed under one version."""

    def __init__(self, ctx: _Context, version: Version, totals: _Totals, opening: _Opening, member) -> None:
        self.ctx, self.version, self.totals = ctx, version, totals
        self.member_id, self.birth_date = member.pk, member.birth_date
        lots = [replace(lot) for lot in opening.ledger.lots if lot.is_open]
        self.ledger = AccountLedger(
            rules=version.ledger, available=opening.ledger.available, pending=opening.ledger.pending,
            debt=opening.ledger.debt, next_due_at=opening.ledger.next_due_at, load_lots=lambda: lots,
        )
        self.lots = {lot.purchase_id: lot for lot in self.ledger.lots if lot.purchase_id is not None}
        self.tier = opening.tier.copy()
        self.stamps = {
            rule_id: given % version.stamp_rules[rule_id].stamps_needed
            for rule_id, given in opening.stamps.items() if rule_id in version.stamp_rules
        }
        self.usage: dict[tuple[int, str], int] = defaultdict(int)
        for rule_id, at, points in opening.rule_points:
            rule = version.by_id.get(rule_id)
            if rule is not None and rule.member_cap is not None:
                self.usage[rule_id, member_scope(rule, member_id=self.member_id, at=at, tz=version.facts.timezone)] \
                    += points
        self.earliest = opening.earliest
        self.purchases: dict[int, list] = {}  # pk -> [points, kept, refunded, stamps given]
        self.shortfall = 0  # points the replay's redemptions took less than the real ones
        self.standing = _tier_standing(version.tiers, self.tier.tier_id)

    def _lot_pk(self, draft) -> None:
        if draft is not None and draft.lot is not None and draft.lot.pk is None:
            draft.lot.pk = next(self.ctx.lot_ids)

    # -- events -----------------------------------------------------------

    def evaluation(self, row: tuple, lines: tuple[Line, ...], segments: frozenset[int]) -> Evaluation:
        _pk, _member, store_id, at, amount, _points = row
        version = self.version
        first = self.earliest is None or not self.earliest < at
        tier_id, tier_code, multiplier = self.standing
        context = MemberContext(
            is_first_purchase=first, birth_date=self.birth_date, tier_id=tier_id, tier_code=tier_code,
            tier_multiplier=multiplier, segment_ids=segments, stamps=self.stamps,
        )
        facts = PurchaseFacts(
            store_id=store_id, store_tz=self.ctx.store_tz.get(store_id, "UTC"), purchased_at=at, amount=amount,
            lines=lines,
        )
        evaluation = evaluate(purchase=facts, member=context, program=version.facts, rules=version.rules,
                              base_label=BASE_LABEL)
        return self._capped(evaluation, at)

    def _capped(self, evaluation: Evaluation, at: dt.datetime) -> Evaluation:
        capped = capped_rules(evaluation, self.version.by_id)
        if not capped:
            return evaluation
        tz = self.version.facts.timezone
        caps = {rule.id: rule_caps(rule, member_id=self.member_id, at=at, tz=tz) for rule in capped}

        def used(rule_id: int, scope: str) -> int:
            if scope == TOTAL:
                return self.totals.budgets.get(rule_id, 0)
            return self.usage[rule_id, scope]

        left = {rule_id: min(cap - used(rule_id, scope) for scope, cap in found) for rule_id, found in caps.items()}
        result = evaluation_capped(evaluation, left=left)
        for item in result.applied:
            if item.rule_id in caps and item.points > 0:
                for scope, _cap in caps[item.rule_id]:
                    if scope == TOTAL:
                        self.totals.budgets[item.rule_id] = self.totals.budgets.get(item.rule_id, 0) + item.points
                    else:
                        self.usage[item.rule_id, scope] += item.points
        return result

    def purchase(self, row: tuple, evaluation: Evaluation) -> int:
        pk, _member, _store, at, amount, _points = row
        given: dict[int, int] = {}
        for rule_id, (stamps, _cards) in evaluation.stamps.items():
            rule = self.version.by_id[rule_id]
            _filled, self.stamps[rule_id] = stamp_card_fill(
                current=self.stamps.get(rule_id, 0), given=stamps, needed=rule.stamps_needed
            )
            given[rule_id] = stamps
        for item in evaluation.applied:
            if item.rule_id == "base":
                self.totals.base += item.points
            elif item.rule_id == "tier":
                self.totals.tier += item.points
            else:
                self.totals.rules += item.points
        earning = Earning(points=evaluation.points, breakdown=evaluation.breakdown, evaluation=evaluation)
        draft = earning_credit(self.ledger, earning=earning, purchase_id=pk, purchased_at=at)
        self._lot_pk(draft)
        if draft is not None and draft.lot is not None:
            self.lots[pk] = draft.lot
        self.purchases[pk] = [evaluation.points, evaluation.points, Decimal(0), given]
        if self.earliest is None or at < self.earliest:
            self.earliest = at
        if self.ctx.tiering:
            if self.ctx.program.tier_metric == "points":
                if evaluation.points:
                    self.tier.add(at, evaluation.points)
            else:
                self.tier.add(at, amount, pk)
            self._upgrade(at)
        return evaluation.points

    def refund(self, row: tuple) -> None:
        _pk, purchase_id, _member, amount, at, purchase_amount, purchased_at, real_points, prior = row
        state = self.purchases.get(purchase_id)
        if state is None:  # bought before the window: the points it really earned
            kept = _kept(real_points, purchase_amount, prior)
            state = self.purchases[purchase_id] = [real_points, kept, prior, {}]
        points, kept, refunded_before, given = state
        purchase = Purchase(amount=purchase_amount, refunded_amount=refunded_before, points=points,
                            points_kept=kept, purchased_at=purchased_at)
        refunded, state[1], reversed_points = refund_apply(purchase=purchase, amount=amount, refunded_at=at)
        state[2] = refunded
        for rule_id, stamps in stamps_removed(
            given, amount=purchase_amount, refunded_before=refunded_before, refunded_after=refunded
        ).items():
            self.stamps[rule_id] = max(0, self.stamps.get(rule_id, 0) - stamps)
        if reversed_points:
            self.ledger.reverse(
                lot=self.lots.get(purchase_id), points=reversed_points, effective_at=at, idempotency_key="",
                purchase_id=purchase_id,
            )
        if self.ctx.tiering:
            if self.ctx.program.tier_metric == "points":
                if reversed_points:
                    self.tier.add(at, -reversed_points)
            elif (cell := self.tier.by_purchase.get(purchase_id)) is not None:
                cell[1] -= amount

    def entry(self, row: tuple) -> None:
        _member, kind, points, at, _purchase, pending_delta, _breakdown = row
        ledger = self.ledger
        if kind == Kind.REDEEM_CANCEL:  # what a redemption did not take is not given back
            kept_back = min(points, self.shortfall)
            self.shortfall -= kept_back
            points -= kept_back
        if points > 0:
            self._lot_pk(ledger.credit(kind=kind, points=points, effective_at=at, idempotency_key="",
                                       pending=pending_delta > 0))
            if kind == Kind.BONUS and self.ctx.tiering and self.ctx.program.tier_metric == "points":
                self.tier.add(at, points)
        elif points < 0:
            ledger.settle(at)
            taken = min(-points, ledger.available)
            if taken:
                ledger.debit(kind=kind, points=taken, effective_at=at, idempotency_key="")
            if kind == Kind.REDEEM:
                self.shortfall += -points - taken

    def tier_event(self, tier_id: int | None) -> None:
        self.tier.tier_id, self.tier.grace_until = tier_id, None
        self.standing = _tier_standing(self.version.tiers, tier_id)

    def review(self, at: dt.datetime) -> None:
        table = self.version.tiers
        value = self.tier.value(tier_window_start(as_of=at, program=self.ctx.program), at) \
            if table.qualifying else Decimal(0)
        _review_one(
            _ReviewWrites(self.tier), table, member_id=self.member_id,
            status=self.tier if self.tier.tier_id is not None else None, value=value, floor=None, now=at,
            grace_days=self.ctx.program.tier_grace_days,
        )
        self.standing = _tier_standing(table, self.tier.tier_id)

    def _upgrade(self, at: dt.datetime) -> None:
        table, state = self.version.tiers, self.tier
        current = table.get(state.tier_id)
        in_grace = state.grace_until is not None
        if not table.upgrade_possible(current=current, in_grace=in_grace):
            return
        start, end = tier_upgrade_window(at=at, program=self.ctx.program)
        target = table.upgrade_to(current=current, in_grace=in_grace, value=state.value(start, end))
        if target is None:
            return
        state.tier_id, state.grace_until = target.id, None
        self.standing = _tier_standing(table, target.id)

    def close(self, *, counted: bool) -> None:
        ctx, totals = self.ctx, self.totals
        self.ledger.settle(ctx.end_at - _TICK)
        for entry in self.ledger.entries:
            if not ctx.start_at <= entry.effective_at < ctx.end_at:
                continue
            if entry.kind in (Kind.EARN, Kind.BONUS, Kind.REVERSAL):
                totals.earned += entry.points
            elif entry.kind in (Kind.REDEEM, Kind.REDEEM_CANCEL):
                totals.redeemed -= entry.points
            elif entry.kind == Kind.EXPIRE:
                totals.expired -= entry.points
        totals.outstanding += self.ledger.available + self.ledger.pending
        tier = self.version.tiers.get(self.tier.tier_id)
        if counted and tier is not None:
            totals.tier_mix[tier.code] += 1


def _tier_standing(table: TierTable, tier_id: int | None) -> tuple[int | None, str, Decimal]:
    tier = table.get(tier_id)
    if tier is None:
        return None, "", Decimal(1)
    return tier.id, tier.code, tier.multiplier


def _kept(points: int, amount: Decimal, refunded: Decimal) -> int:
    from loyalty.services.purchases import refund_points_kept

    return refund_points_kept(points=points, amount=amount, refunded=refunded) if refunded else points


# -- the opening state at the window's start ----------------------------------------


@dataclass
class _Opening:
    ledger: AccountLedger
    tier: _TierState
    stamps: dict[int, int] = field(default_factory=dict)  # stamp rule id -> stamps given before the window
    rule_points: list = field(default_factory=list)  # (rule id, at, points) of capped rules before the window
    earliest: dt.datetime | None = None


def _opening(ctx: _Context, member_id: int, entries: list, tier_rows: list, earliest) -> _Opening:
    ledger = AccountLedger(rules=ctx.real_ledger, available=0, pending=0, debt=0, next_due_at=None, load_lots=list)
    state = _TierState(member_id)
    opening = _Opening(ledger=ledger, tier=state, earliest=earliest)
    lots = {}
    window_from = ctx.tier_window_from
    for _member, kind, points, at, purchase_id, pending_delta, breakdown in entries:
        if kind == Kind.REVERSAL:
            ledger.reverse(lot=lots.get(purchase_id), points=-points, effective_at=at, idempotency_key="",
                           purchase_id=purchase_id)
        elif points > 0:
            draft = ledger.credit(kind=kind, points=points, effective_at=at, idempotency_key="",
                                  pending=pending_delta > 0, purchase_id=purchase_id)
            draft.lot.pk = next(ctx.lot_ids)
            if purchase_id is not None:
                lots[purchase_id] = draft.lot
        elif points < 0:
            ledger.settle(at)
            taken = min(-points, ledger.available)
            if taken:
                ledger.debit(kind=kind, points=taken, effective_at=at, idempotency_key="")
        if kind in (Kind.EARN, Kind.BONUS, Kind.REVERSAL) and ctx.tiering and ctx.program.tier_metric == "points" \
                and window_from < at:
            state.add(at, points)
        if kind == Kind.EARN and breakdown:
            for rule_id, stamps in stamps_given(breakdown).items():
                opening.stamps[rule_id] = opening.stamps.get(rule_id, 0) + stamps
            for item in breakdown:
                if item.get("rule") in ctx.capped_ids and item.get("points"):
                    opening.rule_points.append((item["rule"], at, item["points"]))
    ledger.settle(ctx.start_at - _TICK)
    ledger.entries.clear()
    for _member, _from, to_tier, reason, at in tier_rows:
        if at >= ctx.start_at:
            break
        state.tier_id = to_tier
        state.grace_until = at + dt.timedelta(days=ctx.program.tier_grace_days) \
            if reason == TierChange.Reason.GRACE else None
    return opening


# -- the replay -----------------------------------------------------------------------


@dataclass
class _Context:
    program: Program
    start_at: dt.datetime
    end_at: dt.datetime
    real_ledger: LedgerRules
    store_tz: dict[int, str]
    tiering: bool
    tier_window_from: dt.datetime
    capped_ids: frozenset[int]
    reviews: list[dt.datetime]
    lot_ids: Iterable[int] = field(default_factory=lambda: itertools.count(1))


def window_bounds(*, end: dt.date | None, program: Program) -> tuple[dt.date, dt.date]:
    """``(start, end)`` dates of the replayed window: the 12 months before ``end``
    (default: today in the program's zone)."""
    if end is None:
        end = dt.datetime.now(program.tz).date()
    start = months_shift(dt.datetime.combine(end, dt.time.min), -WINDOW_MONTHS).date()
    return start, end


def whatif_replay(
    scenario: Scenario, *, end: dt.date | None = None, batch_members: int = BATCH_MEMBERS
) -> WhatIfResult:
    """Replay the 12 months before ``end`` with the current program and with ``scenario``.

    Reads only, in a transaction that is rolled back whatever happens (the
    engine runs on in-memory objects and never writes; the rollback is a
    guarantee, not a need). Memory holds one batch of members' events.
    Raises ``ValidationError`` when the scenario's rule no longer validates.
    """
    started = time.monotonic()
    with transaction.atomic():
        try:
            return _replay(scenario, end=end, batch_members=batch_members, started=started)
        finally:
            transaction.set_rollback(True)


def _replay(scenario: Scenario, *, end, batch_members: int, started: float) -> WhatIfResult:
    program = program_get()
    start, end = window_bounds(end=end, program=program)
    scope = kpi_scope(start=start, end=end, program=program)
    current = version_current(program)
    changed = version_changed(current, scenario)
    versions = (current, changed)
    tiering = any(version.tiers.qualifying for version in versions)
    capped_ids = frozenset(rule.id for version in versions for rule in version.rules if rule.is_capped)
    ctx = _Context(
        program=program, start_at=scope.start_at, end_at=scope.end_at, real_ledger=ledger_rules(program),
        store_tz=dict(Store.objects.values_list("pk", "timezone")), tiering=tiering,
        tier_window_from=tier_window_start(as_of=scope.start_at, program=program), capped_ids=capped_ids,
        reviews=sorted(set(
            TierChange.objects.filter(
                reason__in=[TierChange.Reason.GRACE, TierChange.Reason.REVIEW],
                at__gte=scope.start_at, at__lt=scope.end_at,
            ).values_list("at", flat=True).distinct()
        )),
    )
    totals = (_Totals(), _Totals())
    budgets = _budgets_before(ctx, versions)
    for total in totals:
        total.budgets = dict(budgets)
    needs_lines = any(version.needs_lines for version in versions)
    segment_ids = frozenset().union(*(version.needs.segment_ids for version in versions))
    needs_first = any(version.needs.first_purchase for version in versions)
    counts = Counter()
    real_mix: Counter = Counter()
    members_total = 0
    last = 0
    while True:
        batch = list(
            Member.objects.filter(pk__gt=last).order_by("pk")
            .values_list("pk", "birth_date", "enrolled_at", "status")[:batch_members]
        )
        if not batch:
            break
        last = batch[-1][0]
        low, high = batch[0][0], last
        events = _batch_events(ctx, low, high, needs_lines=needs_lines, needs_first=needs_first)
        segments = members_segments([row[0] for row in batch], segment_ids) if segment_ids else {}
        for pk, birth_date, enrolled_at, status in batch:
            counted = enrolled_at < ctx.end_at and status != Member.Status.DELETED
            members_total += counted
            member = SimpleNamespace(pk=pk, birth_date=birth_date)
            tier_rows = events["tiers"].get(pk, [])
            real = next((row[2] for row in reversed(tier_rows) if row[4] < ctx.end_at), None)
            if counted and real is not None:
                real_mix[real] += 1
            _replay_member(
                ctx, member, versions, totals, events, segments.get(pk, frozenset()), counted=counted,
                counts=counts, same_earning=not scenario.changes_earning,
            )
    codes = {tier.id: tier.code for tier in current.tiers.tiers}
    figures = [_figures(total, version, members_total) for total, version in zip(totals, versions, strict=True)]
    real = kpis_ledger(scope)  # the KPIs' own definitions
    ledger = Figures(
        points_earned=real["points_earned"], points_redeemed=real["points_redeemed"],
        points_expired=real["points_expired"], points_outstanding=real["outstanding"],
        liability=kpi_money(real["outstanding"] * program.point_value),
        breakage_rate=kpi_ratio(real["points_expired"], real["points_earned"]),
        tier_mix=_mix({codes.get(tier_id, str(tier_id)): n for tier_id, n in real_mix.items()}, members_total),
    )
    return WhatIfResult(
        start=start, end=end, currency=program.currency, actual=figures[0], scenario=figures[1], ledger=ledger,
        members=members_total, purchases=counts["purchases"], refunds=counts["refunds"],
        purchases_changed=counts["changed"], seconds=time.monotonic() - started,
    )


def _mix(mix: Mapping[str, int], members_total: int) -> dict[str, int]:
    result = dict(sorted(mix.items()))
    result[""] = members_total - sum(mix.values())
    return result


def _figures(total: _Totals, version: Version, members_total: int) -> Figures:
    return Figures(
        points_earned=total.earned, points_redeemed=total.redeemed, points_expired=total.expired,
        points_outstanding=total.outstanding,
        liability=kpi_money(total.outstanding * version.point_value),
        breakage_rate=kpi_ratio(total.expired, total.earned),
        tier_mix=_mix(total.tier_mix, members_total), points_base=total.base, points_tier=total.tier,
        points_rules=total.rules,
    )


def _budgets_before(ctx: _Context, versions: tuple[Version, ...]) -> dict[int, int]:
    """What each budgeted rule gave before the window, from the earn entries' breakdowns
    (a pass over them only when a rule has a total budget)."""
    budgeted = {rule.id for version in versions for rule in version.rules if rule.budget is not None}
    used: dict[int, int] = {}
    if not budgeted:
        return used
    rows = LedgerEntry.objects.filter(kind=Kind.EARN, effective_at__lt=ctx.start_at).values_list("breakdown", flat=True)
    for breakdown in rows.iterator(chunk_size=CHUNK):
        for item in breakdown or ():
            if item.get("rule") in budgeted:
                used[item["rule"]] = used.get(item["rule"], 0) + int(item.get("points") or 0)
    return used


def _grouped(rows: Iterable[tuple], index: int = 0) -> dict[int, list[tuple]]:
    grouped: dict[int, list[tuple]] = defaultdict(list)
    for row in rows:
        grouped[row[index]].append(row)
    return grouped


ENTRY_ROW = ("account_id", "kind", "points", "effective_at", "purchase_id", "pending_delta", "breakdown")


def _batch_events(ctx: _Context, low: int, high: int, *, needs_lines: bool, needs_first: bool) -> dict:
    """Every event of the members ``low``..``high``, grouped by member, in time order."""
    start, end = ctx.start_at, ctx.end_at
    entries = LedgerEntry.objects.filter(account_id__gte=low, account_id__lte=high)
    before = entries.filter(effective_at__lt=start).exclude(kind__in=[Kind.RELEASE, Kind.EXPIRE])
    events: dict[str, Any] = {
        "before": _grouped(before.order_by("account_id", "effective_at", "pk").values_list(*ENTRY_ROW)
                           .iterator(chunk_size=CHUNK)),
        "entries": _grouped(
            entries.filter(effective_at__gte=start, effective_at__lt=end,
                           kind__in=[Kind.BONUS, Kind.REDEEM, Kind.REDEEM_CANCEL, Kind.ADJUST])
            .order_by("account_id", "effective_at", "pk").values_list(*ENTRY_ROW).iterator(chunk_size=CHUNK)
        ),
    }
    purchases = Purchase.objects.filter(member_id__gte=low, member_id__lte=high)
    events["purchases"] = _grouped(
        purchases.filter(purchased_at__gte=start, purchased_at__lt=end).order_by("member_id", "purchased_at", "pk")
        .values_list("pk", "member_id", "store_id", "purchased_at", "amount", "points").iterator(chunk_size=CHUNK),
        index=1,
    )
    lines: dict[int, list[Line]] = defaultdict(list)
    if needs_lines:
        rows = PurchaseLine.objects.filter(
            purchase__member_id__gte=low, purchase__member_id__lte=high,
            purchase__purchased_at__gte=start, purchase__purchased_at__lt=end,
        ).order_by("purchase_id", "pk").values_list("purchase_id", "sku", "category", "quantity", "amount")
        for purchase_id, sku, category, quantity, amount in rows.iterator(chunk_size=CHUNK):
            lines[purchase_id].append(Line(sku=sku, category=category or "", quantity=Decimal(quantity),
                                           amount=Decimal(amount)))
    events["lines"] = lines
    prior = Refund.objects.filter(purchase=OuterRef("purchase_id"), refunded_at__lt=start).order_by().values(
        "purchase_id").annotate(total=Sum("amount")).values("total")
    events["refunds"] = _grouped(
        Refund.objects.filter(purchase__member_id__gte=low, purchase__member_id__lte=high,
                              refunded_at__gte=start, refunded_at__lt=end)
        .annotate(prior=Coalesce(Subquery(prior), Decimal(0)))
        .order_by("purchase__member_id", "refunded_at", "pk")
        .values_list("pk", "purchase_id", "purchase__member_id", "amount", "refunded_at", "purchase__amount",
                     "purchase__purchased_at", "purchase__points", "prior").iterator(chunk_size=CHUNK),
        index=2,
    )
    events["tiers"] = _grouped(
        TierChange.objects.filter(member_id__gte=low, member_id__lte=high, at__lt=end)
        .order_by("member_id", "at", "pk").values_list("member_id", "from_tier_id", "to_tier_id", "reason", "at")
        .iterator(chunk_size=CHUNK)
    )
    events["spend_before"] = {}
    if ctx.tiering and ctx.program.tier_metric != "points":
        refunded = Refund.objects.filter(purchase=OuterRef("pk"), refunded_at__lt=start).order_by().values(
            "purchase_id").annotate(total=Sum("amount")).values("total")
        events["spend_before"] = _grouped(
            purchases.filter(purchased_at__gt=ctx.tier_window_from, purchased_at__lt=start)
            .annotate(prior=Coalesce(Subquery(refunded), Decimal(0)))
            .order_by("member_id", "purchased_at", "pk")
            .values_list("member_id", "pk", "purchased_at", "amount", "prior").iterator(chunk_size=CHUNK)
        )
    events["earliest"] = {}
    if needs_first:
        events["earliest"] = dict(
            purchases.filter(purchased_at__lt=start).order_by().values("member_id").annotate(first=Min("purchased_at"))
            .values_list("member_id", "first")
        )
    return events


STAFF_TIER_REASONS = (TierChange.Reason.VIP, TierChange.Reason.VIP_EXPIRED, TierChange.Reason.STAFF)


def _replay_member(
    ctx: _Context, member, versions, totals, events: dict, segments: frozenset[int], *, counted: bool,
    counts: Counter, same_earning: bool,
) -> None:
    pk = member.pk
    opening = _opening(ctx, pk, events["before"].get(pk, []), events["tiers"].get(pk, []),
                       events["earliest"].get(pk))
    for _member, purchase_id, at, amount, prior in events["spend_before"].get(pk, []):
        opening.tier.add(at, amount - prior, purchase_id)
    tracks = [_Track(ctx, version, total, opening, member) for version, total in zip(versions, totals, strict=True)]
    timeline = sorted(
        [(row[3], 0, row[0], "purchase", row) for row in events["purchases"].get(pk, [])]
        + [(row[4], 1, row[0], "refund", row) for row in events["refunds"].get(pk, [])]
        + [(row[3], 2, index, "entry", row) for index, row in enumerate(events["entries"].get(pk, []))]
        + [(row[4], 3, index, "tier", row) for index, row in enumerate(events["tiers"].get(pk, []))
           if row[4] >= ctx.start_at and row[3] in STAFF_TIER_REASONS],
        key=lambda event: event[:3],
    )
    reviews = iter(ctx.reviews)
    review = next(reviews, None)
    for at, _order, _key, what, row in timeline:
        while review is not None and review < at:
            for track in tracks:
                track.review(review)
            review = next(reviews, None)
        if what == "purchase":
            lines = tuple(events["lines"].get(row[0], ()))
            first = tracks[0].evaluation(row, lines, segments)
            second = first if same_earning else tracks[1].evaluation(row, lines, segments)
            tracks[0].purchase(row, first)
            tracks[1].purchase(row, second)
            counts["purchases"] += 1
            counts["changed"] += first.points != second.points
        elif what == "refund":
            for track in tracks:
                track.refund(row)
            counts["refunds"] += 1
        elif what == "entry":
            for track in tracks:
                track.entry(row)
        else:
            for track in tracks:
                track.tier_event(row[2])
    while review is not None:
        for track in tracks:
            track.review(review)
        review = next(reviews, None)
    for track in tracks:
        track.close(counted=counted)


# -- the comparison, as the page and the CSV show it ---------------------------------


@dataclass(frozen=True)
class Row:
    """One line of the comparison: ``kind`` is ``points``, ``money``, ``rate`` or ``count``;
    values ``None`` where a column has no figure (the ledger has no breakdown)."""

    key: str
    label: str
    kind: str
    actual: Any
    scenario: Any
    ledger: Any
    detail: bool = False  # a part of the row above it

    @property
    def difference(self) -> Any:
        if self.actual is None or self.scenario is None:
            return None
        return self.scenario - self.actual


ROWS = (
    ("points_earned", _("Points earned (net of refunds)"), "points", False),
    ("points_base", _("of which the base rate"), "points", True),
    ("points_tier", _("of which tier multipliers"), "points", True),
    ("points_rules", _("of which earning rules"), "points", True),
    ("points_redeemed", _("Points redeemed (net of returns)"), "points", False),
    ("points_expired", _("Points expired"), "points", False),
    ("breakage_rate", _("Breakage rate, % (expired / earned)"), "rate", False),
    ("points_outstanding", _("Points outstanding at the end"), "points", False),
    ("liability", _("Liability at the end"), "money", False),
)


def whatif_rows(result: Mapping[str, Any]) -> list[Row]:
    """The comparison rows of a stored result (``WhatIfResult.as_data()``): every figure,
    then one row per tier of the mix at the end ("No tier" last)."""
    columns = ("actual", "scenario", "ledger")

    def value(column: str, key: str, kind: str):
        raw = result[column].get(key)
        if raw is None:
            return None
        if kind == "rate":  # in per cent, one decimal
            return (Decimal(str(raw)) * 100).quantize(Decimal("0.1"))
        return Decimal(raw) if kind == "money" else raw

    rows = [
        Row(key, str(label), kind, *(value(column, key, kind) for column in columns), detail=detail)
        for key, label, kind, detail in ROWS
    ]
    codes = sorted({code for column in columns for code in result[column]["tier_mix"] if code})
    names = dict(Tier.objects.filter(code__in=codes).values_list("code", "name"))
    for code in [*codes, ""]:
        label = (_gettext("Members on %(tier)s at the end") % {"tier": names.get(code, code)} if code
                 else _gettext("Members without a tier at the end"))
        rows.append(Row(f"tier:{code}", label, "count",
                        *(result[column]["tier_mix"].get(code, 0) for column in columns)))
    return rows


def scenario_lines(data: Mapping[str, Any]) -> list[str]:
    """The change of a stored scenario in words, one line per change."""
    lines = []
    if "earn_rate" in data:
        lines.append(_gettext("Earn rate: %(rate)s points per 1.00") % {"rate": data["earn_rate"]})
    if "point_value" in data:
        lines.append(_gettext("Point value: %(value)s") % {"value": data["point_value"]})
    if "expiry_months" in data:
        months = data["expiry_months"]
        lines.append(_gettext("Points never expire") if months == NEVER
                     else _gettext("Points expire after %(months)s months") % {"months": months})
    rule = data.get("rule")
    if rule:
        name = EarnRule.objects.filter(pk=rule.get("id")).values_list("name", flat=True).first() \
            if rule.get("id") else (rule.get("fields") or {}).get("name", "")
        fields = ", ".join(f"{key} = {value}" for key, value in (rule.get("fields") or {}).items())
        text = {
            "change": _gettext("Rule %(name)s changed: %(fields)s"),
            "add": _gettext("Rule added: %(fields)s"),
            "remove": _gettext("Rule %(name)s removed"),
        }[rule["action"]]
        lines.append(text % {"name": name or rule.get("id"), "fields": fields})
    thresholds = data.get("tier_thresholds") or {}
    if thresholds:
        codes = dict(Tier.objects.filter(pk__in=[int(pk) for pk in thresholds]).values_list("pk", "code"))
        for pk, value in thresholds.items():
            lines.append(_gettext("Tier %(tier)s from %(value)s") % {"tier": codes.get(int(pk), pk), "value": value})
    return lines
