"""The program's settings and its stores."""

from __future__ import annotations

from django.db import transaction

from loyalty.exceptions import ProgramNotConfigured
from loyalty.models import Program, Store
from loyalty.process_cache import ProcessCache

PROGRAM_CACHE_KEY = "loyalty:program:v2"  # the version of the program row that processes may use


def _load() -> tuple[str, Program]:
    program = Program.objects.filter(pk=1).first()
    if program is None:
        raise ProgramNotConfigured()
    return (program.updated_at.isoformat() if program.updated_at else ""), program


_program = ProcessCache(key=PROGRAM_CACHE_KEY, load=_load)


def program_get() -> Program:
    """The program, kept in process memory while the cache vouches for it
    (``loyalty.process_cache``).

    Read it, never change it (editing starts from the stored row, as
    ``ProgramEditView`` does). Raises ``ProgramNotConfigured`` before the
    program has been set up.
    """
    return _program.get()


def program_cache_clear() -> None:
    _program.clear()


@transaction.atomic
def program_save(*, program: Program) -> Program:
    """Validate and save the program (``pk`` is always 1)."""
    program.pk = 1
    program.full_clean()
    program.save()
    transaction.on_commit(program_cache_clear)
    program_cache_clear()
    return program


def store_save(*, store: Store) -> Store:
    store.full_clean()
    store.save()
    return store
