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

The copy is shared by every caller in the process: read it, never change it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from django.core.cache import cache

T = TypeVar("T")


class ProcessCache(Generic[T]):
    def __init__(self, *, key: str, load: Callable[[], tuple[str, T]], timeout: int = 60) -> None:
        self.key = key
        self.load = load  # returns (version, value)
        self.timeout = timeout
        self._local: tuple[str, T] | None = None

    def get(self) -> T:
        cached = cache.get(self.key)
        local = self._local
        if local is not None and cached is not None and local[0] == cached:
            return local[1]
        version, value = self.load()
        if cached != version:
            cache.set(self.key, version, timeout=self.timeout)
        self._local = (version, value)
        return value

    def clear(self) -> None:
        self._local = None
        cache.delete(self.key)
