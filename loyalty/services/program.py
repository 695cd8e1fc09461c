"""The program's settings and its stores."""

from __future__ import annotations

from django.core.cache import cache
from django.db import transaction

from loyalty.exceptions import ProgramNotConfigured
from loyalty.models import Program, Store

PROGRAM_CACHE_KEY = "loyalty:program:v1"


def program_get() -> Program:
    """The program, from the cache (shared across web nodes with a real cache;
    with a per-process cache another process sees a change within a minute).

    Raises ``ProgramNotConfigured`` before the program has been set up.
    """
    program = cache.get(PROGRAM_CACHE_KEY)
    if program is None:
        program = Program.objects.filter(pk=1).first()
        if program is None:
            raise ProgramNotConfigured()
        cache.set(PROGRAM_CACHE_KEY, program, timeout=60)
    return program


def program_cache_clear() -> None:
    cache.delete(PROGRAM_CACHE_KEY)


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
