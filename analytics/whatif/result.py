"""The result of a replay (``WhatIfResult``, one ``Figures`` per column) and the
comparison as the page and the CSV show it (``whatif_rows``, ``scenario_lines``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _gettext
from django.utils.translation import gettext_lazy as _

from analytics.whatif.scenario import NEVER
from loyalty.models import EarnRule, Tier


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
    return scenario_lines_many([data])[0]


def scenario_lines_many(scenarios: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """``scenario_lines`` of each of ``scenarios`` (a page of simulations): the rules'
    names and the tiers' codes they mention are read with one query each, at most."""
    rule_ids = {int(rule["id"]) for data in scenarios if (rule := data.get("rule")) and rule.get("id")}
    tier_ids = {int(pk) for data in scenarios for pk in data.get("tier_thresholds") or {}}
    names = dict(EarnRule.objects.filter(pk__in=rule_ids).values_list("pk", "name")) if rule_ids else {}
    codes = dict(Tier.objects.filter(pk__in=tier_ids).values_list("pk", "code")) if tier_ids else {}
    return [_lines(data, names=names, codes=codes) for data in scenarios]


def _lines(data: Mapping[str, Any], *, names: Mapping[int, str], codes: Mapping[int, str]) -> list[str]:
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
        name = names.get(int(rule["id"])) if rule.get("id") else (rule.get("fields") or {}).get("name", "")
        fields = ", ".join(f"{key} = {value}" for key, value in (rule.get("fields") or {}).items())
        text = {
            "change": _gettext("Rule %(name)s changed: %(fields)s"),
            "add": _gettext("Rule added: %(fields)s"),
            "remove": _gettext("Rule %(name)s removed"),
        }[rule["action"]]
        lines.append(text % {"name": name or rule.get("id"), "fields": fields})
    for pk, value in (data.get("tier_thresholds") or {}).items():
        lines.append(_gettext("Tier %(tier)s from %(value)s") % {"tier": codes.get(int(pk), pk), "value": value})
    return lines
