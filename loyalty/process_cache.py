"""Configuration kept in process memory while Django's cache vouches for it.

The program, the active earning rules and the tiers are read on the path of
every earn. Each is kept as this process's copy together with a version
string; the shared cache (Redis across web nodes) holds the version for a
while. A read compares the short version string, far cheaper than unpickling
the whole value each time, and loads the rows again when the cache has no
version (expired, or cleared by a save) or another one. The version is
derived from the rows themselves, so a process that read old rows can never
publish them under a new version. With a per-process cache (the SQLite demo)
another process sees a change within ``timeout`` seconds.

Between two checks of the shared cache a process trusts its copy for
``LOCAL_SECONDS`` (one second): an earn then reads no cache at all, where it
would otherwise make a round trip to Redis for each of the program, the rules
and the tiers, and a bulk load checks three times a second rather than three
times a purchase. A save clears the copy of its own process at once.

The copy is shared by every caller in the process: read it, never change it.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

from django.core.cache import cache

T = TypeVar("T")

LOCAL_SECONDS = 1.0
_instances: weakref.WeakSet[ProcessCache] = weakref.WeakSet()


class ProcessCache(Generic[T]):
    def __init__(self, *, key: str, load: Callable[[], tuple[str, T]], timeout: int = 60) -> None:
        self.key = key
        self.load = load  # returns (version, value)
        self.timeout = timeout
        self._local: tuple[str, T] | None = None
        self._checked_at = 0.0  # time.monotonic() of the last check against the shared cache
        _instances.add(self)

    def get(self) -> T:
        local = self._local
        now = time.monotonic()
        if local is not None and now - self._checked_at < LOCAL_SECONDS:
            return local[1]
        cached = cache.get(self.key)
        if local is not None and cached is not None and local[0] == cached:
            self._checked_at = now
            return local[1]
        version, value = self.load()
        if cached != version:
            cache.set(self.key, version, timeout=self.timeout)
        self._local = (version, value)
        self._checked_at = now
        return value

    def forget(self) -> None:
        """Drop this process's copy (the shared version stays)."""
        self._local = None

    def clear(self) -> None:
        self.forget()
        cache.delete(self.key)


def process_caches_forget() -> None:
    """Drop every process copy, e.g. when the database changed under them (tests)."""
    for instance in list(_instances):
        instance.forget()
