"""Stamp cards: filling them after an earn, taking stamps back on a refund.

A stamp rule (``EarnRule.Kind.STAMPS``, evaluated by ``loyalty.rules``) gives
stamps; each ``stamps_needed`` of them fill a card worth the rule's value in
points, and the stamps left over start the next card. ``StampCard`` keeps,
per member and rule, the stamps on the current card and the cards completed.

The stamps a purchase gave are recorded in the breakdown of its earn entry
(``{"rule": id, "stamps": given, "cards": filled, ...}``); a purchase that
gives stamps but no points still writes an earn entry of 0 points for that
record. A refund takes back ``given - floor(given x remaining amount /
amount)`` stamps in all (the rounding of the points a purchase keeps), from
the current card and never below 0: a completed card stays completed, and
its points go back through the refund's reversal of the purchase's points.

A stamp rule that names a reward (``EarnRule.reward``) gives no points for a
full card: each card filled gives a voucher for that reward, issued in the
earn's transaction under the account lock through the seam below
(``stamp_card_reward_register``: the rewards app registers its issuer, since
``loyalty`` never imports ``rewards``). The vouchers are keyed by the earn's
own key (``purchase:<pk>``) and the card's number within the earn, so an
earn retried or replayed issues none twice. A refund never takes a voucher
back: the card it filled stays completed (as above), and its voucher stays in
the member's wallet, used or not. Staff may cancel it by hand (a voucher
without points returns none).

Every write here runs under the member's ``PointsAccount`` lock, in the
earn's or the refund's transaction.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from django.db import connection
from django.db.models import F
from django.utils import timezone

from loyalty.models import EarnRule, StampCard
from loyalty.rules import Evaluation, RuleSnapshot, stamp_card_fill


def refund_stamps_kept(*, stamps: int, amount: Decimal, refunded: Decimal) -> int:
    """``floor(stamps × remaining amount / amount)``: ``refund_points_kept``'s rounding."""
    from loyalty.services.purchases import refund_points_kept

    return refund_points_kept(points=stamps, amount=amount, refunded=refunded)


class StampCardRewardIssuer(Protocol):
    def __call__(
        self, *, member_id: int, rule_id: int, reward_id: int, cards: int, key: str, now: dt.datetime
    ) -> object: ...


_reward_issuer: StampCardRewardIssuer | None = None


def stamp_card_reward_register(issuer: StampCardRewardIssuer | Callable[..., object]) -> None:
    """Set the function that issues the vouchers of full stamp cards (the rewards
    app registers ``rewards.services.gifts.stamp_card_vouchers_issue`` from its
    ``ready()``). It is called with ``member_id, rule_id, reward_id, cards, key,
    now`` (keyword arguments), in the earn's transaction under the member's
    account lock, and must issue one voucher per card, at most once per
    ``(key, rule_id)`` however often it is called. Registering again replaces it.
    """
    global _reward_issuer
    _reward_issuer = issuer


@dataclass(frozen=True)
class StampCardReward:
    """Vouchers an earn owes: ``cards`` filled cards of ``rule_id`` that give ``reward_id``."""

    member_id: int
    rule_id: int
    reward_id: int
    cards: int
    key: str  # the earn's key (``purchase:<pk>``)
    at: dt.datetime  # when they are issued (the purchase's time, never after the recording)


def stamp_card_rewards_due(
    *, member_id: int, evaluation: Evaluation, key: str, at: dt.datetime
) -> list[StampCardReward]:
    """The vouchers ``evaluation`` owes the member, by rule id; none without a
    card filled of a rule that names a reward. Pure."""
    return [
        StampCardReward(member_id=member_id, rule_id=rule_id, reward_id=reward_id, cards=cards, key=key, at=at)
        for rule_id, (reward_id, cards) in sorted(evaluation.vouchers.items())
    ]


def stamp_card_rewards_issue(rewards: Sequence[StampCardReward]) -> int:
    """Have the registered issuer give the vouchers ``rewards`` lists; returns how many
    cards they are for. Call in the earn's (or the load's) transaction, under the
    members' account locks. No query and no issuer needed when the list is empty.
    Raises ``RuntimeError`` when a card owes a voucher and no issuer is registered
    (the rewards app is not installed): the earn fails rather than lose it.
    """
    if not rewards:
        return 0
    if _reward_issuer is None:
        raise RuntimeError("a stamp card gives a voucher, but no issuer is registered (stamp_card_reward_register)")
    for due in rewards:
        _reward_issuer(
            member_id=due.member_id, rule_id=due.rule_id, reward_id=due.reward_id, cards=due.cards, key=due.key,
            now=due.at,
        )
    return sum(due.cards for due in rewards)


def stamps_given(breakdown: Sequence[Mapping]) -> dict[int, int]:
    """``{rule id: stamps}`` a purchase gave, read from its earn entry's breakdown."""
    return {
        item["rule"]: item["stamps"]
        for item in breakdown or ()
        if isinstance(item.get("rule"), int) and item.get("stamps")
    }


