"""The analytics cache: figures computed from the whole history (KPIs, the
dashboard's series, CLV fits) are kept in Django's cache under a key that
includes ``data_version()``, so any new purchase, refund, ledger entry,
member, feedback or scoring run makes the next request compute afresh; and
for at most ``ANALYTICS_CACHE_SECONDS`` (default 600) in any case, which
bounds how long a change that writes none of those (a member's details
edited, a member deleted) takes to show.

With several web nodes the cache must be shared (Redis, ``CACHE_URL``); the
local-memory default is per process.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db.models import Max

from analytics.models import ScoreRun
from loyalty.models import LedgerEntry, Program, Purchase, Refund
from members.models import Feedback, Member

T = TypeVar("T")

_VERSIONED = (Purchase, Refund, LedgerEntry, Member, Feedback, ScoreRun)


def data_version() -> str:
    """A short fingerprint of the data analytics reads: the newest id of each
    table that only grows, and when the program was last saved. One cheap
    query per table (an index lookup of the primary key's maximum)."""
    parts = [str(model.objects.aggregate(top=Max("pk"))["top"] or 0) for model in _VERSIONED]
    saved = Program.objects.aggregate(at=Max("updated_at"))["at"]
    parts.append(saved.isoformat() if saved else "-")
    return hashlib.blake2b("|".join(parts).encode(), digest_size=8).hexdigest()


def analytics_cached(name: str, parts: tuple, compute: Callable[[], T], *, version: str | None = None) -> T:
    """``compute()``, or its cached value for ``name`` and ``parts`` (anything with a
    stable ``repr``: dates, store ids) at the current ``data_version()`` (pass
    ``version`` when it is already known, to save its queries)."""
    version = version or data_version()
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=12).hexdigest()
    key = f"analytics:{name}:{version}:{digest}"
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, getattr(settings, "ANALYTICS_CACHE_SECONDS", 600))
    return value
