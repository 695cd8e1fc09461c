"""The pure helpers of ``bench/bench_faces.py``: percentiles and reading query plans."""

from bench.bench_faces import BIG_TABLE_ROWS, _percentile, _scans

PLAN = [
    "Limit  (cost=8.45..8.45 rows=1 width=311) (actual time=0.022..0.022 rows=1 loops=1)",
    "  ->  Nested Loop  (cost=0.00..2.10 rows=1 width=49)",
    "        ->  Seq Scan on loyalty_store  (cost=0.00..1.06 rows=1 width=49)",
    "        ->  Index Scan Backward using ledger_account_at on loyalty_ledgerentry  (cost=0.42..8.44 rows=1)",
    "        ->  Bitmap Index Scan on member_last_lower_prefix  (cost=0.00..4.4 rows=10)",
    "        ->  Index Only Scan using loyalty_pointsaccount_pkey on loyalty_pointsaccount  (cost=0.42..8.44)",
    "        ->  Seq Scan on members_member  (cost=0.00..3000.00 rows=100000 width=311)",
]


def test_percentiles_are_values_seen_nearest_rank():
    values = [float(n) for n in range(1, 101)]
    assert (_percentile(values, 0.5), _percentile(values, 0.95), _percentile(values, 1.0)) == (50.0, 95.0, 100.0)
    assert _percentile([7.0], 0.95) == 7.0


def test_a_plan_tells_its_indexes_and_its_sequential_scans_of_big_tables_only():
    rows = {"loyalty_store": 5, "members_member": BIG_TABLE_ROWS * 10}
    indexes, seq = _scans(PLAN, rows)
    assert indexes == ["ledger_account_at", "loyalty_pointsaccount_pkey", "member_last_lower_prefix"]
    assert seq == ["members_member"]
