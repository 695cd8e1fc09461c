"""Redemption throughput on a hot reward: ``reward_redeem`` by 1 and 8 worker processes.

Each scenario runs for a fixed time (twice, the best counts) in separate
processes (each with its own database connection), started together by a
barrier, as ``bench_earn`` does. Every worker redeems the same reward for
members of its own (so workers never wait on one another's account lock,
only on what the reward itself costs), each redemption the whole service:
the member's account lock, the checks, the debit from the oldest lot
through the ledger, the stock, the voucher with a fresh code, commit.

* unlimited stock: redemptions read the reward's row but never write it;
* a large finite stock (1,000,000): each redemption takes a unit with the
  conditional ``UPDATE ... SET stock = stock - 1 WHERE stock > 0``, which
  holds the reward's row lock from that statement until commit (the voucher
  insert, the balance read and the commit's WAL flush happen under it), so
  redemptions of one stocked reward run one at a time through that tail.
  The time the row is held is measured in the workers (from the stock update
  returning to the commit returning);
* for comparison, 8 workers each on a stocked reward of its own: the same
  work with no shared row.

Reported: redemptions per second, p50 and p95 latency of one ``reward_redeem``.
Afterwards each stocked reward's stock has fallen by exactly its vouchers
and every member's balance equals the ledger.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from decimal import Decimal

from bench.processes import processes_run

QUICK = os.environ.get("BENCH_QUICK") == "1"
DURATION = 2.0 if QUICK else 8.0
ROUNDS = 1 if QUICK else 2  # the best of each: the machine may be shared
WORKERS = 8
MEMBERS_PER_WORKER = 25 if QUICK else 100
POINTS = 10_000_000  # each member's balance: never runs out
COST = 10
STOCK = 1_000_000
WARMUP = 5 if QUICK else 30


def _percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (a value seen), as in the other benchmarks."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def setup(*, members: int) -> tuple[list[int], dict[str, int]]:
    """A program, ``members`` members with ``POINTS`` points each (through the
    ledger), and the rewards: ``unlimited``, ``stocked`` (``STOCK``) and one
    stocked reward per worker (``own0`` ...). Returns the member ids and the
    rewards' ids by name."""
    from loyalty.models import LedgerEntry, PointsAccount, Program
    from loyalty.services.ledger import points_credit
    from loyalty.services.program import program_save
    from members.cards import ean13_check_digit
    from members.models import Member
    from rewards.models import Reward

    program_save(program=Program(
        name="Bench", currency="PLN", country="PL", timezone="Europe/Warsaw", earn_rate=Decimal("1"),
        point_value=Decimal("0.01"), return_window_days=14, expiry_months=12, allow_debt=True,
    ))

    def card(n: int) -> str:
        body = f"28{n:010d}"
        return body + ean13_check_digit(body)

    created = Member.objects.bulk_create(
        [Member(card_number=card(n), email=f"redeem{n}@example.com", first_name="R", last_name=str(n))
         for n in range(members)],
        batch_size=2000,
    )
    PointsAccount.objects.bulk_create([PointsAccount(member=member) for member in created], batch_size=2000)
    for member in created:
        points_credit(member=member, points=POINTS, kind=LedgerEntry.Kind.BONUS, idempotency_key="bench")

    def reward(code: str, stock: int | None) -> int:
        return Reward.objects.create(
            code=code, kind=Reward.Kind.AMOUNT, name_en=f"Bench {code}", points_cost=COST,
            value=Decimal("5.00"), stock=stock, voucher_valid_days=30,
        ).pk

    rewards = {"unlimited": reward("unlimited", None), "stocked": reward("stocked", STOCK)}
    rewards |= {f"own{index}": reward(f"own{index}", STOCK) for index in range(WORKERS)}
    return sorted(member.pk for member in created), rewards


