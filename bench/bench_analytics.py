"""Analytics at 100,000 members: the ``kpis`` command, the KPI dashboard, a
segment count preview and the members CSV export.

With the demo data (``demo_data --members 100000 --seed 1``: about 2.3
million purchases) on PostgreSQL, in a database of its own
(``loyalty_bench_analytics``: created and loaded once, kept between runs and
reused while it holds that data, as ``bench_faces`` does; migrations are
applied each run), for the last whole month of the data (the month before
the program's today):

* ``manage.py kpis --start --end --json`` run as a command, each run in a
  fresh process (so nothing is cached from an earlier run: a cold start with
  the CLV fit), timed from start to exit, three times;
* the dashboard ``staff:analytics`` for that month as the demo owner through
  Django's test ``Client``: the first (cold) request, then 20 warm requests,
  p50/p95. Warm means "cached under the current ``data_version()``", as a
  second visitor finds the page; without that page (not built yet) the same
  is measured on what it would serve: ``kpis_compute`` and the dashboard's
  series through ``analytics_cached``;
* a segment count preview (``analytics.segments.segment_count_time``) for a
  few typical condition sets, uncached, the median of 5 each (the RFM, churn
  and CLV conditions read the last ``score_members`` run: run it once on the
  database, as the nightly task would);
* the members CSV (``/staff/analytics/exports/?export=members``) streamed to
  nowhere in a fresh process: seconds, rows, megabytes and the process's
  peak resident memory (``VmHWM``) against its size before the export.

Targets (issue 7): kpis < 10 s, dashboard p95 < 1 s warm, segment count
< 500 ms; the export streams (its peak memory does not grow with the rows).

``python -m bench analytics`` (``--quick``: 2,000 members, in
``loyalty_bench_analytics_quick``). Needs no other database of the runner.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.demo_database import demo_database_prepare, demo_database_url

ROOT = Path(__file__).resolve().parent.parent
QUICK = os.environ.get("BENCH_QUICK") == "1"
MEMBERS = 2_000 if QUICK else 100_000
SEED = 1
DATABASE = "loyalty_bench_analytics_quick" if QUICK else "loyalty_bench_analytics"
KPI_RUNS = 1 if QUICK else 3
DASHBOARD_REQUESTS = 5 if QUICK else 20
SEGMENT_REPEAT = 5
TARGETS = {"kpis": 10.0, "dashboard": 1000.0, "segment": 500.0}


def _database_url() -> str:
    return demo_database_url(DATABASE)


def _prepare_database() -> float:
    return demo_database_prepare(DATABASE, members=MEMBERS, seed=SEED)


def _child(args: list[str]) -> dict:
    """``python -m bench.bench_analytics <args> OUT`` on the database; what it wrote to OUT."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        output = Path(handle.name)
    env = dict(os.environ, DATABASE_URL=_database_url())
    try:
        subprocess.run([sys.executable, "-m", "bench.bench_analytics", *args, str(output)], cwd=ROOT, env=env,
                       check=True)
        return json.loads(output.read_text())
    finally:
        output.unlink(missing_ok=True)


def main() -> list[dict]:
    """Called by ``python -m bench``: prepare the database, measure in child processes on it."""
    load_seconds = _prepare_database()
    month = _child(["month"])
    start, end = month["start"], month["end"]
    rows = [_kpis_command(start, end)]
    print(rows[-1]["detail"], flush=True)
    rows += _child(["pages", start, end])["rows"]
    print(*(row["detail"] for row in rows[1:]), sep="\n", flush=True)
    rows.append(_child(["export"])["row"])
    if load_seconds > 60:
        rows.append({"benchmark": f"(demo_data --members {MEMBERS:,} loaded first)", "value": round(load_seconds),
                     "unit": "s"})
    return rows


