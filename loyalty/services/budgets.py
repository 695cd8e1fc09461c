"""Budget caps of earning rules: counting what they gave, under locks.

The semantics (``member_cap`` per ``member_cap_period``, ``budget``, what a
capped rule gives, refunds giving no budget back) are stated once, in
``loyalty.rules``. What a rule has given is counted in ``RuleUsage`` rows:
``scope="total"`` and ``scope="m<member id>:<period start date, or 'rule'>"``.

Concurrency: ``RuleUsageBook.apply`` runs in the earn's transaction, after
the member's account lock. It creates missing rows (``INSERT ... ON CONFLICT
DO NOTHING``, in (rule id, scope) order) and locks them with ``SELECT ... FOR
UPDATE`` in (rule id, scope) order, so concurrent earns wait for one another
on the rows they share (a total budget, a member's period) and never deadlock
among themselves. With no capped rule in the evaluation it issues no query.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable, Mapping

from django.db.models import Q

from loyalty.models import Program, RuleUsage
from loyalty.rules import DAY, MONTH, RULE_PERIOD, WEEK, YEAR, Evaluation, RuleSnapshot, evaluation_capped

TOTAL = "total"


def cap_period_start(period: str, *, at: dt.datetime, tz: str) -> dt.date | None:
    """The first day of the cap period ``at`` falls in (program's time zone); ``None`` for ``rule``."""
    if period == RULE_PERIOD:
        return None
    day = at.astimezone(zoneinfo.ZoneInfo(tz)).date()
    if period == DAY:
        return day
    if period == WEEK:
        return day - dt.timedelta(days=day.weekday())
    if period == MONTH:
        return day.replace(day=1)
    if period == YEAR:
        return day.replace(month=1, day=1)
    raise ValueError(f"unknown cap period {period!r}")


def member_scope(rule: RuleSnapshot, *, member_id: int, at: dt.datetime, tz: str) -> str:
    start = cap_period_start(rule.member_cap_period, at=at, tz=tz)
    return f"m{member_id}:{start.isoformat() if start else RULE_PERIOD}"


def rule_caps(
    rule: RuleSnapshot, *, member_id: int | None, at: dt.datetime, tz: str
) -> list[tuple[str | None, int]]:
    """``(scope, cap)`` of each cap of ``rule``; scope ``None``: a member cap without a member
    (a simulation), where nothing was used yet."""
    caps: list[tuple[str | None, int]] = []
    if rule.member_cap is not None:
        scope = member_scope(rule, member_id=member_id, at=at, tz=tz) if member_id is not None else None
        caps.append((scope, rule.member_cap))
    if rule.budget is not None:
        caps.append((TOTAL, rule.budget))
    return caps


def capped_rules(evaluation: Evaluation, rules: Mapping[int, RuleSnapshot]) -> list[RuleSnapshot]:
    found = []
    for item in evaluation.applied:
        rule = rules.get(item.rule_id) if isinstance(item.rule_id, int) else None
        if rule is not None and rule.is_capped and item.points > 0:
            found.append(rule)
    return found


class RuleUsageBook:
    """The ``RuleUsage`` rows one transaction has locked, with what they hold.

    The live path uses one for one earn; the bulk path keeps one for the whole
    load (the rows stay locked until it commits) and writes what changed with
    its batches. Call inside the transaction, after the member's account lock.
    """

    def __init__(self) -> None:
        self._rows: dict[tuple[int, str], list] = {}  # (rule id, scope) -> [pk, points, changed]

    def lock(self, keys: Iterable[tuple[int, str]]) -> None:
        """Create the missing rows and lock them, in (rule id, scope) order."""
        missing = sorted(set(keys) - self._rows.keys())
        if not missing:
            return
        RuleUsage.objects.bulk_create(
            [RuleUsage(rule_id=rule_id, scope=scope) for rule_id, scope in missing], ignore_conflicts=True
        )
        wanted = Q()
        for rule_id, scope in missing:
            wanted |= Q(rule_id=rule_id, scope=scope)
        rows = RuleUsage.objects.select_for_update().filter(wanted).order_by("rule_id", "scope")
        for pk, rule_id, scope, points in rows.values_list("pk", "rule_id", "scope", "points"):
            self._rows[rule_id, scope] = [pk, points, False]

    def apply(
        self,
        *,
        evaluation: Evaluation,
        rules: Mapping[int, RuleSnapshot],
        member_id: int,
        purchased_at: dt.datetime,
        program: Program,
    ) -> Evaluation:
        """Cap ``evaluation`` by what is left and count what the capped rules give.

        No query when no capped rule gave points.
        """
        capped = capped_rules(evaluation, rules)
        if not capped:
            return evaluation
        caps = {
            rule.id: rule_caps(rule, member_id=member_id, at=purchased_at, tz=program.timezone) for rule in capped
        }
        self.lock((rule_id, scope) for rule_id, found in caps.items() for scope, _cap in found)
        left = {
            rule_id: min(cap - self._rows[rule_id, scope][1] for scope, cap in found)
            for rule_id, found in caps.items()
        }
        result = evaluation_capped(evaluation, left=left)
        for item in result.applied:
            if item.rule_id in caps and item.points > 0:
                for scope, _cap in caps[item.rule_id]:
                    row = self._rows[item.rule_id, scope]
                    row[1] += item.points
                    row[2] = True
        return result

    def changed(self) -> list[tuple[int, int]]:
        """``(pk, points)`` of the rows changed since the last call (they are then clean)."""
        rows = []
        for row in self._rows.values():
            if row[2]:
                rows.append((row[0], row[1]))
                row[2] = False
        return rows

    def save(self) -> None:
        """Write the changed rows in one statement (the live path; the bulk path writes
        them with its batches)."""
        rows = self.changed()
        if len(rows) == 1:
            RuleUsage.objects.filter(pk=rows[0][0]).update(points=rows[0][1])
        elif rows:
            RuleUsage.objects.bulk_update([RuleUsage(pk=pk, points=points) for pk, points in rows], ["points"])


def budgets_apply(
    *,
    evaluation: Evaluation,
    rules: Mapping[int, RuleSnapshot],
    member_id: int,
    purchased_at: dt.datetime,
    program: Program,
) -> Evaluation:
    """Cap one earn's ``evaluation`` and count it against the rules' caps.

    Call in the earn's transaction, holding the member's ``PointsAccount``
    lock; locks the ``RuleUsage`` rows of the capped rules that gave points
    (see the module docstring). No query when none did.
    """
    book = RuleUsageBook()
    result = book.apply(
        evaluation=evaluation, rules=rules, member_id=member_id, purchased_at=purchased_at, program=program
    )
    book.save()
    return result


def budgets_preview(
    *,
    evaluation: Evaluation,
    rules: Mapping[int, RuleSnapshot],
    member_id: int | None,
    purchased_at: dt.datetime,
    program: Program,
) -> Evaluation:
    """``evaluation`` capped by what is left now, read without locks and counted nowhere
    (a preview: a concurrent earn may use the budget first)."""
    capped = capped_rules(evaluation, rules)
    if not capped:
        return evaluation
    caps = {rule.id: rule_caps(rule, member_id=member_id, at=purchased_at, tz=program.timezone) for rule in capped}
    wanted = Q()
    for rule_id, found in caps.items():
        for scope, _cap in found:
            if scope is not None:
                wanted |= Q(rule_id=rule_id, scope=scope)
    used = {
        (rule_id, scope): points
        for rule_id, scope, points in RuleUsage.objects.filter(wanted).values_list("rule_id", "scope", "points")
    } if wanted else {}
    left = {
        rule_id: min(cap - used.get((rule_id, scope), 0) for scope, cap in found)
        for rule_id, found in caps.items()
    }
    return evaluation_capped(evaluation, left=left)
