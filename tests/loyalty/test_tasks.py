"""The Celery tasks of the time-driven jobs: thin wrappers over the services."""

import datetime as dt
import time

import pytest
from django.conf import settings
from django.db import close_old_connections

from config.celery import app
from loyalty.models import LedgerEntry, PointsAccount, Source
from loyalty.services.purchases import purchase_record
from loyalty.tasks import expire_points, release_pending_points
from tests.factories import MemberFactory, ProgramFactory, StoreFactory

T0 = dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)


def earn(member, amount="25.00", *, at=T0, external_id="R1"):
    return purchase_record(
        external_id=external_id, store=StoreFactory(code="S1"), member=member, purchased_at=at,
        amount=amount, source=Source.TILL, now=at,
    )


def balances(member):
    account = PointsAccount.objects.get(member=member)
    return account.available, account.pending, account.debt


def test_beat_schedule_names_registered_tasks():
    app.loader.import_default_modules()
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in app.tasks


@pytest.mark.django_db
def test_release_task_releases_due_points_once():
    ProgramFactory(return_window_days=14)
    member = MemberFactory()
    earn(member)
    as_of = (T0 + dt.timedelta(days=15)).isoformat()
    result = release_pending_points.delay(as_of=as_of).get()
    assert result == {"accounts": 1, "entries": 1, "points": 25}
    assert balances(member) == (25, 0, 0)
    assert release_pending_points.delay(as_of=as_of).get()["entries"] == 0
    assert LedgerEntry.objects.filter(kind="release").count() == 1


@pytest.mark.django_db
def test_expire_task_expires_due_lots_once():
    ProgramFactory(expiry_months=2)
    member = MemberFactory()
    earn(member)
    result = expire_points.delay(as_of=(T0 + dt.timedelta(days=70)).isoformat()).get()
    assert result == {"accounts": 1, "entries": 1, "points": 25}
    assert balances(member) == (0, 0, 0)
    assert expire_points.delay().get()["entries"] == 0  # beat calls it without arguments: now


@pytest.mark.django_db
def test_task_refuses_an_instant_without_offset():
    ProgramFactory()
    with pytest.raises(ValueError, match="offset"):
        release_pending_points.delay(as_of="2025-01-01T00:00")


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_release_task_runs_through_the_broker_on_a_real_worker():
    from celery.contrib.testing.worker import start_worker
    from celery.result import EagerResult

    ProgramFactory(return_window_days=1)
    member = MemberFactory()
    earn(member, "40.00")
    assert balances(member) == (0, 40, 0)
    app.conf.task_always_eager = False
    try:
        app.control.purge()
        with start_worker(app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=30):
            sent = release_pending_points.delay(as_of=(T0 + dt.timedelta(days=2)).isoformat())
            assert not isinstance(sent, EagerResult)  # really sent through the broker
            deadline = time.monotonic() + 30
            while balances(member) != (40, 0, 0) and time.monotonic() < deadline:
                time.sleep(0.2)
    finally:
        app.conf.task_always_eager = True
        close_old_connections()
    assert balances(member) == (40, 0, 0)
    release = LedgerEntry.objects.get(kind="release")
    assert release.effective_at == T0 + dt.timedelta(days=1)
