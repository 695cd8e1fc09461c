"""The program's configuration as a file: ``export_program`` / ``import_program``.

The file is a JSON object with the program's settings and its stores (see
``program_export``); decimals are strings. An import is validated as a whole
(every problem reported with its JSON path, such as ``stores[2].timezone``),
then applied in one transaction through ``program_save`` and ``store_save``.
Re-applying the same file changes nothing. Stores absent from the file are
left as they are (the file never deletes or deactivates a store).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from loyalty.exceptions import LoyaltyError, ProgramNotConfigured
from loyalty.models import Program, Store
from loyalty.services.program import program_cache_clear, program_save, store_save

TEXT_FIELDS = ("name", "currency", "country", "timezone")
DECIMAL_FIELDS = ("earn_rate", "point_value")
PROGRAM_KEYS = (*TEXT_FIELDS, *DECIMAL_FIELDS, "return_window_days", "expiry_months", "allow_debt")
STORE_KEYS = ("code", "name", "timezone")
FILE_KEYS = (*PROGRAM_KEYS, "stores")


@dataclass(frozen=True)
class FileError:
    path: str  # e.g. "stores[2].timezone"; "" for the file as a whole
    message: str

    def __str__(self) -> str:
        return f"{self.path or _('(file)')}: {self.message}"


class ProgramFileInvalid(LoyaltyError):
    code = "program_file_invalid"
    template = gettext_lazy("The program file has %(count)d error(s); nothing was changed.")

    def __init__(self, *, errors: list[FileError]) -> None:
        self.errors = errors
        super().__init__(count=len(errors))


@dataclass
class ProgramImportResult:
    changes: list[str] = field(default_factory=list)
    applied: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def _decimal_str(value: Decimal) -> str:
    """``1.0000`` -> ``"1.00"``, ``0.0100`` -> ``"0.01"``, ``1.2345`` stays."""
    value = value.normalize()
    if value.as_tuple().exponent > -2:
        value = value.quantize(Decimal("0.01"))
    return str(value)


def program_export() -> dict:
    """The program and all its stores as a JSON-ready dict (decimals as strings).

    Raises ``ProgramNotConfigured`` when there is no program yet.
    """
    program = Program.objects.filter(pk=1).first()
    if program is None:
        raise ProgramNotConfigured()
    return {
        "name": program.name,
        "currency": program.currency,
        "country": program.country.code,
        "timezone": program.timezone,
        "earn_rate": _decimal_str(program.earn_rate),
        "point_value": _decimal_str(program.point_value),
        "return_window_days": program.return_window_days,
        "expiry_months": program.expiry_months,
        "allow_debt": program.allow_debt,
        "stores": [
            {"code": store.code, "name": store.name, "timezone": store.timezone}
            for store in Store.objects.order_by("code")
        ],
    }


# -- validation ------------------------------------------------------------------


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _check_keys(data: dict, allowed: tuple[str, ...], prefix: str, errors: list[FileError]) -> None:
    for key in data:
        if key not in allowed:
            errors.append(FileError(_join(prefix, str(key)), _("unknown key")))
    for key in allowed:
        if key not in data:
            errors.append(FileError(_join(prefix, key), _("missing")))


def _model_errors(error: ValidationError, prefix: str, errors: list[FileError]) -> None:
    for name, messages in error.message_dict.items():
        path = prefix if name == NON_FIELD_ERRORS else _join(prefix, name)
        errors.extend(FileError(path, message) for message in messages)


def _typed_program_values(data: dict, errors: list[FileError]) -> dict:
    """The program keys of ``data`` that have the right JSON type, converted."""
    values: dict = {}
    for key in TEXT_FIELDS:
        if key in data:
            if isinstance(data[key], str):
                values[key] = data[key].strip()
            else:
                errors.append(FileError(key, _("must be a string")))
    for key in DECIMAL_FIELDS:
        if key not in data:
            continue
        raw = data[key]
        if isinstance(raw, bool) or not isinstance(raw, str | int):
            errors.append(FileError(key, _('must be a decimal written as a string, e.g. "0.01"')))
            continue
        try:
            number = Decimal(str(raw).strip())
        except InvalidOperation:
            errors.append(FileError(key, _("%(value)r is not a decimal number") % {"value": raw}))
            continue
        if not number.is_finite():
            errors.append(FileError(key, _("%(value)r is not a decimal number") % {"value": raw}))
            continue
        values[key] = number
    if "return_window_days" in data:
        raw = data["return_window_days"]
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
            errors.append(FileError("return_window_days", _("must be a whole number of days, 0 or more")))
        else:
            values["return_window_days"] = raw
    if "expiry_months" in data:
        raw = data["expiry_months"]
        if raw is not None and (isinstance(raw, bool) or not isinstance(raw, int) or raw < 1):
            errors.append(FileError("expiry_months", _("must be a whole number of months, 1 or more, or null")))
        else:
            values["expiry_months"] = raw
    if "allow_debt" in data:
        if isinstance(data["allow_debt"], bool):
            values["allow_debt"] = data["allow_debt"]
        else:
            errors.append(FileError("allow_debt", _("must be true or false")))
    return values


def _program_validate(data: dict, current: Program | None, errors: list[FileError]) -> Program:
    values = _typed_program_values(data, errors)
    program = Program(pk=1) if current is None else current
    for key, value in values.items():
        setattr(program, key, value)
    try:
        program.full_clean(exclude=[key for key in PROGRAM_KEYS if key not in values])
    except ValidationError as error:
        _model_errors(error, "", errors)
    return program


def _stores_validate(raw: object, errors: list[FileError]) -> list[tuple[Store, dict | None]]:
    """The stores of the file, each with its saved values (``None``: a new store)."""
    if not isinstance(raw, list):
        errors.append(FileError("stores", _("must be a list of stores")))
        return []
    codes = [item.get("code") for item in raw if isinstance(item, dict)]
    existing = {store.code: store for store in Store.objects.filter(code__in=[c for c in codes if isinstance(c, str)])}
    seen: dict[str, int] = {}
    stores = []
    for index, item in enumerate(raw):
        prefix = f"stores[{index}]"
        if not isinstance(item, dict):
            errors.append(FileError(prefix, _("must be an object with code, name and timezone")))
            continue
        _check_keys(item, STORE_KEYS, prefix, errors)
        values = {}
        for key in STORE_KEYS:
            if key in item:
                if isinstance(item[key], str):
                    values[key] = item[key].strip()
                else:
                    errors.append(FileError(f"{prefix}.{key}", _("must be a string")))
        code = values.get("code")
        if code is not None and code in seen:
            errors.append(FileError(
                f"{prefix}.code",
                _("%(code)s is already used by stores[%(other)d]") % {"code": code, "other": seen[code]},
            ))
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
            _model_errors(error, prefix, errors)
        stores.append((store, saved))
    return stores


# -- applying --------------------------------------------------------------------


def _shown(value: object) -> str:
    if isinstance(value, Decimal):
        return _decimal_str(value)
    return "null" if value is None else str(value)


def _differences(before: dict, after: dict) -> list[str]:
    return [
        f"{key} {_shown(before[key])} -> {_shown(after[key])}"
        for key in after
        if before[key] != after[key]
    ]


def _program_values(program: Program) -> dict:
    return {
        key: (program.country.code if key == "country" else getattr(program, key))
        for key in PROGRAM_KEYS
    }


@transaction.atomic
def program_import(*, data: object, dry_run: bool = False) -> ProgramImportResult:
    """Validate ``data`` (a parsed program file) as a whole, then apply it.

    Raises ``ProgramFileInvalid`` listing every problem with its JSON path;
    nothing is written then. One transaction; locks the program row. Stores
    absent from the file are left alone. Re-applying a file changes nothing
    (the result has no changes). Clears the program cache when it writes.
    """
    errors: list[FileError] = []
    if not isinstance(data, dict):
        raise ProgramFileInvalid(errors=[FileError("", _("must be a JSON object"))])
    _check_keys(data, FILE_KEYS, "", errors)
    current = Program.objects.select_for_update().filter(pk=1).first()
    before = _program_values(current) if current else None
    program = _program_validate(data, current, errors)
    stores = _stores_validate(data["stores"], errors) if "stores" in data else []
    if errors:
        raise ProgramFileInvalid(errors=errors)

    result = ProgramImportResult()
    after = _program_values(program)
    program_changes = _differences(before, after) if before is not None else None
    if program_changes is None:
        result.changes.append(_("program created"))
    elif program_changes:
        result.changes.append(_("program: %(changes)s") % {"changes": ", ".join(program_changes)})
    changed_stores = []
    for store, saved in stores:
        if saved is None:
            result.changes.append(_("store %(code)s created") % {"code": store.code})
            changed_stores.append(store)
            continue
        differences = _differences(saved, {key: getattr(store, key) for key in STORE_KEYS})
        if differences:
            result.changes.append(
                _("store %(code)s: %(changes)s") % {"code": store.code, "changes": ", ".join(differences)}
            )
            changed_stores.append(store)
    if dry_run or not result.changed:
        return result
    if program_changes is None or program_changes:
        program_save(program=program)
    for store in changed_stores:
        store_save(store=store)
    transaction.on_commit(program_cache_clear)
    result.applied = True
    return result
