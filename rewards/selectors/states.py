"""A voucher's state as pages show it: an issued voucher past its end is
expired at once, before ``vouchers_expire_due`` marks it (the rule
``rewards.services.vouchers.voucher_state_problem`` applies to one voucher)."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Q

from rewards.models import Voucher

Status = Voucher.Status


def voucher_state_q(state: str, *, now: dt.datetime, through: str = "") -> Q:
    """The vouchers in ``state`` at ``now``; ``through`` is the path from the
    queried model (``"vouchers__"`` from a reward or a campaign)."""
    past = Q(**{f"{through}status": Status.ISSUED, f"{through}valid_until__lte": now})
    if state == Status.ISSUED:
        return Q(**{f"{through}status": Status.ISSUED}) & ~past
    if state == Status.EXPIRED:
        return Q(**{f"{through}status": Status.EXPIRED}) | past
    return Q(**{f"{through}status": state})


def voucher_state_counts(*, now: dt.datetime) -> dict[str, Count]:
    """Annotations counting a reward's or a campaign's vouchers: ``vouchers_issued``
    (all), then ``vouchers_open``, ``_used``, ``_cancelled`` and ``_expired`` by state."""
    counts = {"vouchers_issued": Count("vouchers")}
    for name, state in (("open", Status.ISSUED), ("used", Status.USED), ("cancelled", Status.CANCELLED),
                        ("expired", Status.EXPIRED)):
        counts[f"vouchers_{name}"] = Count("vouchers", filter=voucher_state_q(state, now=now, through="vouchers__"))
    return counts
