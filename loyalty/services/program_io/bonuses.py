"""Action bonuses in the program file: ``bonuses`` is the whole list, one per kind.

A configured bonus that the file does not list is switched off (its points
are kept, so switching it on again in a later file is one word).
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from loyalty.models import ActionBonus
from loyalty.services.bonuses import action_bonuses_save

from .base import INVALID, Reader, SectionPlan, differences

REQUIRED_KEYS = ("kind", "points")
OPTIONAL_KEYS = ("active",)


def bonus_json(bonus: ActionBonus) -> dict:
    return {"kind": bonus.kind, "points": bonus.points, "active": bonus.active}


def bonuses_export() -> list[dict]:
    return [bonus_json(bonus) for bonus in ActionBonus.objects.order_by("kind")]


def bonuses_plan(raw: object, read: Reader) -> SectionPlan:
    plan = SectionPlan()
    if read.items(raw, "bonuses", _("bonuses")) is INVALID:
        return plan
    existing = {bonus.kind: bonus for bonus in ActionBonus.objects.all()}
    kinds = ActionBonus.Kind.values
    seen: dict[str, int] = {}
    values: dict[str, tuple[int, bool]] = {}
    for index, item in enumerate(raw):
        prefix = f"bonuses[{index}]"
        if read.object(item, prefix, "kind, points, active") is INVALID:
            continue
        read.keys(item, prefix, required=REQUIRED_KEYS, optional=OPTIONAL_KEYS)
        kind = read.string(item.get("kind", ""), f"{prefix}.kind")
        points = read.integer(item.get("points"), f"{prefix}.points", minimum=1)
        active = read.boolean(item.get("active", True), f"{prefix}.active")
        if kind is INVALID:
            continue
        if kind not in kinds:
            read.error(f"{prefix}.kind", _("unknown kind (use %(kinds)s)") % {"kinds": ", ".join(kinds)})
            continue
        if kind in seen:
            read.error(f"{prefix}.kind", _("%(kind)s is already used by bonuses[%(other)d]") % {
                "kind": kind, "other": seen[kind],
            })
            continue
        seen[kind] = index
        if points is INVALID or active is INVALID:
            continue
        values[kind] = (points, active)
        after = {"kind": kind, "points": points, "active": active}
        if kind not in existing:
            plan.changes.append(_("bonus %(kind)s created") % {"kind": kind})
            continue
        bonus_changes = differences(bonus_json(existing[kind]), after)
        if bonus_changes:
            plan.changes.append(_("bonus %(kind)s: %(changes)s") % {"kind": kind, "changes": ", ".join(bonus_changes)})
    for kind, bonus in sorted(existing.items()):
        if kind not in seen and bonus.active:
            values[kind] = (bonus.points, False)
            plan.changes.append(_("bonus %(kind)s switched off (not in the file)") % {"kind": kind})

    def write() -> None:
        action_bonuses_save(values=values)

    plan.write = write
    return plan
