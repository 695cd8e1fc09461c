"""``bench/bench_redeem.py`` in miniature: its setup, one worker's loop and its rows."""

import pytest

from bench.bench_redeem import COST, POINTS, STOCK, WORKERS, RowHold, _percentile, redeem_loop, row, setup
from loyalty.ledger.verify import ledger_offenders
from loyalty.models import PointsAccount
from rewards.models import Reward, Voucher


@pytest.mark.django_db(transaction=True)  # real commits: the row-hold clock stops at each
def test_the_loop_redeems_round_the_members_and_times_the_stocked_rewards_row():
    member_ids, rewards = setup(members=3)
    assert set(rewards) == {"unlimited", "stocked", *(f"own{n}" for n in range(WORKERS))}
    assert set(PointsAccount.objects.values_list("available", flat=True)) == {POINTS}

    hold = RowHold()
    times = redeem_loop(tag="t", reward_id=rewards["stocked"], member_ids=member_ids, count=7, hold=hold)
    unlimited_hold = RowHold()
    redeem_loop(tag="u", reward_id=rewards["unlimited"], member_ids=member_ids, count=2, hold=unlimited_hold)

    assert len(times) == 7 and all(time > 0 for time in times)
    assert len(hold.times) == 7 and all(0 < held <= time for held, time in zip(hold.times, times, strict=True))
    assert unlimited_hold.times == []  # an unlimited reward's row is never written
    assert Reward.objects.get(pk=rewards["stocked"]).stock == STOCK - 7
    assert Reward.objects.get(pk=rewards["unlimited"]).stock is None
    counts = sorted(Voucher.objects.filter(reward_id=rewards["stocked"]).values_list("member_id", flat=True))
    assert counts == sorted([member_ids[0]] * 3 + [member_ids[1]] * 2 + [member_ids[2]] * 2)
    spent = {member_ids[0]: 4 * COST, member_ids[1]: 3 * COST, member_ids[2]: 2 * COST}
    assert dict(PointsAccount.objects.values_list("member_id", "available")) == {
        member: POINTS - points for member, points in spent.items()
    }
    assert not list(ledger_offenders())


def test_a_row_gives_the_rate_the_latency_percentiles_and_the_row_ceiling():
    result = {"rate": 123.456, "latencies": [float(n) for n in range(1, 101)], "holds": [2.0, 4.0, 5.0]}
    figures = row("redeem", result, "note")
    assert (figures["value"], figures["unit"], figures["p50_ms"], figures["p95_ms"]) == (
        123.5, "redemptions/s", 50.0, 95.0
    )
    assert (figures["row_held_ms_p50"], figures["row_ceiling_per_s"]) == (4.0, 250)
    assert figures["detail"] == "p50 50.0 ms, p95 95.0 ms; reward row held 4.00 ms (p50): ceiling ~250/s; note"
    assert "row_held_ms_p50" not in row("redeem", result | {"holds": []})
    own = row("redeem", result, shared_row=False)
    assert "row_ceiling_per_s" not in own and own["detail"].endswith("each reward's row held 4.00 ms (p50)")
    assert _percentile([7.0], 0.95) == 7.0
