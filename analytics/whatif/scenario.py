"""The change a what-if replays (``Scenario``) and its checks (``scenario_from_data``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _gettext
from django.utils.translation import gettext_lazy as _

from loyalty.models import EarnRule, Tier
from loyalty.rules import RuleSnapshot
from loyalty.services.program import program_get
from loyalty.services.rules import SIMULATED_RULE_ID, rule_snapshot

NEVER = "never"
RULE_ACTIONS = ("change", "add", "remove")


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
