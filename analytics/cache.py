"""The analytics cache: figures computed from the whole history (KPIs, the
dashboard's series, CLV fits, segment counts) are cached per question (name
and parts) together with the ``data_version()`` they were computed at.

A cached figure is used while the data is unchanged (same version), and,
once the data has changed, for ``stale_seconds`` more after it was computed
(``ANALYTICS_STALE_SECONDS``, default 60): a shop that records a purchase
every few seconds would otherwise never see a warm dashboard, so each
question is computed at most once a minute, and what staff see is at most a
minute behind. CLV fits pass a longer window (``ANALYTICS_CLV_STALE_SECONDS``,
an hour: a day's purchases barely move a model fitted on years). Nothing is
kept longer than ``ANALYTICS_CACHE_SECONDS`` (default 600) or its stale
window if that is longer, which bounds how long a change that writes no
versioned table (a member's details edited, a member deleted) takes to show.

With several web nodes the cache must be shared (Redis, ``CACHE_URL``); the
local-memory default is per process.
"""

from __future__ import annotations

import hashlib
import time
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


def analytics_cached(
    name: str,
    parts: tuple,
    compute: Callable[[], T],
    *,
    version: str | None = None,
    stale_seconds: int | None = None,
) -> T:
    """``compute()``, or its cached value for ``name`` and ``parts`` (anything with a
    stable ``repr``: dates, store ids) when it was computed at the current
    ``data_version()`` or less than ``stale_seconds`` ago (default
    ``ANALYTICS_STALE_SECONDS``). Pass ``version`` when it is already known, to
    save its queries."""
    version = version or data_version()
    if stale_seconds is None:
        stale_seconds = getattr(settings, "ANALYTICS_STALE_SECONDS", 60)
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=12).hexdigest()
    key = f"analytics:{name}:{digest}"
    entry = cache.get(key)
    now = time.time()
    if entry is not None:
        cached_version, computed_at, value = entry
        if cached_version == version or now - computed_at < stale_seconds:
            return value
    value = compute()
    keep = max(getattr(settings, "ANALYTICS_CACHE_SECONDS", 600), stale_seconds)
    cache.set(key, (version, now, value), keep)
    return value
