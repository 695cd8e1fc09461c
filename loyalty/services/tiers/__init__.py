"""Tiers: the table every earn reads, qualification, upgrades, reviews and paid tiers.

``table`` (the cached tier table, the qualifying value, the upgrade at once),
``config`` (saving and archiving tiers), ``review`` (the periodic review) and
``vip`` (paid tiers). Import from this package; the paid-tier names are
loaded on first use, since ``vip`` needs the purchase services, which in turn
import this package for the upgrade.

``tier_table()`` is on the path of every earn: the tiers as immutable
``TierSnapshot`` objects, kept in process memory (``ProcessCache``) and cleared
by ``tier_save``. With no tiers configured an earn reads nothing more.

A member's *qualifying value* is their spend (amount less refunds of their
purchases) or their points (earned, bonus and reversed), per
``Program.tier_metric``, over the ``tier_window_months`` calendar months (in
the program's zone) ending at the moment asked about. Upgrades happen at once,
in the earn's transaction; moves down only at the periodic review, after a
grace period. Every change of a member's tier is written under the member's
``PointsAccount`` lock, with a ``TierChange`` row.
"""

from loyalty.services.tiers.config import (
    tier_archive,
    tier_restore,
    tier_save,
    tier_threshold_text,
    tier_validate,
)
from loyalty.services.tiers.review import REVIEW_DAY, REVIEW_TIME, ReviewResult, next_review_at, tiers_review
from loyalty.services.tiers.table import (
    TIERS_CACHE_KEY,
    TierSnapshot,
    TierTable,
    tier_table,
    tier_upgrade_if_qualified,
    tier_upgrade_window,
    tier_value,
    tier_values_query,
    tier_window_start,
    tiers_cache_clear,
)

_VIP = ("TierNotForSale", "VipExpiryResult", "VipFeeConflict", "VipFeeResult", "vip_expire_due", "vip_fee_record")

__all__ = [
    "REVIEW_DAY", "REVIEW_TIME", "TIERS_CACHE_KEY", "ReviewResult", "TierSnapshot", "TierTable", "next_review_at",
    "tier_archive", "tier_restore", "tier_save", "tier_validate", "tier_table", "tier_threshold_text",
    "tier_upgrade_if_qualified", "tier_upgrade_window",
    "tier_value", "tier_values_query", "tier_window_start", "tiers_cache_clear", "tiers_review", *_VIP,
]


def __getattr__(name: str) -> object:
    if name in _VIP:
        from loyalty.services.tiers import vip

        return getattr(vip, name)
    raise AttributeError(name)