def _kpis_command(start: str, end: str) -> dict:
    env = dict(os.environ, DATABASE_URL=_database_url())
    seconds = []
    for _run in range(KPI_RUNS):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "manage.py", "kpis", "--start", start, "--end", end, "--json"],
            cwd=ROOT, env=env, check=True, capture_output=True, text=True,
        )
        seconds.append(time.perf_counter() - started)
        report = json.loads(done.stdout)
    worst = max(seconds)
    return {
        "benchmark": f"manage.py kpis --json, {start} to {end}, CLV fit included, {MEMBERS:,} members",
        "value": round(statistics.median(seconds), 2), "unit": "s (median)",
        "runs_s": [round(value, 2) for value in seconds],
        "detail": f"runs {', '.join(f'{value:.2f}' for value in seconds)} s; "
                  f"clv_predicted_12m {report['kpis']['clv_predicted_12m']}, "
                  f"churn_risk {report['kpis']['churn_risk']}"
                  + ("" if worst < TARGETS["kpis"] else f"; ABOVE the {TARGETS['kpis']:.0f} s target"),
        "kpis": report["kpis"],
    }


# -- the measuring children ------------------------------------------------------


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def last_month() -> dict:
    """The last whole month of the data: the month before the program's today."""
    from django.utils import timezone

    from loyalty.services.program import program_get

    today = timezone.localdate(timezone=program_get().tz)
    end = today.replace(day=1)
    start = (end - dt.timedelta(days=1)).replace(day=1)
    return {"start": start.isoformat(), "end": end.isoformat()}


def _timed_row(name: str, times: list[float], target_ms: float, **extra) -> dict:
    p95 = _percentile(times, 0.95)
    return {
        "benchmark": name, "value": round(p95, 1), "unit": "ms p95",
        "p50_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1), "requests": len(times),
        "detail": f"p50 {statistics.median(times):.1f}, max {max(times):.1f} ms; n={len(times)}"
                  + "".join(f"; {key.replace('_', ' ')} {value}" for key, value in extra.items())
                  + ("" if p95 < target_ms else f"; ABOVE the {target_ms:.0f} ms target"),
    }


