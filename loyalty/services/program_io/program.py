"""The program's settings and its stores in the program file."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from loyalty.models import Program, Store
from loyalty.services.program import program_save, store_save

from .base import INVALID, Reader, SectionPlan, decimal_str, differences

TEXT_FIELDS = ("name", "currency", "country", "timezone")
DECIMAL_FIELDS = ("earn_rate", "point_value")
PROGRAM_KEYS = (*TEXT_FIELDS, *DECIMAL_FIELDS, "return_window_days", "expiry_months", "allow_debt")
# Optional: a file written before tiers existed leaves them as they are.
TIER_SETTING_KEYS = ("tier_metric", "tier_window_months", "tier_grace_days")
STORE_KEYS = ("code", "name", "timezone")


def program_settings_export(program: Program) -> dict:
    return {
        "name": program.name,
        "currency": program.currency,
        "country": program.country.code,
        "timezone": program.timezone,
        "earn_rate": decimal_str(program.earn_rate),
        "point_value": decimal_str(program.point_value),
        "return_window_days": program.return_window_days,
        "expiry_months": program.expiry_months,
        "allow_debt": program.allow_debt,
        "tier_metric": program.tier_metric,
        "tier_window_months": program.tier_window_months,
        "tier_grace_days": program.tier_grace_days,
    }


def stores_export() -> list[dict]:
    return [
        {"code": store.code, "name": store.name, "timezone": store.timezone}
        for store in Store.objects.order_by("code")
    ]


def _typed_program_values(data: dict, read: Reader) -> dict:
    """The program keys of ``data`` that have the right JSON type, converted."""
    values: dict = {}
    for key in TEXT_FIELDS:
        if key in data:
            values[key] = read.string(data[key], key)
    for key in DECIMAL_FIELDS:
        if key in data:
            values[key] = read.decimal(data[key], key)
    if "return_window_days" in data:
        values["return_window_days"] = read.integer(
            data["return_window_days"], "return_window_days", minimum=0,
            message=_("must be a whole number of days, 0 or more"),
        )
    if "expiry_months" in data:
        values["expiry_months"] = read.integer(
            data["expiry_months"], "expiry_months", minimum=1, null=True,
            message=_("must be a whole number of months, 1 or more, or null"),
        )
    if "allow_debt" in data:
        values["allow_debt"] = read.boolean(data["allow_debt"], "allow_debt")
    if "tier_metric" in data:
        values["tier_metric"] = read.string(data["tier_metric"], "tier_metric")
    if "tier_window_months" in data:
        values["tier_window_months"] = read.integer(
            data["tier_window_months"], "tier_window_months", minimum=1,
            message=_("must be a whole number of months, 1 or more"),
        )
    if "tier_grace_days" in data:
        values["tier_grace_days"] = read.integer(
            data["tier_grace_days"], "tier_grace_days", minimum=0,
            message=_("must be a whole number of days, 0 or more"),
        )
    return {key: value for key, value in values.items() if value is not INVALID}


def _program_values(program: Program) -> dict:
    return {
        key: (program.country.code if key == "country" else getattr(program, key))
        for key in (*PROGRAM_KEYS, *TIER_SETTING_KEYS)
    }


def program_plan(data: dict, current: Program | None, read: Reader) -> tuple[Program, SectionPlan]:
    """Check the program's settings; the program as it would be saved, and the plan."""
    values = _typed_program_values(data, read)
    program = Program(pk=1) if current is None else current
    before = _program_values(current) if current is not None else None
    for key, value in values.items():
        setattr(program, key, value)
    try:
        program.full_clean(exclude=[key for key in (*PROGRAM_KEYS, *TIER_SETTING_KEYS) if key not in values])
    except ValidationError as error:
        read.model(error, "")
    plan = SectionPlan()
    if before is None:
        plan.changes.append(_("program created"))
    else:
        changes = differences(before, _program_values(program))
        if changes:
            plan.changes.append(_("program: %(changes)s") % {"changes": ", ".join(changes)})
    plan.write = lambda: program_save(program=program)
    return program, plan


def stores_plan(raw: object, read: Reader) -> tuple[set[str], SectionPlan]:
    """Check the file's stores (created or updated by code; others are left alone).

    Returns the codes the file names, and the plan.
    """
    plan = SectionPlan()
    if read.items(raw, "stores", _("stores")) is INVALID:
        return set(), plan
    codes = [item.get("code") for item in raw if isinstance(item, dict)]
    existing = {store.code: store for store in Store.objects.filter(code__in=[c for c in codes if isinstance(c, str)])}
    seen: dict[str, int] = {}
    changed: list[Store] = []
    for index, item in enumerate(raw):
        prefix = f"stores[{index}]"
        if read.object(item, prefix, "code, name, timezone") is INVALID:
            continue
        read.keys(item, prefix, required=STORE_KEYS)
        values = {}
        for key in STORE_KEYS:
            if key in item:
                value = read.string(item[key], f"{prefix}.{key}")
                if value is not INVALID:
                    values[key] = value
        code = values.get("code")
        if code is not None and code in seen:
            read.error(
                f"{prefix}.code",
                _("%(code)s is already used by stores[%(other)d]") % {"code": code, "other": seen[code]},
            )
            continue
        if code is not None:
            seen[code] = index
        store = existing.get(code) or Store()
        saved = {key: getattr(store, key) for key in STORE_KEYS} if store.pk else None
        for key, value in values.items():
            setattr(store, key, value)
        try:
            store.full_clean(exclude=[key for key in STORE_KEYS if key not in values])
        except ValidationError as error:
            read.model(error, prefix)
        if saved is None:
            plan.changes.append(_("store %(code)s created") % {"code": store.code})
            changed.append(store)
            continue
        store_changes = differences(saved, {key: getattr(store, key) for key in STORE_KEYS})
        if store_changes:
            plan.changes.append(
                _("store %(code)s: %(changes)s") % {"code": store.code, "changes": ", ".join(store_changes)}
            )
            changed.append(store)

    def write() -> None:
        for store in changed:
            store_save(store=store)

    plan.write = write
    return set(seen), plan
