"""Run every benchmark under ``bench/`` on PostgreSQL: ``make bench``
(``python -m bench [NAME ...] [--quick] [--keep]``).

The protocol a benchmark follows, so that new ones plug in:

* it is a module ``bench/bench_<name>.py`` with a function ``main() -> list[dict]``;
* the runner calls it in a fresh process of its own, with Django set up
  (``config.settings.local`` with ``DEBUG=false``, tasks in-process) on an
  empty, migrated PostgreSQL database ``loyalty_bench`` created for that
  benchmark alone (no program, no stores: the benchmark makes what it needs);
  ``DATABASE_URL`` names it, so processes the benchmark starts find it too;
* each dict it returns is one row of the results table: ``benchmark`` (what
  was measured), ``value`` (a number), ``unit`` and optionally ``detail``
  (a short note, e.g. the target or the peak memory); other keys are kept in
  the JSON file;
* ``BENCH_QUICK=1`` (``--quick``) asks for a short smoke run with small sizes;
* ``BENCH_RULES=N`` (``--rules N``) asks for N active earning rules
  (``bench/rules_mix.py``) where a benchmark supports it (``earn``, ``rules``).

A benchmark that needs a large data set may keep a database of its own
between runs instead (``bench_faces``: ``loyalty_bench_faces``, the demo data
at 100,000 members, loaded once in about 4 minutes and migrated each run);
``--keep`` does not concern it and the runner never drops it.

The runner prints one table and writes ``bench/results/<name>.json`` (rows
plus the machine), and drops its databases afterwards unless ``--keep``.
A benchmark that fails is reported and makes the run exit non-zero; the
others still run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
RESULTS_DIR = BENCH_DIR / "results"
PG = {"host": os.environ.get("BENCH_PGHOST", "127.0.0.1"), "port": int(os.environ.get("BENCH_PGPORT", "5432")),
      "user": os.environ.get("BENCH_PGUSER", "postgres")}
# BENCH_DB names the databases (``<name>`` and ``<name>_template``), so that two
# runs on one server do not drop each other's.
DB = os.environ.get("BENCH_DB", "loyalty_bench")
TEMPLATE = f"{DB}_template"


def _admin() -> psycopg.Connection:
    return psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **PG)


def _url(name: str) -> str:
    return f"postgres://{PG['user']}@{PG['host']}:{PG['port']}/{name}"


def _drop(conn: psycopg.Connection, name: str) -> None:
    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _env(database: str, quick: bool, rules: int = 0) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("CELERY_BROKER_URL", None)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local", DEBUG="false", DATABASE_URL=_url(database),
        PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", BENCH_QUICK="1" if quick else "0",
        BENCH_RULES=str(rules),
    )
    return env


def discover(names: list[str]) -> list[str]:
    found = sorted(path.stem for path in BENCH_DIR.glob("bench_*.py"))
    if not names:
        return found
    wanted = [name if name.startswith("bench_") else f"bench_{name}" for name in names]
    unknown = [name for name in wanted if name not in found]
    if unknown:
        sys.exit(f"unknown benchmark(s): {', '.join(unknown)}; found: {', '.join(found)}")
    return wanted


def machine(conn: psycopg.Connection) -> dict:
    meminfo = Path("/proc/meminfo")
    total = re.search(r"MemTotal:\s+(\d+)", meminfo.read_text()) if meminfo.exists() else None
    cpu = Path("/proc/cpuinfo")
    model = re.search(r"model name\s*:\s*(.+)", cpu.read_text()) if cpu.exists() else None
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model.group(1).strip() if model else platform.processor(),
        "memory_gib": round(int(total.group(1)) / 1024 / 1024, 1) if total else None,
        "python": platform.python_version(),
        "postgresql": conn.execute("SHOW server_version").fetchone()[0],
        "commit": commit.stdout.strip(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def run_one(name: str, *, quick: bool, rules: int = 0) -> tuple[list[dict], float]:
    """Run ``bench.<name>.main()`` in a child process on a fresh database."""
    with _admin() as conn:
        _drop(conn, DB)
        conn.execute(f'CREATE DATABASE "{DB}" TEMPLATE "{TEMPLATE}"')
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        output = Path(handle.name)
    child = (
        "import json, sys, django; django.setup(); import importlib; "
        f"rows = importlib.import_module('bench.{name}').main(); "
        "json.dump(rows, open(sys.argv[1], 'w'), default=str)"
    )
    started = time.monotonic()
    try:
        subprocess.run([sys.executable, "-c", child, str(output)], cwd=ROOT, env=_env(DB, quick, rules), check=True)
        rows = json.loads(output.read_text())
    finally:
        output.unlink(missing_ok=True)
    return rows, time.monotonic() - started


def table(rows: list[dict]) -> str:
    def shown(value) -> str:
        if isinstance(value, float):
            return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
        return f"{value:,}" if isinstance(value, int) else str(value)

    lines = [("benchmark", "value", "unit", "detail")]
    lines += [(str(r.get("benchmark", "?")), shown(r.get("value", "")), str(r.get("unit", "")),
               str(r.get("detail", ""))) for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(4)]
    out = []
    for index, line in enumerate(lines):
        out.append("| " + " | ".join(
            cell.rjust(widths[i]) if i == 1 and index else cell.ljust(widths[i]) for i, cell in enumerate(line)
        ) + " |")
        if index == 0:
            out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: every bench/bench_*.py)")
    parser.add_argument("--quick", action="store_true", help="a short smoke run with small sizes")
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    parser.add_argument(
        "--rules", type=int, default=0, metavar="N",
        help="N active earning rules (bench/rules_mix.py) for the benchmarks that read BENCH_RULES "
             "(earn: the ledger earn with N rules; rules: default 50)",
    )
    args = parser.parse_args()
    names = discover(args.names)
    try:
        with _admin() as conn:
            info = machine(conn)
            _drop(conn, TEMPLATE)
            conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
    except psycopg.OperationalError as error:
        sys.exit(f"PostgreSQL at {PG['host']}:{PG['port']} is needed for the benchmarks: {error}")
    print(f"machine: {info['cpus']} CPUs ({info['cpu_model']}), {info['memory_gib']} GiB, "
          f"PostgreSQL {info['postgresql']}, Python {info['python']}, commit {info['commit']}", flush=True)
    failures: list[str] = []
    all_rows: list[dict] = []
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT, env=_env(TEMPLATE, args.quick), check=True,
        )
        RESULTS_DIR.mkdir(exist_ok=True)
        for name in names:
            print(f"\n--- {name} ---", flush=True)
            try:
                rows, seconds = run_one(name, quick=args.quick, rules=args.rules)
            except (subprocess.CalledProcessError, OSError, ValueError) as error:
                print(f"{name} FAILED: {error}", file=sys.stderr, flush=True)
                failures.append(name)
                continue
            print(table(rows), flush=True)
            print(f"({name} took {seconds:.0f} s)", flush=True)
            all_rows.extend(rows)
            suffix = f"-rules{args.rules}" if args.rules and name == "bench_earn" else ""
            (RESULTS_DIR / f"{name}{suffix}.json").write_text(
                json.dumps({"benchmark": name, "quick": args.quick, "rules": args.rules, "seconds": round(seconds, 1),
                            "machine": info, "rows": rows}, indent=2, default=str) + "\n"
            )
    finally:
        if not args.keep:
            with _admin() as conn:
                _drop(conn, DB)
                _drop(conn, TEMPLATE)
    print("\n" + table(all_rows))
    print(f"\nmachine: {info['cpus']} CPUs, {info['memory_gib']} GiB; results in {RESULTS_DIR.relative_to(ROOT)}/")
    if failures:
        print(f"FAILED: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
