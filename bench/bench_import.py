"""``import_purchases`` of a 1,000,000-row file on PostgreSQL, and of 250,000 rows
to show that memory stays flat as the file grows.

Setup: a program, five stores and 100,000 members, themselves loaded with
``import_members`` from a CSV (timed too). Then two purchase files shaped like
a POS export for those members (time order, 30% without a member, 2% refunds
of earlier receipts, some partial) are imported by ``manage.py
import_purchases`` in child processes; each child's wall time and peak
memory (maximum resident set) are reported. Then the 1,000,000-row file is
imported again (nothing changes: every row is skipped) and
``verify_ledger`` checks the result. Target: under 5 minutes for the
1,000,000 rows, peak memory about the same for both sizes.

Part of ``make bench`` (``python -m bench import``), or alone:
``.venv/bin/python bench/bench_import.py`` (creates and drops its own
database ``loyalty_bench_import`` on 127.0.0.1:5432).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_demo_data import run_child, standalone

QUICK = os.environ.get("BENCH_QUICK") == "1"
MEMBERS = 5_000 if QUICK else 100_000
SIZES = (20_000, 80_000) if QUICK else (250_000, 1_000_000)
TARGET_SECONDS = 300
STORES = ("WAW-01", "WAW-02", "KRK-01", "GDN-01", "WRO-01")


def members_csv(path: Path, *, seed: int = 1) -> None:
    rng = random.Random(seed)
    start = dt.datetime(2023, 1, 1, 9, 0)
    with path.open("w", encoding="utf-8") as out:
        out.write("external_id,card_number,email,phone,first_name,last_name,enrolled_at,store,language\n")
        for n in range(MEMBERS):
            enrolled = start + dt.timedelta(minutes=rng.randrange(900 * 24 * 60))
            phone = f"+4869{(n * 3_000_017) % 10_000_000:07d}" if n % 5 else ""
            out.write(
                f"M{n:07d},,member{n}@example.com,{phone},Jan,Nowak{n % 977},"
                f"{enrolled.isoformat()},{STORES[n % 5]},pl\n"
            )


def purchases_csv(path: Path, *, rows: int, prefix: str, seed: int) -> None:
    """``rows`` lines in time order over the year before yesterday; streams to disk."""
    rng = random.Random(seed)
    end = dt.datetime.now() - dt.timedelta(days=1)
    start = end - dt.timedelta(days=365)
    step = (end - start) / rows
    recent: list[tuple[str, int]] = []  # purchases a refund may pick (bounded)
    with path.open("w", encoding="utf-8") as out:
        out.write("external_id,member,store,purchased_at,amount,kind,refers_to\n")
        at = start
        for n in range(rows):
            at += step
            if recent and rng.random() < 0.02:
                external_id, cents = recent.pop(rng.randrange(len(recent)))
                refund = cents if rng.random() < 0.6 else max(1, cents * rng.randrange(20, 80) // 100)
                out.write(f"{prefix}R{n:08d},,{STORES[n % 5]},{at.isoformat(timespec='seconds')},"
                          f"{refund // 100}.{refund % 100:02d},refund,{external_id}\n")
                continue
            member = f"M{rng.randrange(MEMBERS):07d}" if rng.random() < 0.7 else ""
            cents = max(350, int(rng.lognormvariate(7.35, 0.55)))
            external_id = f"{prefix}{n:08d}"
            out.write(f"{external_id},{member},{STORES[rng.randrange(5)]},{at.isoformat(timespec='seconds')},"
                      f"{cents // 100}.{cents % 100:02d},,\n")
            recent.append((external_id, cents))
            if len(recent) > 20_000:
                recent.pop(0)


def setup() -> None:
    from decimal import Decimal

    from loyalty.models import Program, Store
    from loyalty.services.program import program_save, store_save

    program_save(program=Program(
        name="Bench", currency="PLN", country="PL", timezone="Europe/Warsaw", earn_rate=Decimal("1"),
        point_value=Decimal("0.01"), return_window_days=14, expiry_months=12, allow_debt=True,
    ))
    for code in STORES:
        store_save(store=Store(code=code, name=code, timezone="Europe/Warsaw"))


def main() -> list[dict]:
    import django

    django.setup()
    setup()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_import_") as tmp:
        folder = Path(tmp)
        members = folder / "members.csv"
        members_csv(members)
        seconds, peak, output = run_child(["import_members", str(members)])
        print(output, flush=True)
        rows.append({"benchmark": f"import_members, {MEMBERS:,} rows", "value": round(seconds, 1), "unit": "s",
                     "detail": f"peak RSS {peak:.0f} MiB"})
        print(rows[-1], flush=True)
        peaks = {}
        for index, size in enumerate(SIZES):
            path = folder / f"purchases_{size}.csv"
            purchases_csv(path, rows=size, prefix=f"B{index}-", seed=index)
            megabytes = path.stat().st_size / 2**20
            seconds, peak, output = run_child(["import_purchases", str(path)])
            print(output, flush=True)
            peaks[size] = peak
            verdict = "meets" if seconds < TARGET_SECONDS else "MISSES"
            target = f" ({verdict} < {TARGET_SECONDS} s)" if size >= 1e6 else ""
            rows.append({
                "benchmark": f"import_purchases, {size:,} rows ({megabytes:.0f} MB)", "value": round(seconds, 1),
                "unit": "s", "detail": f"{size / seconds:,.0f} rows/s; peak RSS {peak:.0f} MiB{target}",
                "peak_rss_mib": round(peak), "rows_per_second": round(size / seconds),
            })
            print(rows[-1], flush=True)
        small, large = SIZES
        rows.append({
            "benchmark": f"import_purchases peak memory, {large:,} vs {small:,} rows",
            "value": round(peaks[large] - peaks[small]), "unit": "MiB more",
            "detail": f"{peaks[small]:.0f} MiB -> {peaks[large]:.0f} MiB for {large // small}x the rows",
        })
        seconds, peak, output = run_child(["import_purchases", str(folder / f"purchases_{large}.csv")])
        rows.append({"benchmark": f"import_purchases again, same {large:,} rows (all skipped)",
                     "value": round(seconds, 1), "unit": "s", "detail": output.strip()[-120:]})
        print(rows[-1], flush=True)
    seconds, _peak, output = run_child(["verify_ledger"])
    rows.append({"benchmark": "verify_ledger after the imports", "value": round(seconds, 1), "unit": "s",
                 "detail": output.strip().splitlines()[-1][:80] if output.strip() else ""})
    print(rows[-1], flush=True)
    return rows


if __name__ == "__main__":
    standalone("loyalty_bench_import", main)