class RowHold:
    """Measures how long a redemption holds the reward's row: from the stock
    update returning (the lock taken) to the commit returning (the lock
    released; the ``on_commit`` callbacks run after that, outside it)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._locked: float | None = None

    def __call__(self, execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if self._locked is None and sql.startswith('UPDATE "rewards_reward" SET "stock"'):
            self._locked = time.perf_counter()
        return result

    @contextlib.contextmanager
    def installed(self, connection):
        """Watch ``connection``: its statements, and its commits and rollbacks
        (Django's ``_commit``/``_rollback``, wrapped on this connection only)."""
        commit, rollback = connection._commit, connection._rollback

        def committed():
            commit()
            if self._locked is not None:
                self.times.append((time.perf_counter() - self._locked) * 1000)
            self._locked = None

        def rolled_back():
            rollback()
            self._locked = None

        connection._commit, connection._rollback = committed, rolled_back
        try:
            with connection.execute_wrapper(self):
                yield self
        finally:
            del connection._commit, connection._rollback


def redeem_loop(*, tag: str, reward_id: int, member_ids: list[int], count: int | None = None,
                seconds: float | None = None, before=None, hold: RowHold | None = None) -> list[float]:
    """Redeem ``reward_id`` round the members, ``count`` times or for ``seconds``;
    ``before()`` is called first (the barrier). Returns each redemption's
    latency in milliseconds."""
    from django.db import connection

    from members.models import Member
    from rewards.models import Reward, Voucher
    from rewards.services.redemption import reward_redeem

    members = list(Member.objects.filter(pk__in=member_ids).order_by("pk"))
    reward = Reward.objects.get(pk=reward_id)
    if before is not None:
        before()
    times: list[float] = []
    deadline = None if seconds is None else time.perf_counter() + seconds
    n = 0
    with hold.installed(connection) if hold is not None else contextlib.nullcontext():
        while (count is None or n < count) and (deadline is None or time.perf_counter() < deadline):
            started = time.perf_counter()
            reward_redeem(member=members[n % len(members)], reward=reward, idempotency_key=f"{tag}-{n}",
                          channel=Voucher.Channel.API)
            times.append((time.perf_counter() - started) * 1000)
            n += 1
    return times


def _worker(tag, index, reward_id, member_ids, barrier, results) -> None:
    import django

    django.setup()
    from django.db import connections

    redeem_loop(tag=f"{tag}-w{index}", reward_id=reward_id, member_ids=member_ids, count=WARMUP)
    hold = RowHold()
    started: list[float] = []

    def start() -> None:
        barrier.wait(timeout=120)
        started.append(time.perf_counter())

    times = redeem_loop(tag=f"{tag}-{index}", reward_id=reward_id, member_ids=member_ids, seconds=DURATION,
                        before=start, hold=hold)
    results.put((times, hold.times, time.perf_counter() - started[0]))
    connections.close_all()


def _run(tag: str, reward_ids: list[int], member_ids: list[int], workers: int) -> dict:
    """Run ``workers`` processes, worker ``i`` on ``reward_ids[i % len]`` and its own slice of members."""
    done = processes_run(
        tag, _worker,
        [(tag, index, reward_ids[index % len(reward_ids)], member_ids[index::workers]) for index in range(workers)],
        seconds=DURATION,
    )
    latencies = [value for times, _hold, _seconds in done for value in times]
    holds = [value for _times, hold, _seconds in done for value in hold]
    return {"rate": len(latencies) / max(seconds for _times, _hold, seconds in done),
            "latencies": latencies, "holds": holds}


def row(name: str, result: dict, detail: str = "", *, shared_row: bool = True) -> dict:
    """One results row: redemptions per second, with the latency percentiles (ms)
    and, for a stocked reward, how long its row was held (with ``shared_row``,
    the ceiling that puts on one reward's redemptions per second)."""
    latencies = result["latencies"]
    p50, p95 = _percentile(latencies, 0.5), _percentile(latencies, 0.95)
    figures = {"benchmark": name, "value": round(result["rate"], 1), "unit": "redemptions/s",
               "p50_ms": round(p50, 2), "p95_ms": round(p95, 2), "samples": len(latencies)}
    notes = [f"p50 {p50:.1f} ms, p95 {p95:.1f} ms"]
    if result["holds"]:
        held = statistics.median(result["holds"])
        figures["row_held_ms_p50"] = round(held, 2)
        if shared_row:
            figures["row_ceiling_per_s"] = round(1000 / held)
            notes.append(f"reward row held {held:.2f} ms (p50): ceiling ~{1000 / held:,.0f}/s")
        else:
            notes.append(f"each reward's row held {held:.2f} ms (p50)")
    if detail:
        notes.append(detail)
    return figures | {"detail": "; ".join(notes)}


def main() -> list[dict]:
    from loyalty.ledger.verify import ledger_offenders
    from rewards.models import Reward, Voucher

    member_ids, rewards = setup(members=WORKERS * MEMBERS_PER_WORKER)
    own = [rewards[f"own{index}"] for index in range(WORKERS)]
    scenarios = [  # (key, reward ids, workers); the kinds alternate so that each sees the same machine
        ("unlimited1", [rewards["unlimited"]], 1), ("stocked1", [rewards["stocked"]], 1),
        ("unlimited8", [rewards["unlimited"]], WORKERS), ("stocked8", [rewards["stocked"]], WORKERS),
        ("own8", own, WORKERS),
    ]
    best: dict[str, dict] = {}
    for round_number in range(ROUNDS):
        for key, reward_ids, workers in scenarios:
            result = _run(f"{key}r{round_number}", reward_ids, member_ids, workers)
            if result["rate"] > best.get(key, {"rate": 0.0})["rate"]:
                best[key] = result
            print(f"round {round_number + 1}: {key} {result['rate']:,.0f} redemptions/s", flush=True)

    # Each stocked reward lost exactly one unit per voucher; every balance equals the ledger.
    for reward in Reward.objects.filter(stock__isnull=False):
        assert reward.stock == STOCK - Voucher.objects.filter(reward=reward).count(), reward.code
    assert not list(ledger_offenders())
    return [
        row("redeem a hot reward, unlimited stock, 1 worker", best["unlimited1"]),
        row("redeem a hot reward, unlimited stock, 8 workers", best["unlimited8"],
            f"{best['unlimited8']['rate'] / best['unlimited1']['rate']:.1f}x 1 worker"),
        row(f"redeem a hot reward, stock {STOCK:,}, 1 worker", best["stocked1"]),
        row(f"redeem a hot reward, stock {STOCK:,}, 8 workers (one row)", best["stocked8"],
            f"{best['stocked8']['rate'] / best['stocked1']['rate']:.1f}x 1 worker"),
        row(f"redeem, stock {STOCK:,}, 8 workers each on its own reward (no shared row)", best["own8"],
            shared_row=False),
    ]
