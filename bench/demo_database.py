"""A demo-data database that a benchmark keeps between runs (``bench_faces``,
``bench_analytics``): created if missing, migrated every run, loaded once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def demo_database_url(name: str) -> str:
    from bench.__main__ import _url

    return _url(name)


def demo_database_prepare(name: str, *, members: int, seed: int) -> float:
    """Create, migrate and load ``name`` with ``demo_data --members --seed`` unless it
    holds the data; seconds spent loading."""
    from bench.__main__ import _admin

    with _admin() as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    env = dict(os.environ, DATABASE_URL=demo_database_url(name))
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    started = time.monotonic()
    # demo_data loads in one transaction and does nothing when its data is there.
    loaded = subprocess.run(
        [sys.executable, "manage.py", "demo_data", "--members", str(members), "--seed", str(seed)],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    )
    print(loaded.stdout.splitlines()[0] if loaded.stdout else "", flush=True)
    return time.monotonic() - started
