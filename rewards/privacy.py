"""The member's vouchers in their own data export (``loyalty.privacy``'s seam)."""

from __future__ import annotations

from collections.abc import Iterator

from loyalty.privacy import CHUNK, Row, privacy_row, privacy_section_register
from members.models import Member
from rewards.models import Voucher

COLUMNS = [
    "code", "reward", "status", "origin", "points", "issued_at", "valid_from", "valid_until",
    "used_at", "used_store", "cancelled_at", "cancel_reason",
]


def _vouchers(member: Member) -> Iterator[Row]:
    vouchers = (
        Voucher.objects.filter(member=member)
        .select_related("reward", "used_store")
        .order_by("issued_at", "pk")
    )
    for voucher in vouchers.iterator(chunk_size=CHUNK):
        yield privacy_row(
            "vouchers", code=voucher.display_code, reward=voucher.reward.name, status=voucher.status,
            origin=voucher.origin, points=voucher.points, issued_at=voucher.issued_at,
            valid_from=voucher.valid_from, valid_until=voucher.valid_until, used_at=voucher.used_at,
            used_store=voucher.used_store.name if voucher.used_store else None,
            cancelled_at=voucher.cancelled_at, cancel_reason=voucher.cancel_reason,
        )


def vouchers_privacy_register() -> None:
    privacy_section_register("vouchers", columns=COLUMNS, rows=_vouchers)
