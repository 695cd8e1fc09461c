"""The segments seam: earning rules ask whether a member is in a segment.

Segments are defined and computed by analytics, which the loyalty app must
not import. Analytics fills this registry instead, once at start-up
(``AppConfig.ready``)::

    segment_register(lambda segment_id: segment_members(segment_id=segment_id))

A resolver takes a segment id and returns the queryset of its members (or
``None`` for a segment that no longer exists: nobody is in it). With no
resolver registered no member is in any segment, so rules limited to
segments never apply.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.db.models import QuerySet

from members.models import Member

SegmentResolver = Callable[[int], "QuerySet[Member] | None"]

_resolver: SegmentResolver | None = None


def segment_register(resolver: SegmentResolver | None) -> None:
    """Install the function that turns a segment id into its members (``None`` removes it)."""
    global _resolver
    _resolver = resolver


def segment_resolver() -> SegmentResolver | None:
    """The resolver installed now (tests that install their own put this one back)."""
    return _resolver


def segments_unknown(segment_ids: Iterable[int]) -> set[int]:
    """The ids among ``segment_ids`` that name no usable segment (the resolver
    gives ``None``: missing or archived). One query per id; with no resolver
    registered nothing can be told, so none is reported."""
    resolver = _resolver
    if resolver is None:
        return set()
    return {segment_id for segment_id in set(segment_ids) if resolver(segment_id) is None}


def member_segments(member_id: int, segment_ids: Iterable[int]) -> frozenset[int]:
    """The segments among ``segment_ids`` that the member is in.

    One query per segment (an ``EXISTS`` on the resolver's queryset); none
    without a resolver or without segments to check.
    """
    resolver = _resolver
    if resolver is None:
        return frozenset()
    found = set()
    for segment_id in sorted(set(segment_ids)):
        members = resolver(segment_id)
        if members is not None and members.filter(pk=member_id).exists():
            found.add(segment_id)
    return frozenset(found)


def members_segments(member_ids: Iterable[int], segment_ids: Iterable[int]) -> dict[int, frozenset[int]]:
    """``member_segments`` for many members at once (the bulk path): one query per
    segment; members in no segment are left out."""
    resolver = _resolver
    if resolver is None:
        return {}
    ids = list(member_ids)
    found: dict[int, set[int]] = {}
    for segment_id in sorted(set(segment_ids)):
        members = resolver(segment_id)
        if members is None:
            continue
        for member_id in members.filter(pk__in=ids).values_list("pk", flat=True):
            found.setdefault(member_id, set()).add(segment_id)
    return {member_id: frozenset(segments) for member_id, segments in found.items()}
