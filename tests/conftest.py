import os

import pytest
from django.core.cache import cache
from django.db import connection


@pytest.fixture(autouse=True)
def _language_restored():
    """A page requested in Polish or Romanian leaves that language active in the
    thread (Django does not reset it after a response); each test starts and
    ends in the language it found, so command output and messages stay English."""
    from django.utils import translation

    with translation.override(translation.get_language()):
        yield


@pytest.fixture(autouse=True)
def _clear_cache():
    """The program, rules and tiers are cached (in Django's cache and in process
    memory); each test starts with what its database holds."""
    from loyalty.process_cache import process_caches_forget

    cache.clear()
    process_caches_forget()
    yield
    cache.clear()
    process_caches_forget()


def _broker_unreachable(url: str) -> str | None:
    """Why the broker at ``url`` cannot be reached, or ``None`` when it answers."""
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=3) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as error:  # any failure means "unreachable"; the message says which
        return f"{type(error).__name__}: {error}"
    return None


def pytest_configure(config):
    """A broker that is configured must answer: fail the run, never skip, when it does not."""
    url = os.environ.get("CELERY_BROKER_URL")
    if url and not hasattr(config, "workerinput"):
        problem = _broker_unreachable(url)
        if problem:
            raise pytest.UsageError(f"CELERY_BROKER_URL is set but its broker is unreachable ({problem})")


@pytest.fixture(autouse=True, scope="session")
def _tasks_run_in_process():
    """Tasks run in-process in tests even when CELERY_BROKER_URL names a broker;
    the tests marked ``broker`` switch this off for themselves."""
    from config.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield


def pytest_collection_modifyitems(config, items):
    """PostgreSQL-only tests skip on SQLite, but never when CI asks for PostgreSQL.
    Broker tests skip only when no CELERY_BROKER_URL is configured."""
    if not os.environ.get("CELERY_BROKER_URL"):
        skip_broker = pytest.mark.skip(reason="needs CELERY_BROKER_URL (CI runs these against Redis)")
        for item in items:
            if "broker" in item.keywords:
                item.add_marker(skip_broker)
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
