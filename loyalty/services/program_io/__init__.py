"""The program's configuration as a file: ``export_program`` / ``import_program``.

The file is a JSON object (see ``program_export``; decimals are strings):
the program's settings (``program``), its ``stores``, ``tiers``, earning
``rules`` and action ``bonuses`` (one module each). An import is checked as
a whole (every problem reported with its JSON path, such as
``rules[2].ends_at``), then applied in one transaction. Re-applying the same
file writes nothing: no ``updated_at`` moves, so the cached program, rules,
tiers and bonuses stay valid.

What the file does not list:

* stores are left as they are (the file never deletes or deactivates one);
* tiers and rules are archived, bonuses switched off: the file describes the
  whole configuration (it moves it from staging to production), and nothing
  is deleted, since history, breakdowns and members' tiers name them;
* a whole section left out (``tiers``, ``rules``, ``bonuses``, or the tier
  settings ``tier_metric``, ``tier_window_months``, ``tier_grace_days``), as in
  a file written before they existed, leaves that part as it is.

Apps above ``loyalty`` add sections of their own (``rewards`` adds
``charities`` and ``rewards``) with ``program_section_register``, from their
``AppConfig.ready()``: ``loyalty`` never imports them. A registered section is
exported after the built-in ones, optional in a file, checked after them (its
plan sees the tier and store codes the file leaves, and the codes the sections
registered before it list) and written after them, in registration order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from django.apps import apps
from django.db import transaction
from django.utils.translation import gettext as _

from loyalty.exceptions import ProgramNotConfigured
from loyalty.models import Program, Store, Tier
from loyalty.services.bonuses import action_bonuses_cache_clear
from loyalty.services.program import program_cache_clear
from loyalty.services.rules import rules_cache_clear
from loyalty.services.tiers import tiers_cache_clear

from .base import FileError, ProgramFileInvalid, ProgramImportResult, Reader, SectionPlan
from .bonuses import bonuses_export, bonuses_plan
from .program import PROGRAM_KEYS, TIER_SETTING_KEYS, program_plan, program_settings_export, stores_export, stores_plan
from .rules import rule_keys, rules_export, rules_plan
from .tiers import tiers_export, tiers_plan

__all__ = [
    "FileError", "ProgramFileInvalid", "ProgramImportResult", "ProgramSectionContext", "Reader", "SectionPlan",
    "program_export", "program_import", "program_section_register", "rule_keys",
]

SECTIONS = ("tiers", "rules", "bonuses")
FILE_KEYS = (*PROGRAM_KEYS, "stores")
OPTIONAL_FILE_KEYS = (*TIER_SETTING_KEYS, *SECTIONS)


@dataclass(frozen=True)
class ProgramSectionContext:
    """What a registered section's plan may check its references against."""

    tiers: set[str]  # tier codes the program has after the import (the file's, else the database's)
    stores: set[str]  # store codes after the import
    timezone: str  # the program's time zone after the import
    # By section registered before: what its plan returned as listed (codes, or a mapping by code).
    codes: dict[str, Collection[str] | None] = field(default_factory=dict)


@dataclass(frozen=True)
class ProgramSection:
    name: str
    export: Callable[..., list]  # export(*, tz: dt.tzinfo) -> the section as JSON-ready data
    plan: Callable[..., tuple[Collection[str] | None, SectionPlan]]  # plan(raw, read, *, context) -> (codes, plan)
    cache_clear: Callable[[], None] | None = None  # called at commit when the section changed


_REGISTERED: dict[str, ProgramSection] = {}


def program_section_register(
    name: str,
    *,
    export: Callable[..., list],
    plan: Callable[..., tuple[Collection[str] | None, SectionPlan]],
    cache_clear: Callable[[], None] | None = None,
) -> None:
    """Add a top-level section ``name`` to the program file (see the module docstring).

    ``export(tz=...)`` returns the section's value; ``plan(raw, read, context=...)``
    checks the file's value with the ``Reader`` (errors with their JSON paths),
    and returns the codes it lists (``None`` when unreadable; a mapping by code
    may carry what later sections need to know of each) and a
    ``SectionPlan`` whose ``changes`` say what it would change and whose
    ``write`` applies them. Registering a name again replaces it (apps are
    readied once; tests may re-register).
    """
    if name in (*FILE_KEYS, *OPTIONAL_FILE_KEYS):
        raise ValueError(f"{name} is a built-in key of the program file")
    _REGISTERED[name] = ProgramSection(name=name, export=export, plan=plan, cache_clear=cache_clear)


