"""Profile one process earning through ``purchase_record`` (not a benchmark of the suite).

``DATABASE_URL=postgres://.../loyalty_prof python -m bench.profile_earn [N]`` on a migrated,
otherwise empty database: sets up a program, a store and members (once), times N earns
with and without cProfile, next to the raw-SQL earn of ``bench_earn``, and prints the
top of the profile. Used to find where the ~1 ms of Python per earn goes.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import statistics
import sys
import time
from decimal import Decimal

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ.setdefault("DEBUG", "false")

import django
import psycopg

django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench import bench_earn  # noqa: E402
from loyalty.models import Program, Source, Store  # noqa: E402
from loyalty.services.purchases import purchase_record  # noqa: E402
from members.models import Member  # noqa: E402


def _backend_cpu(conn=None) -> float:
    """CPU seconds used so far by a connection's PostgreSQL backend (same machine)."""
    if conn is None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
    else:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    chunks = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    if not Program.objects.exists():
        bench_earn._setup()
    store = Store.objects.order_by("pk").first()
    members = list(Member.objects.order_by("pk")[:400])
    amount = Decimal("23.45")
    tag = f"p{time.time_ns()}"

    def earn(n: int) -> None:
        purchase_record(external_id=f"{tag}-{n}", store=store, member=members[n % len(members)],
                        purchased_at=timezone.now(), amount=amount, source=Source.API)

    raw_conn = psycopg.connect(os.environ["DATABASE_URL"].replace("postgres://", "postgresql://", 1), autocommit=True)
    raw_members = list(Member.objects.order_by("-pk").values_list("pk", flat=True)[:400])

    def raw(n: int) -> None:  # as bench_earn's raw worker: psycopg, no ORM
        member_id = raw_members[n % len(raw_members)]
        with raw_conn.transaction():
            raw_conn.execute(bench_earn.RAW_LOCK, (member_id,))
            raw_conn.execute(bench_earn.RAW_INSERT, (member_id, 23, 23, f"{tag}-raw-{n}"))
            raw_conn.execute(bench_earn.RAW_UPDATE, (23, member_id))

    for n in range(50):
        earn(-1 - n)
        raw(-1 - n)
    # Alternate chunks of each so both see the same machine; the least CPU per
    # transaction over the chunks is the figure least disturbed by other work.
    service_figures, raw_figures = [], []
    for chunk in range(chunks):
        for function, figures in ((earn, service_figures), (raw, raw_figures)):
            conn = None if function is earn else raw_conn
            backend_started, cpu_started, started = _backend_cpu(conn), time.process_time(), time.perf_counter()
            for n in range(chunk * count, (chunk + 1) * count):
                function(n)
            figures.append((
                (time.process_time() - cpu_started) / count * 1e3,
                (_backend_cpu(conn) - backend_started) / count * 1e3,
                (time.perf_counter() - started) / count * 1e3,
            ))

    def best(figures):
        python = min(f[0] for f in figures)
        backend = min(f[1] for f in figures)
        wall = statistics.median(f[2] for f in figures)
        return python, backend, wall

    (python, backend, wall), (raw_python, raw_backend, raw_wall) = best(service_figures), best(raw_figures)
    print(f"service: CPU {python:.3f} ms Python + {backend:.3f} ms PostgreSQL = {python + backend:.3f} ms/earn"
          f" (least of {chunks} chunks of {count}); wall {wall:.3f} ms (median)")
    raw_cpu = raw_python + raw_backend
    print(f"raw SQL: CPU {raw_python:.3f} ms Python + {raw_backend:.3f} ms PostgreSQL = {raw_cpu:.3f} ms/earn;"
          f" wall {raw_wall:.3f} ms; CPU ratio raw/service {raw_cpu / (python + backend):.0%}")
    profile = cProfile.Profile(time.process_time)  # CPU time: waiting on PostgreSQL is not counted
    profile.enable()
    for n in range(chunks * count, (chunks + 1) * count):
        earn(n)
    profile.disable()
    stats = pstats.Stats(profile)
    stats.sort_stats("cumulative").print_stats(45)
    stats.sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
