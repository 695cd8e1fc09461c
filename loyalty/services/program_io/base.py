"""What every section of the program file shares: errors with their JSON path,
the reader that checks JSON types, and how values are written and shown."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from loyalty.exceptions import LoyaltyError


@dataclass(frozen=True)
class FileError:
    path: str  # e.g. "rules[2].ends_at"; "" for the file as a whole
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


@dataclass
class SectionPlan:
    """What importing one section would change, and how to write it."""

    changes: list[str] = field(default_factory=list)
    write: Callable[[], None] = lambda: None

    @property
    def changed(self) -> bool:
        return bool(self.changes)


class _Invalid:
    """A value that failed its check (the error is already recorded)."""

    def __repr__(self) -> str:
        return "INVALID"


INVALID = _Invalid()
HOURS = re.compile(r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$")


def decimal_str(value: Decimal) -> str:
    """``1.0000`` -> ``"1.00"``, ``0.0100`` -> ``"0.01"``, ``1.2345`` stays."""
    value = value.normalize()
    if value.as_tuple().exponent > -2:
        value = value.quantize(Decimal("0.01"))
    return str(value)


def decimal_or_null(value: Decimal | None) -> str | None:
    return None if value is None else decimal_str(value)


def time_str(value: dt.time | None) -> str | None:
    if value is None:
        return None
    return value.strftime("%H:%M:%S" if value.second else "%H:%M")


def shown(value: object) -> str:
    """A value in a change line: decimals as in the file, JSON for the rest."""
    if isinstance(value, Decimal):
        return decimal_str(value)
    if value is None:
        return "null"
    if isinstance(value, str) and value:
        return value
    if isinstance(value, (list, dict, bool, str)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def differences(before: dict, after: dict, prefix: str = "") -> list[str]:
    """``key old -> new`` for each key whose value differs (nested objects as ``name.pl``)."""
    lines = []
    for key, new in after.items():
        old = before.get(key)
        if isinstance(new, dict) and isinstance(old, dict):
            lines.extend(differences(old, new, f"{prefix}{key}."))
        elif old != new:
            lines.append(f"{prefix}{key} {shown(old)} -> {shown(new)}")
    return lines


def join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


class Reader:
    """Checks the JSON types of a parsed file, collecting every error with its path.

    Each method returns the converted value, or ``INVALID`` after recording
    why. A ``None`` given where ``null`` is allowed is returned as ``None``.
    """

    def __init__(self) -> None:
        self.errors: list[FileError] = []

    def error(self, path: str, message: str) -> _Invalid:
        self.errors.append(FileError(path, message))
        return INVALID

    def has_error(self, path: str) -> bool:
        return any(error.path == path or error.path.startswith(path + ".") for error in self.errors)

    def keys(self, data: dict, prefix: str, *, required: Iterable[str], optional: Iterable[str] = ()) -> None:
        required = tuple(required)
        allowed = (*required, *optional)
        for key in data:
            if key not in allowed:
                self.error(join(prefix, str(key)), _("unknown key"))
        for key in required:
            if key not in data:
                self.error(join(prefix, key), _("missing"))

    def object(self, raw: object, path: str, what: str) -> dict | _Invalid:
        if not isinstance(raw, dict):
            return self.error(path, _("must be an object with %(keys)s") % {"keys": what})
        return raw

    def items(self, raw: object, path: str, what: str) -> list | _Invalid:
        if not isinstance(raw, list):
            return self.error(path, _("must be a list of %(things)s") % {"things": what})
        return raw

    def string(self, raw: object, path: str) -> str | _Invalid:
        if not isinstance(raw, str):
            return self.error(path, _("must be a string"))
        return raw.strip()

    def decimal(self, raw: object, path: str, *, null: bool = False) -> Decimal | _Invalid | None:
        if raw is None and null:
            return None
        if isinstance(raw, bool) or not isinstance(raw, str | int):
            message = _('must be a decimal written as a string, e.g. "0.01"')
            if null:
                message = _('must be a decimal written as a string, e.g. "0.01", or null')
            return self.error(path, message)
        try:
            number = Decimal(str(raw).strip())
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            return self.error(path, _("%(value)r is not a decimal number") % {"value": raw})
        return number

    def integer(
        self, raw: object, path: str, *, minimum: int | None = None, null: bool = False, message: str | None = None
    ) -> int | _Invalid | None:
        if raw is None and null:
            return None
        if isinstance(raw, bool) or not isinstance(raw, int) or (minimum is not None and raw < minimum):
            if message is None:
                message = _("must be a whole number")
                if minimum is not None:
                    message = _("must be a whole number, %(minimum)d or more") % {"minimum": minimum}
                if null:
                    message = _("%(message)s, or null") % {"message": message}
            return self.error(path, message)
        return raw

    def boolean(self, raw: object, path: str) -> bool | _Invalid:
        if not isinstance(raw, bool):
            return self.error(path, _("must be true or false"))
        return raw

    def strings(self, raw: object, path: str) -> list[str] | _Invalid:
        """A list of non-empty strings, returned sorted without repeats (the file's lists are sets)."""
        if not isinstance(raw, list) or not all(isinstance(item, str) and item.strip() for item in raw):
            return self.error(path, _("must be a list of non-empty strings"))
        return sorted({item.strip() for item in raw})

    def integers(self, raw: object, path: str, *, minimum: int, maximum: int | None = None) -> list[int] | _Invalid:
        """A list of whole numbers in range, returned sorted without repeats."""
        if not isinstance(raw, list) or any(
            isinstance(item, bool) or not isinstance(item, int) or item < minimum
            or (maximum is not None and item > maximum)
            for item in raw
        ):
            if maximum is None:
                message = _("must be a list of whole numbers, %(minimum)d or more") % {"minimum": minimum}
            else:
                message = _("must be a list of whole numbers from %(minimum)d to %(maximum)d") % {
                    "minimum": minimum, "maximum": maximum,
                }
            return self.error(path, message)
        return sorted(set(raw))

    def datetime(self, raw: object, path: str) -> dt.datetime | _Invalid | None:
        if raw is None:
            return None
        value = None
        if isinstance(raw, str):
            try:
                value = dt.datetime.fromisoformat(raw.strip())
            except ValueError:
                value = None
        if value is None or value.tzinfo is None:
            return self.error(
                path, _("must be an ISO 8601 date and time with its offset, e.g. 2026-05-01T00:00:00+02:00, or null")
            )
        return value.astimezone(dt.UTC)

    def time(self, raw: object, path: str) -> dt.time | _Invalid | None:
        if raw is None:
            return None
        if not isinstance(raw, str) or not HOURS.match(raw.strip()):
            return self.error(path, _('must be a time of day "HH:MM" (24-hour clock), or null'))
        return dt.time.fromisoformat(raw.strip())

    def model(self, error: ValidationError, prefix: str, rename: dict[str, str] | None = None) -> None:
        """Record a model's validation errors under ``prefix``, skipping fields already reported."""
        for name, messages in error.message_dict.items():
            key = (rename or {}).get(name, name)
            path = prefix if key == NON_FIELD_ERRORS else join(prefix, key)
            if path != prefix and self.has_error(path):
                continue
            for message in messages:
                if FileError(path, message) not in self.errors:
                    self.errors.append(FileError(path, message))
