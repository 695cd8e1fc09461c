"""Reads about earning rules: the staff list with what each budget has used,
and a member's stamp cards."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.apps import apps
from django.db.models import Exists, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from loyalty.models import EarnRule, LedgerEntry, RuleUsage, StampCard
from loyalty.services.rules import active_rules
from members.models import Member

TOTAL_SCOPE = "total"  # RuleUsage.scope of a rule's points in all


def rule_list_for_staff(*, statuses: Sequence[str] = ()) -> QuerySet[EarnRule]:
    """Rules by status (all when ``statuses`` is empty), highest priority first,
    each with ``budget_used``: the points it has given against its budget (0
    before any), and the reward its full stamp card gives (joined). Stores and
    tiers are prefetched: a page costs four queries (count, rows, stores,
    tiers) however long it is."""
    used = RuleUsage.objects.filter(rule=OuterRef("pk"), scope=TOTAL_SCOPE).values("points")[:1]
    rules = (
        EarnRule.objects.annotate(budget_used=Coalesce(Subquery(used, output_field=IntegerField()), Value(0)))
        .select_related("reward")
        .prefetch_related("stores", "tiers")
        .order_by("-priority", "pk")
    )
    return rules.filter(status__in=list(statuses)) if statuses else rules


def rule_list_paused() -> QuerySet[EarnRule]:
    """Paused rules, for the simulator to include on request."""
    return EarnRule.objects.filter(status=EarnRule.Status.PAUSED).order_by("-priority", "pk")


@dataclass(frozen=True)
class StampProgress:
    """One stamp card of a member: ``stamps`` of ``needed`` on the current card."""

    rule_id: int
    name: str
    needed: int
    stamps: int
    completed: int
    reward_points: int  # what a full card gives (the rule's value, rounded down; 0 with a reward)
    categories: tuple[str, ...] = ()
    skus: tuple[str, ...] = ()
    reward_name: str = ""  # a full card gives a voucher for this reward (in the reader's language)

    @property
    def remaining(self) -> int:
        return max(0, self.needed - self.stamps)

    @property
    def slots(self) -> list[bool]:
        """One flag per stamp of the card: filled or not, for drawing it."""
        return [index < self.stamps for index in range(self.needed)]


def stamp_card_list_for_member(*, member: Member, with_paused: bool = True) -> list[StampProgress]:
    """The member's stamp cards: one per active stamp rule (an empty card when
    they have no stamps yet) and, ``with_paused``, the cards of paused rules
    still holding stamps. Archived rules' cards are left out. One query, and
    one more for the rewards' names when a card gives a voucher; without
    ``with_paused``, none when no stamp rule is active (the cached active rules
    say so)."""
    if not with_paused and not active_rules().stamp_rule_ids:
        return []
    cards = StampCard.objects.filter(member=member, rule=OuterRef("pk"))
    current = Q(status=EarnRule.Status.ACTIVE)
    if with_paused:
        current |= Q(status=EarnRule.Status.PAUSED) & Exists(cards.filter(stamps__gt=0))
    rows = (
        EarnRule.objects.filter(kind=EarnRule.Kind.STAMPS)
        .filter(current)
        .annotate(
            card_stamps=Coalesce(Subquery(cards.values("stamps")[:1], output_field=IntegerField()), Value(0)),
            card_completed=Coalesce(Subquery(cards.values("completed")[:1], output_field=IntegerField()), Value(0)),
        )
        .order_by("-priority", "pk")
        .values_list(
            "pk", "name", "stamps_needed", "card_stamps", "card_completed", "value", "categories", "skus", "reward_id"
        )
    )
    rows = list(rows)
    reward_ids = {row[-1] for row in rows if row[-1] is not None}
    # Read through the app registry (loyalty never imports rewards); names in the active language.
    names = {
        reward.pk: str(reward.name) for reward in apps.get_model("rewards", "Reward").objects.filter(pk__in=reward_ids)
    } if reward_ids else {}
    return [
        StampProgress(rule_id=pk, name=name, needed=needed or 0, stamps=stamps, completed=completed,
                      reward_points=0 if reward_id else int(value), categories=tuple(categories or ()),
                      skus=tuple(skus or ()), reward_name=names.get(reward_id, "") if reward_id else "")
        for pk, name, needed, stamps, completed, value, categories, skus, reward_id in rows
    ]


def purchase_breakdown_get(*, purchase_id: int) -> list[dict]:
    """The breakdown stored with a purchase's earn entry (empty when it earned
    nothing, or before the earn was written). One query."""
    row = (
        LedgerEntry.objects.filter(purchase_id=purchase_id, kind=LedgerEntry.Kind.EARN)
        .order_by("pk")
        .values_list("breakdown", flat=True)
        .first()
    )
    return list(row or [])
