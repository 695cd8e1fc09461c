import os

import pytest
from django.core.cache import cache
from django.db import connection


@pytest.fixture(autouse=True)
def _clear_cache():
    """The program is cached; each test starts with what its database holds."""
    cache.clear()
    yield
    cache.clear()


def pytest_collection_modifyitems(config, items):
    """PostgreSQL-only tests skip on SQLite, but never when CI asks for PostgreSQL."""
    on_postgres = os.environ.get("DATABASE_URL", "").startswith(("postgres", "pgsql"))
    if os.environ.get("REQUIRE_POSTGRES") and not on_postgres:
        raise pytest.UsageError("REQUIRE_POSTGRES is set but DATABASE_URL is not PostgreSQL")
    if not on_postgres:
        skip = pytest.mark.skip(reason="needs PostgreSQL (CI runs these on its PostgreSQL pass)")
        for item in items:
            if "postgres" in item.keywords:
                item.add_marker(skip)


@pytest.fixture
def on_postgres() -> bool:
    return connection.vendor == "postgresql"
