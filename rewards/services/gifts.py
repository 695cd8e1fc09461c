"""Vouchers given without points: campaigns (a birthday gift, a win-back offer)
and full stamp cards whose rule names a reward.

They go through ``voucher_create`` like a redemption's voucher and land in
the member's wallet; they take no points and draw on no stock (a campaign's
size is the staff's decision, and a stamp card's voucher was earned), and
they do not count against a reward's per-member limit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.services.program import program_get
from members.models import Member, User
from rewards.codes import voucher_code_new
from rewards.exceptions import CampaignEnded, CampaignRewardUnsupported
from rewards.models import Campaign, Reward, Voucher
from rewards.services.issue import voucher_create, voucher_valid_until

CAMPAIGN_KINDS = frozenset({Reward.Kind.AMOUNT, Reward.Kind.PERCENT, Reward.Kind.PRODUCT})
BATCH = 500


def campaign_create(
    *, name: str, reward: Reward, valid_until: dt.datetime, valid_from: dt.datetime | None = None,
    actor: User | None = None, now: dt.datetime | None = None,
) -> Campaign:
    """A campaign of vouchers for ``reward`` (a discount or a free product), valid
    from ``valid_from`` (default now) until ``valid_until``. Raises
    ``ValidationError`` naming the field, or ``CampaignRewardUnsupported``."""
    now = now or timezone.now()
    valid_from = valid_from or now
    if reward.kind not in CAMPAIGN_KINDS:
        raise CampaignRewardUnsupported(reward=reward.name)
    errors = {}
    if not (name or "").strip():
        errors["name"] = ValidationError(_("Give the campaign a name."), code="required")
    if reward.status != Reward.Status.ACTIVE:
        errors["reward"] = ValidationError(_("Choose a reward that is not archived."), code="archived")
    if valid_until <= valid_from:
        errors["valid_until"] = ValidationError(_("The end must come after the start."), code="order")
    elif valid_until <= now:
        errors["valid_until"] = ValidationError(_("The end must be in the future."), code="past")
    if errors:
        raise ValidationError(errors)
    return Campaign.objects.create(
        name=name.strip(), reward=reward, valid_from=valid_from, valid_until=valid_until, created_by=actor,
        created_at=now,
    )


@dataclass(frozen=True)
class CampaignIssued:
    issued: int  # vouchers written now
    already: int  # members who had this campaign's voucher before
    inactive: int  # blocked or deleted members, given nothing


def campaign_issue(
    *, campaign: Campaign, member_ids: Iterable[int], actor: User | None = None, now: dt.datetime | None = None,
) -> CampaignIssued:
    """Give each listed member one voucher of ``campaign``; at most one per
    member however often it runs (``voucher_campaign_member`` is unique, and
    members who have one are skipped). Active members only; an ended campaign
    raises ``CampaignEnded``. Works in batches
    of 500, each one transaction with one insert; needs no account lock (no
    points move).
    """
    now = now or timezone.now()
    if campaign.valid_until <= now:
        raise CampaignEnded(campaign=campaign.name)
    ids = sorted(set(member_ids))
    issued = already = inactive = 0
    for start in range(0, len(ids), BATCH):
        batch = ids[start:start + BATCH]
        with transaction.atomic():
            active = set(
                Member.objects.filter(pk__in=batch, status=Member.Status.ACTIVE).values_list("pk", flat=True)
            )
            inactive += len(batch) - len(active)
            have = set(
                Voucher.objects.filter(campaign=campaign, member_id__in=active).values_list("member_id", flat=True)
            )
            already += len(have)
            todo = sorted(active - have)
            Voucher.objects.bulk_create(
                [_campaign_voucher(campaign, member_id, actor=actor, now=now) for member_id in todo],
                ignore_conflicts=True,  # another run gave some meanwhile
            )
            written = set(
                Voucher.objects.filter(campaign=campaign, member_id__in=todo).values_list("member_id", flat=True)
            )
            for member_id in todo:  # a code taken meanwhile: drawn again, one by one
                if member_id not in written and not Voucher.objects.filter(
                    campaign=campaign, member_id=member_id
                ).exists():
                    _campaign_voucher_one(campaign, member_id, actor=actor, now=now)
            issued += len(todo)
    return CampaignIssued(issued=issued, already=already, inactive=inactive)


def _campaign_voucher(campaign: Campaign, member_id: int, *, actor: User | None, now: dt.datetime) -> Voucher:
    return Voucher(
        code=voucher_code_new(), reward_id=campaign.reward_id, member_id=member_id, origin=Voucher.Origin.CAMPAIGN,
        idempotency_key=f"campaign:{campaign.pk}", issued_at=now, valid_from=campaign.valid_from,
        valid_until=campaign.valid_until, issued_via=Voucher.Channel.STAFF, issued_by=actor, campaign=campaign,
    )


def _campaign_voucher_one(campaign: Campaign, member_id: int, *, actor: User | None, now: dt.datetime) -> Voucher:
    return voucher_create(
        reward=campaign.reward, member_id=member_id, origin=Voucher.Origin.CAMPAIGN,
        idempotency_key=f"campaign:{campaign.pk}", now=now, valid_from=campaign.valid_from,
        valid_until=campaign.valid_until, channel=Voucher.Channel.STAFF, issued_by=actor, campaign=campaign,
    )


def stamp_card_vouchers_issue(
    *, member_id: int, rule_id: int, reward_id: int, cards: int, key: str, now: dt.datetime,
) -> list[Voucher]:
    """One voucher of ``reward_id`` per card a purchase filled (``cards``),
    keyed ``stamps:<key>:<rule>:<n>``: an earn retried with the same key
    issues none twice.

    Call in the earn's transaction, under the member's account lock (the
    ``loyalty.services.stamps`` seam does).
    """
    if cards <= 0:
        return []
    reward = Reward.objects.get(pk=reward_id)
    keys = [f"stamps:{key}:{rule_id}:{n}" for n in range(cards)]
    have = set(
        Voucher.objects.filter(member_id=member_id, idempotency_key__in=keys).values_list("idempotency_key", flat=True)
    )
    valid_until = voucher_valid_until(reward=reward, issued_at=now, tz=program_get().tz)
    return [
        voucher_create(
            reward=reward, member_id=member_id, origin=Voucher.Origin.STAMPS, idempotency_key=key_n, now=now,
            valid_until=valid_until, stamp_rule_id=rule_id,
        )
        for key_n in keys
        if key_n not in have
    ]
