"""``demo_data --members 100000`` (about 2,000,000 purchases) on PostgreSQL.

Runs ``manage.py demo_data`` in a child process on an empty database and
reports its wall time and peak memory (the child's maximum resident set),
then ``verify_ledger`` over the result. Targets: under 5 minutes and under
1 GiB.

Part of ``make bench`` (``python -m bench demo_data``), or alone:
``.venv/bin/python bench/bench_demo_data.py`` (creates and drops its own
database ``loyalty_bench_demo`` on 127.0.0.1:5432).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUICK = os.environ.get("BENCH_QUICK") == "1"
MEMBERS = 2_000 if QUICK else 100_000
TARGET_SECONDS = 300
TARGET_MIB = 1024


def run_child(args: list[str]) -> tuple[float, float, str]:
    """Run ``manage.py args`` and return (seconds, peak RSS in MiB, stdout)."""
    started = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, "manage.py", *args], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    output = child.stdout.read()
    _pid, status, usage = os.wait4(child.pid, 0)
    seconds = time.monotonic() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed ({child.returncode}):\n{output}")
    return seconds, usage.ru_maxrss / 1024, output


def main() -> list[dict]:
    import django
    from django.db import connection

    django.setup()
    seconds, peak, output = run_child(["demo_data", "--members", str(MEMBERS), "--seed", "1"])
    print(output, flush=True)
    with connection.cursor() as cursor:
        counts = {}
        for table in ("members_member", "loyalty_purchase", "loyalty_refund", "loyalty_pointslot",
                      "loyalty_ledgerentry"):
            cursor.execute(f"SELECT COUNT(*) FROM {table}")
            counts[table] = cursor.fetchone()[0]
    rows_written = sum(counts.values())
    ok = seconds < TARGET_SECONDS and peak < TARGET_MIB
    rows = [
        {
            "benchmark": f"demo_data --members {MEMBERS:,}", "value": round(seconds, 1), "unit": "s",
            "detail": f"{counts['loyalty_purchase']:,} purchases, {counts['loyalty_refund']:,} refunds, "
                      f"{counts['loyalty_ledgerentry']:,} entries; peak RSS {peak:.0f} MiB "
                      f"({'meets' if ok else 'MISSES'} < {TARGET_SECONDS} s, < {TARGET_MIB} MiB)",
            "peak_rss_mib": round(peak), "counts": counts,
        },
        {"benchmark": "demo_data peak memory (RSS)", "value": round(peak), "unit": "MiB"},
        {"benchmark": "demo_data rows written per second", "value": round(rows_written / seconds),
         "unit": "rows/s", "detail": "members, purchases, refunds, lots, entries, accounts"},
    ]
    seconds, peak, output = run_child(["verify_ledger"])
    rows.append({"benchmark": f"verify_ledger after demo_data ({MEMBERS:,} members)", "value": round(seconds, 1),
                 "unit": "s", "detail": output.strip().splitlines()[-1][:80] if output.strip() else ""})
    for row in rows:
        print(row, flush=True)
    return rows


def standalone(database: str, run) -> list[dict]:
    """Create ``database``, migrate it, run ``run()`` against it, drop it."""
    import psycopg

    server = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
    os.environ.update(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{database}",
        DJANGO_SETTINGS_MODULE="config.settings.local", DEBUG="false", PYTHONPATH=str(ROOT),
    )
    os.environ.pop("CELERY_BROKER_URL", None)
    sys.path.insert(0, str(ROOT))
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{database}"')
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, check=True)
        started = time.monotonic()
        rows = run()
        _save(run.__module__, rows, seconds=time.monotonic() - started, server=server)
        return rows
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _save(module: str, rows: list[dict], *, seconds: float, server: dict) -> None:
    """``bench/results/<name>.json`` in the shape the runner (``python -m bench``) writes."""
    import datetime as dt
    import json
    import platform

    import psycopg

    name = Path(sys.modules[module].__file__).stem
    with psycopg.connect(dbname="postgres", **server) as admin:
        version = admin.execute("SHOW server_version").fetchone()[0]
    meminfo = Path("/proc/meminfo").read_text()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    machine = {
        "cpus": os.cpu_count(), "python": platform.python_version(), "postgresql": version,
        "memory_gib": round(int(meminfo.split("MemTotal:")[1].split()[0]) / 2**20, 1),
        "commit": commit.stdout.strip(), "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    folder = ROOT / "bench" / "results"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(
        {"benchmark": name, "quick": QUICK, "seconds": round(seconds, 1), "machine": machine, "rows": rows},
        indent=2, default=str,
    ) + "\n")


if __name__ == "__main__":
    standalone("loyalty_bench_demo", main)