def stamp_cards_fill(*, member_id: int, evaluation: Evaluation, rules: Mapping[int, RuleSnapshot]) -> None:
    """Put the stamps of an earn on the member's cards: ``stamps = (current + given) %
    needed``, ``completed += (current + given) // needed`` (``stamp_card_fill``).

    Call under the member's account lock, in the earn's transaction. No query
    when the evaluation gave no stamps; else one upsert per card (``INSERT ...
    ON CONFLICT DO UPDATE``, computed from the row itself: nothing is read).
    """
    given = {rule_id: stamps for rule_id, (stamps, _cards) in evaluation.stamps.items() if rule_id in rules}
    if not given:
        return
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        for rule_id in sorted(given):
            stamps, needed = given[rule_id], rules[rule_id].stamps_needed
            filled, left = stamp_card_fill(current=0, given=stamps, needed=needed)
            cursor.execute(_fill_sql(), [member_id, rule_id, left, filled, now, stamps, needed, stamps, needed])


@functools.cache
def _fill_sql() -> str:
    quote = connection.ops.quote_name
    table = quote(StampCard._meta.db_table)
    column = {name: quote(StampCard._meta.get_field(name).column)
              for name in ("member", "rule", "stamps", "completed", "updated_at")}
    return (
        f"INSERT INTO {table} ({column['member']}, {column['rule']}, {column['stamps']}, "  # noqa: S608
        f"{column['completed']}, {column['updated_at']}) VALUES (%s, %s, %s, %s, %s) "
        f"ON CONFLICT ({column['member']}, {column['rule']}) DO UPDATE SET "
        f"{column['stamps']} = ({table}.{column['stamps']} + %s) %% %s, "
        f"{column['completed']} = {table}.{column['completed']} + ({table}.{column['stamps']} + %s) / %s, "
        f"{column['updated_at']} = EXCLUDED.{column['updated_at']}"
    )


def stamps_removed(
    given: Mapping[int, int], *, amount: Decimal, refunded_before: Decimal, refunded_after: Decimal
) -> dict[int, int]:
    """``{rule id: stamps}`` a refund takes back of the stamps a purchase ``given``: what the
    purchase kept before it less what it keeps after (``refund_stamps_kept``)."""
    removed = {}
    for rule_id, stamps in given.items():
        before = refund_stamps_kept(stamps=stamps, amount=amount, refunded=refunded_before)
        after = refund_stamps_kept(stamps=stamps, amount=amount, refunded=refunded_after)
        if before > after:
            removed[rule_id] = before - after
    return removed


def stamp_cards_refund(
    *, member_id: int, breakdown: Sequence[Mapping], amount: Decimal, refunded_before: Decimal,
    refunded_after: Decimal,
) -> dict[int, int]:
    """Take back the stamps a refund removes (``stamps_removed``) from the member's
    current cards, never below 0.

    Returns ``{rule id: stamps taken}``. Call under the member's account lock,
    in the refund's transaction. No query when the purchase gave no stamps.
    """
    removed = stamps_removed(
        stamps_given(breakdown), amount=amount, refunded_before=refunded_before, refunded_after=refunded_after
    )
    taken = {}
    for rule_id in sorted(removed):
        card = StampCard.objects.filter(member_id=member_id, rule_id=rule_id).values_list("pk", "stamps").first()
        taken[rule_id] = min(card[1], removed[rule_id]) if card is not None else 0
        if taken[rule_id]:
            StampCard.objects.filter(pk=card[0]).update(stamps=F("stamps") - taken[rule_id])
    return taken


@dataclass(frozen=True)
class StampCardView:
    """A member's card as the portal and the till show it."""

    rule_id: int
    name: str
    stamps: int
    needed: int
    completed: int
    reward_points: int  # what a full card gives: the rule's value, or 0 with a reward
    reward_id: int | None = None  # a full card gives a voucher for this reward

    @property
    def left(self) -> int:
        return self.needed - self.stamps


def stamp_cards_for_member(*, member_id: int) -> list[StampCardView]:
    """The member's cards of active stamp rules (an empty card for a rule never used), by
    the rules' priority. Two queries."""
    rules = list(
        EarnRule.objects.filter(status=EarnRule.Status.ACTIVE, kind=EarnRule.Kind.STAMPS)
        .order_by("-priority", "pk").values_list("pk", "name", "stamps_needed", "value", "reward_id")
    )
    if not rules:
        return []
    cards = {
        rule_id: (stamps, completed)
        for rule_id, stamps, completed in StampCard.objects.filter(
            member_id=member_id, rule_id__in=[rule[0] for rule in rules]
        ).values_list("rule_id", "stamps", "completed")
    }
    return [
        StampCardView(
            rule_id=pk, name=name, stamps=cards.get(pk, (0, 0))[0], needed=needed or 0,
            completed=cards.get(pk, (0, 0))[1], reward_points=0 if reward_id else int(value), reward_id=reward_id,
        )
        for pk, name, needed, value, reward_id in rules
    ]