def _test_client_settings():
    """No collected static files here: plain storage; the test client's host allowed."""
    from django.conf import settings
    from django.test.utils import override_settings

    return override_settings(
        STORAGES={**settings.STORAGES,
                  "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}},
        ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"],
    )


def pages(start: str, end: str) -> dict:
    """The dashboard (or, without it, what it serves) and the segment previews."""
    from django.core.cache import cache

    with _test_client_settings():
        cache.clear()
        return {"rows": [_dashboard(start, end), *_segments()]}


def _dashboard(start: str, end: str) -> dict:
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import NoReverseMatch, reverse

    from members.models import User

    try:
        url = reverse("staff:analytics")
    except NoReverseMatch:
        url = None
    start_day, end_day = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    times: list[float] = []
    queries: list[int] = []
    if url is not None:
        client = Client()
        client.force_login(User.objects.get(email="owner@demo.example"))
        params = {"period": "custom", "start": start, "end": (end_day - dt.timedelta(days=1)).isoformat()}
        for _request in range(DASHBOARD_REQUESTS + 1):
            with CaptureQueriesContext(connection) as captured:
                began = time.perf_counter()
                response = client.get(url, params)
                times.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200, response.status_code
            queries.append(len(captured.captured_queries))
            reset_queries()
        name = f"dashboard {url} one month as owner, warm, {MEMBERS:,} members"
    else:
        from analytics.cache import analytics_cached
        from analytics.kpis import kpis_compute

        for _request in range(DASHBOARD_REQUESTS + 1):
            began = time.perf_counter()
            analytics_cached("bench-kpis", (start, end, None),
                             lambda: kpis_compute(start=start_day, end=end_day))
            times.append((time.perf_counter() - began) * 1000)
        name = f"kpis_compute through analytics_cached (no dashboard page yet), warm, {MEMBERS:,} members"
    return _timed_row(name, times[1:], TARGETS["dashboard"], cold_first_request_ms=round(times[0]),
                      **({"queries": f"{min(queries[1:])}-{max(queries[1:])}"} if queries else {}))


def _segment_examples() -> list[tuple[str, dict]]:
    from django.utils import timezone

    from loyalty.models import Store, Tier
    from loyalty.services.program import program_get

    today = timezone.localdate(timezone=program_get().tz)
    store = Store.objects.order_by("pk").values_list("pk", flat=True).first()
    tier = Tier.objects.filter(is_paid=False).order_by("rank").values_list("pk", flat=True).last()
    recent = (today - dt.timedelta(days=90)).isoformat()
    examples = [
        ("lapsed big spenders with email consent", [
            {"field": "last_purchase", "op": "before", "value": recent},
            {"field": "spend", "op": "at_least", "value": "500.00"},
            {"field": "consent", "op": "given", "value": "email"},
        ]),
        ("frequent buyers at one store", [
            {"field": "store", "op": "bought_at", "value": [store]},
            {"field": "purchases", "op": "at_least", "value": 10},
        ]),
        ("RFM champions and loyal, top qualifying tier", [
            {"field": "rfm_group", "op": "in", "value": ["champions", "loyal"]},
            {"field": "tier", "op": "in", "value": [tier]},
        ]),
        ("churn >= 0.01, predicted CLV >= 100, birthday in June", [
            {"field": "churn", "op": "at_least", "value": "0.01"},
            {"field": "clv", "op": "at_least", "value": "100.00"},
            {"field": "birthday_month", "op": "in", "value": [6]},
        ]),
    ]
    return [(name, {"all": [c for c in conditions if c["value"] not in (None, [None])]})
            for name, conditions in examples]


def _segments() -> list[dict]:
    try:
        from analytics.segments import segment_count_time
    except ImportError:
        return [{"benchmark": "segment count preview", "value": "", "unit": "",
                 "detail": "analytics.segments not there yet"}]
    rows = []
    for name, conditions in _segment_examples():
        timing = segment_count_time(conditions, repeat=SEGMENT_REPEAT)
        median = timing["median_ms"]
        rows.append({
            "benchmark": f"segment count preview: {name}", "value": median, "unit": "ms (median)",
            **timing,
            "detail": f"{timing['count']:,} members; best {timing['best_ms']}, worst {timing['worst_ms']} ms"
                      + ("" if median < TARGETS["segment"] else f"; ABOVE the {TARGETS['segment']:.0f} ms target"),
        })
    return rows


def _memory_mib(key: str) -> float:
    """``VmRSS`` (resident now) or ``VmHWM`` (peak resident) of this process, in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def export() -> dict:
    """The members CSV through the view, streamed to nowhere; time and memory."""
    with _test_client_settings():
        return _export()


def _export() -> dict:
    from django.test import Client
    from django.urls import reverse

    from members.models import User

    client = Client()
    client.force_login(User.objects.get(email="owner@demo.example"))
    url = reverse("staff:exports")
    client.get(url)  # the page once: templates and the program loaded before measuring
    before_mib = _memory_mib("VmRSS")
    began = time.perf_counter()
    response = client.get(url, {"export": "members"})
    size = lines = 0
    first_byte = None
    for chunk in response.streaming_content:
        if first_byte is None:
            first_byte = time.perf_counter() - began
        size += len(chunk)
        lines += chunk.count(b"\n")  # the test client closes the response after the last chunk
    seconds = time.perf_counter() - began
    peak_mib = _memory_mib("VmHWM")
    rows = lines - 1
    return {"row": {
        "benchmark": f"members CSV export, streamed ({rows:,} members)", "value": round(seconds, 2), "unit": "s",
        "rows": rows, "bytes": size, "megabytes": round(size / 1e6, 1), "rss_before_mib": round(before_mib, 1),
        "rss_peak_mib": round(peak_mib, 1), "first_byte_s": round(first_byte or 0, 2),
        "detail": f"{size / 1e6:.1f} MB; peak RSS {peak_mib:.0f} MiB (process at {before_mib:.0f} MiB before, "
                  f"+{peak_mib - before_mib:.0f} MiB); first bytes after {first_byte or 0:.2f} s",
    }}


if __name__ == "__main__":
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ.setdefault("DEBUG", "false")
    sys.path.insert(0, str(ROOT))
    django.setup()
    command, *arguments, out = sys.argv[1:]
    result = {"month": last_month, "pages": pages, "export": export}[command](*arguments)
    Path(out).write_text(json.dumps(result, indent=2, default=str))
