"""Reads of the stored scores (``MemberScore``, ``ScoreRun``) for the dashboard."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, QuerySet

from analytics.models import MemberScore, RfmGroup, ScoreRun
from analytics.rfm import SCORES
from loyalty.models import Store
from members.models import Member


@dataclass(frozen=True)
class RfmGrid:
    """Members per (R score, F score) cell, every one of the 25 cells present, and
    members per named group, every group present (0 where none)."""

    cells: dict[tuple[int, int], int]
    groups: dict[RfmGroup, int]

    @property
    def scored(self) -> int:
        return sum(self.cells.values())


def _scores(store: Store | int | None = None) -> QuerySet[MemberScore]:
    scores = MemberScore.objects.exclude(member__status=Member.Status.DELETED)
    if store is not None:
        scores = scores.filter(member__enrollment_store=getattr(store, "pk", store))
    return scores


def rfm_grid(store: Store | int | None = None) -> RfmGrid:
    """The RFM grid of the last scoring run: members per (r_score, f_score) and per
    group, of the members enrolled at ``store`` (a Store or its pk) when given, as
    the KPIs scope members. Two aggregate queries."""
    scores = _scores(store).order_by()
    cells = {(r, f): 0 for r in SCORES for f in SCORES}
    for r, f, count in (
        scores.filter(r_score__isnull=False)
        .values("r_score", "f_score").annotate(count=Count("pk"))
        .values_list("r_score", "f_score", "count")
    ):
        cells[(r, f)] = count
    groups = dict.fromkeys(RfmGroup, 0)
    for group, count in (
        scores.exclude(rfm_group="").values("rfm_group").annotate(count=Count("pk")).values_list("rfm_group", "count")
    ):
        groups[RfmGroup(group)] = count
    return RfmGrid(cells=cells, groups=groups)


def score_run_latest(*, done_only: bool = True) -> ScoreRun | None:
    """The latest scoring run (by start), only finished ones unless ``done_only`` is false."""
    runs = ScoreRun.objects.all()
    if done_only:
        runs = runs.filter(status=ScoreRun.Status.DONE)
    return runs.order_by("-started_at", "-pk").first()


def member_score_get(*, member: Member) -> MemberScore | None:
    """The member's scores from the last finished run, with that run (one query);
    ``None`` when the member has not been scored yet."""
    return MemberScore.objects.select_related("run").filter(member=member).first()
