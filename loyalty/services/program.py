"""The program's settings and its stores."""

from __future__ import annotations

from django.core.cache import cache
from django.db import transaction

from loyalty.exceptions import ProgramNotConfigured
from loyalty.models import Program, Store

PROGRAM_CACHE_KEY = "loyalty:program:v2"  # the version of the program row that processes may use
PROGRAM_CACHE_SECONDS = 60

# This process's copy of the program and the version it was read at. On the
# path of every earn: checking a short version string in the cache costs far
# less than unpickling a whole ``Program`` from it each time.
_in_process: tuple[str, Program] | None = None


def _version(program: Program) -> str:
    return program.updated_at.isoformat() if program.updated_at else ""


def program_get() -> Program:
    """The program, kept in process memory while the cache vouches for it.

    The cache (shared across web nodes with a real cache) holds the version of
    the row (its ``updated_at``) for a minute; this process's copy is used while
    its version is the cached one, and the row is read again when the cache
    has no version (expired, cleared by ``program_save``) or another. With a
    per-process cache another process sees a change within a minute.

    The copy is shared by every caller in the process: read it, never change
    it (editing starts from the stored row, as ``ProgramEditView`` does).
    Raises ``ProgramNotConfigured`` before the program has been set up.
    """
    global _in_process
    cached = cache.get(PROGRAM_CACHE_KEY)
    local = _in_process
    if local is not None and cached is not None and local[0] == cached:
        return local[1]
    program = Program.objects.filter(pk=1).first()
    if program is None:
        raise ProgramNotConfigured()
    version = _version(program)
    if cached != version:
        cache.set(PROGRAM_CACHE_KEY, version, timeout=PROGRAM_CACHE_SECONDS)
    _in_process = (version, program)
    return program


def program_cache_clear() -> None:
    global _in_process
    _in_process = None
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