def program_sections() -> tuple[ProgramSection, ...]:
    """The registered sections, in registration order."""
    return tuple(_REGISTERED.values())


def _reward_codes() -> set[str]:
    """The codes of the rewards in the database (read by model name: loyalty never imports rewards)."""
    return set(apps.get_model("rewards", "Reward").objects.values_list("code", flat=True))


def _registered_export(tz: dt.tzinfo) -> dict:
    return {section.name: section.export(tz=tz) for section in program_sections()}


def program_export() -> dict:
    """The program's whole configuration as a JSON-ready dict (decimals as strings).

    Tiers by rank, rules in the order they were created, bonuses by kind;
    archived tiers and rules and switched-off bonuses included. Raises
    ``ProgramNotConfigured`` when there is no program yet. Reads only.
    """
    program = Program.objects.filter(pk=1).first()
    if program is None:
        raise ProgramNotConfigured()
    return {
        **program_settings_export(program),
        "stores": stores_export(),
        "tiers": tiers_export(),
        "rules": rules_export(tz=program.tz),
        "bonuses": bonuses_export(),
        **_registered_export(program.tz),
    }


@transaction.atomic
def program_import(*, data: object, dry_run: bool = False) -> ProgramImportResult:
    """Validate ``data`` (a parsed program file) as a whole, then apply it.

    Raises ``ProgramFileInvalid`` listing every problem with its JSON path;
    nothing is written then. One transaction; locks the program row, so two
    imports run one after the other. Re-applying a file changes nothing (the
    result has no changes). Clears the caches of what it changed, now and at
    commit. See the module docstring for what the file does not list.
    """
    if not isinstance(data, dict):
        raise ProgramFileInvalid(errors=[FileError("", _("must be a JSON object"))])
    read = Reader()
    sections = program_sections()
    read.keys(data, "", required=FILE_KEYS, optional=(*OPTIONAL_FILE_KEYS, *(s.name for s in sections)))
    current = Program.objects.select_for_update().filter(pk=1).first()
    program, program_changes = program_plan(data, current, read)
    plans: dict[str, SectionPlan] = {"program": program_changes}
    file_stores: set[str] = set()
    if "stores" in data:
        file_stores, plans["stores"] = stores_plan(data["stores"], read)
    tier_codes = None
    if "tiers" in data:
        tier_codes, plans["tiers"] = tiers_plan(data["tiers"], read)
    if tier_codes is None:  # no tiers in the file (or not a list: that error is enough)
        tier_codes = set(Tier.objects.values_list("code", flat=True))
    store_codes = file_stores | set(Store.objects.values_list("code", flat=True))
    # The registered sections (the rewards catalog) before the rules, which may name its rewards.
    context = ProgramSectionContext(tiers=tier_codes, stores=store_codes, timezone=program.timezone or "UTC")
    for section in sections:
        if section.name in data:
            context.codes[section.name], plans[section.name] = section.plan(data[section.name], read, context=context)
    if "rules" in data:
        file_rewards = context.codes.get("rewards")
        plans["rules"] = rules_plan(
            data["rules"], read, stores=store_codes, tiers=tier_codes, tz=program.timezone or "UTC",
            rewards=None if file_rewards is None else {*file_rewards, *_reward_codes()},
        )
    if "bonuses" in data:
        plans["bonuses"] = bonuses_plan(data["bonuses"], read)
    if read.errors:
        raise ProgramFileInvalid(errors=read.errors)

    result = ProgramImportResult()
    for plan in plans.values():
        result.changes.extend(plan.changes)
    if dry_run or not result.changed:
        return result
    for plan in plans.values():  # in dependency order: rules name stores, tiers and rewards
        if plan.changed:
            plan.write()
    clears = {
        "program": program_cache_clear, "tiers": tiers_cache_clear, "rules": rules_cache_clear,
        "bonuses": action_bonuses_cache_clear,
        **{section.name: section.cache_clear for section in sections if section.cache_clear},
    }
    for name, plan in plans.items():
        if plan.changed and name in clears:
            transaction.on_commit(clears[name])
    result.applied = True
    return result
