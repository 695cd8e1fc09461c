"""Properties of the ledger rules, on the in-memory engine (no database)."""

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.exceptions import InsufficientPoints
from loyalty.ledger.engine import AVAILABLE, PENDING, AccountLedger, LedgerRules

START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)

operations = st.lists(
    st.one_of(
        st.tuples(st.just("earn"), st.integers(1, 500)),
        st.tuples(st.just("redeem"), st.integers(1, 600)),
        st.tuples(st.just("refund"), st.integers(0, 30), st.integers(1, 500)),
        st.tuples(st.just("wait"), st.integers(1, 120)),
    ),
    max_size=40,
)


def new_ledger(window: int, expiry: int | None, allow_debt: bool) -> AccountLedger:
    rules = LedgerRules(
        return_window_days=window, expiry_months=expiry, allow_debt=allow_debt,
        timezone=ZoneInfo("Europe/Warsaw"),
    )
    return AccountLedger(rules=rules, available=0, pending=0, debt=0, next_due_at=None, load_lots=list)


@settings(max_examples=300, deadline=None)
@given(
    ops=operations,
    window=st.sampled_from([0, 7, 30]),
    expiry=st.sampled_from([None, 1, 6]),
    allow_debt=st.booleans(),
)
def test_balances_always_equal_entries_and_lots_and_never_go_negative(ops, window, expiry, allow_debt):
    ledger = new_ledger(window, expiry, allow_debt)
    now = START
    earned: list = []  # (lot, points still kept)
    reversed_total = 0
    for step, op in enumerate(ops):
        now += dt.timedelta(hours=7)
        if op[0] == "earn":
            entry = ledger.credit(kind="earn", points=op[1], effective_at=now,
                                  idempotency_key=f"e{step}", pending=True)
            earned.append([entry.lot, op[1]])
        elif op[0] == "redeem":
            before = ledger.available
            try:
                ledger.debit(kind="redeem", points=op[1], effective_at=now, idempotency_key=f"r{step}")
            except InsufficientPoints:
                assert op[1] > before
        elif op[0] == "refund" and earned:
            lot, kept = earned[op[1] % len(earned)]
            points = min(op[2], kept)
            if points:
                ledger.reverse(lot=lot, points=points, effective_at=now, idempotency_key=f"f{step}",
                               purchase_id=None)
                earned[op[1] % len(earned)][1] -= points
                reversed_total += points
        elif op[0] == "wait":
            now += dt.timedelta(days=op[1])
            ledger.settle(now)

        assert ledger.available >= 0 and ledger.pending >= 0 and ledger.debt >= 0
        assert ledger.available == sum(e.available_delta for e in ledger.entries)
        assert ledger.pending == sum(e.pending_delta for e in ledger.entries)
        assert ledger.debt == sum(e.debt_delta for e in ledger.entries)
        assert ledger.available == sum(lot.remaining for lot in ledger.lots if lot.status == AVAILABLE)
        assert ledger.pending == sum(lot.remaining for lot in ledger.lots if lot.status == PENDING)
        assert ledger.debt <= reversed_total
        if not allow_debt:
            assert ledger.debt == 0
        due = [lot.next_due_at for lot in ledger.lots if lot.next_due_at is not None]
        if due:  # the hint may be early (a no-op settle), never late (a missed release)
            assert ledger.next_due_at is not None and ledger.next_due_at <= min(due)


@settings(max_examples=100, deadline=None)
@given(ops=operations, expiry=st.sampled_from([1, 3]))
def test_settling_in_one_step_or_many_gives_the_same_entries(ops, expiry):
    """A time-driven job run often or rarely yields the same ledger."""
    earns = [op[1] for op in ops if op[0] == "earn"]
    once, often = new_ledger(14, expiry, True), new_ledger(14, expiry, True)
    for i, points in enumerate(earns):
        at = START + dt.timedelta(days=3 * i)
        for ledger in (once, often):
            ledger.credit(kind="earn", points=points, effective_at=at, idempotency_key=f"e{i}", pending=True)
        often.settle(at)
    end = START + dt.timedelta(days=3 * len(earns) + 400)
    day = START
    while day < end:
        day += dt.timedelta(days=5)
        often.settle(day)
    once.settle(end)
    often.settle(end)

    def shape(ledger):
        return sorted(
            (e.kind, e.points, e.available_delta, e.pending_delta, e.effective_at) for e in ledger.entries
        )

    assert shape(once) == shape(often)
    assert (once.available, once.pending) == (often.available, often.pending) == (0, 0)
