"""Throttling wrong voucher codes, per cashier and per API client.

Codes are unguessable (68 random bits), but a till or a key that sends wrong
code after wrong code is either broken or guessing. Each wrong code (one that
fails its check character, or is well-formed but matches no voucher) counts
in a fixed window; past ``VOUCHER_WRONG_CODES_LIMIT`` in
``VOUCHER_WRONG_CODES_WINDOW`` seconds the scope is blocked for one window:
every code is then refused with the same answer, whether it exists or not,
so the block says nothing about which codes exist. The block is logged once,
with the scope and the count, never a code.

Counts live in Django's cache: shared by every web node and worker only with
a shared cache (Redis in production); the SQLite demo's local-memory cache
counts per process.
"""

from __future__ import annotations

import logging
import math
import time

from django.conf import settings
from django.core.cache import cache

from rewards.exceptions import VoucherChecksThrottled

logger = logging.getLogger(__name__)


class VoucherThrottle:
    """The wrong-code counter of one scope: ``VoucherThrottle.for_user(user)``
    or ``VoucherThrottle.for_client(key_id)``."""

    def __init__(self, scope: str) -> None:
        self.scope = scope
        self.limit = settings.VOUCHER_WRONG_CODES_LIMIT
        self.window = settings.VOUCHER_WRONG_CODES_WINDOW

    @classmethod
    def for_user(cls, user) -> VoucherThrottle:
        return cls(f"user:{user.pk}")

    @classmethod
    def for_client(cls, client_id: object) -> VoucherThrottle:
        return cls(f"client:{client_id}")

    @property
    def _blocked_key(self) -> str:
        return f"voucher-codes:blocked:{self.scope}"

    def _count_key(self, now: float) -> str:
        return f"voucher-codes:wrong:{self.scope}:{int(now // self.window)}"

    def check(self) -> None:
        """Raise ``VoucherChecksThrottled`` while the scope is blocked."""
        until = cache.get(self._blocked_key)
        if until is not None:
            left = max(until - time.time(), 1)
            raise VoucherChecksThrottled(minutes=math.ceil(left / 60))

    def failed(self) -> None:
        """Count a wrong code; block the scope when that passes the limit."""
        now = time.time()
        key = self._count_key(now)
        cache.add(key, 0, timeout=self.window * 2)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=self.window * 2)
            count = 1
        if count > self.limit and cache.add(self._blocked_key, now + self.window, timeout=self.window):
            logger.warning(
                "voucher codes blocked: %d wrong codes in %d s from %s", count, self.window, self.scope
            )
