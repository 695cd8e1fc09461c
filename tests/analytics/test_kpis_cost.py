"""What keeps the KPIs fast (``bench/bench_analytics.py``) without changing a
figure: the CLV fit cached per period end and store, the command's previous
period without a second fit, one grouped pass for active, repeat and
retained members."""

import datetime as dt
import json
from decimal import Decimal
from unittest import mock
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from django.core.management import call_command

import analytics.clv_data
from analytics.kpis import clv_from_model, clv_none, kpi_scope, kpis_compute
from loyalty.models import Source
from loyalty.services.purchases import purchase_record
from tests.factories import MemberFactory, ProgramFactory, StoreFactory

pytestmark = pytest.mark.django_db
WARSAW = ZoneInfo("Europe/Warsaw")
MAY = {"start": dt.date(2026, 5, 1), "end": dt.date(2026, 6, 1)}


def at(month, day, hour=12):
    return dt.datetime(2026, month, day, hour, tzinfo=WARSAW)


@pytest.fixture
def shop():
    """30 members buying from January to May 2026 at two stores, some often."""
    ProgramFactory(timezone="Europe/Warsaw")
    stores = [StoreFactory(code="A"), StoreFactory(code="B")]
    rng = np.random.default_rng(3)
    for n in range(30):
        member = MemberFactory(enrolled_at=at(1, 1), enrollment_store=stores[n % 2])
        for day in sorted(set(rng.integers(0, 150, size=int(rng.integers(1, 8))).tolist())):
            purchase_record(
                external_id=f"P-{n}-{day}", store=stores[day % 2], member=member,
                purchased_at=at(1, 2) + dt.timedelta(days=day), amount=Decimal(f"{rng.integers(10, 90)}.00"),
                source=Source.IMPORT, now=at(6, 1),
            )
    return stores


def test_a_fit_is_reused_for_the_same_end_and_store_and_redone_after_new_data(shop, settings):
    settings.ANALYTICS_CLV_STALE_SECONDS = 0  # the stale window: tests/analytics/test_cache.py
    fits = mock.Mock(wraps=analytics.clv_data.clv_fit)
    with mock.patch.object(analytics.clv_data, "clv_fit", fits):
        may = kpi_scope(**MAY)
        first = clv_from_model(may)
        assert clv_from_model(may) == first
        assert fits.call_count == 1
        clv_from_model(kpi_scope(start=dt.date(2026, 4, 1), **{"end": MAY["end"]}))  # same end
        assert fits.call_count == 1
        clv_from_model(kpi_scope(**MAY, store=shop[0]))  # another store
        assert fits.call_count == 2
        purchase_record(
            external_id="NEW", store=shop[0], member=None, purchased_at=at(5, 20), amount=Decimal("5.00"),
            source=Source.IMPORT, now=at(6, 1),
        )
        assert clv_from_model(may) == first  # a purchase without a member changes no fit, but it is redone
        assert fits.call_count == 3
    assert first.bgnbd["r"] is not None  # a model was fitted


def test_the_previous_period_has_its_clv_unless_asked_not_to(shop):
    both = kpis_compute(**MAY)
    assert both.previous.kpis["churn_risk"] is not None
    assert both.previous.clv.bgnbd == clv_from_model(both.previous.scope).bgnbd
    lean = kpis_compute(**MAY, previous_clv=False)
    assert lean.kpis == both.kpis and lean.clv == both.clv
    assert lean.previous.kpis["clv_predicted_12m"] is lean.previous.kpis["churn_risk"] is None
    clv_names = ("clv_predicted_12m", "churn_risk")
    others = {name: value for name, value in lean.previous.kpis.items() if name not in clv_names}
    assert others == {name: both.previous.kpis[name] for name in others}


def test_the_command_fits_once_and_prints_this_periods_model(shop, capsys):
    fits = mock.Mock(wraps=analytics.clv_data.clv_fit)
    with mock.patch.object(analytics.clv_data, "clv_fit", fits):
        call_command("kpis", "--start", "2026-05-01", "--end", "2026-06-01", "--json")
    assert fits.call_count == 1
    data = json.loads(capsys.readouterr().out)
    assert data["clv_model"]["bgnbd"]["r"] is not None
    assert data["previous"]["kpis"]["clv_predicted_12m"] is data["previous"]["kpis"]["churn_risk"] is None
    assert data["previous"]["kpis"]["active_members"] > 0


def test_active_repeat_and_retained_members_count_as_defined(shop):
    """Worked out from the purchases themselves, member by member."""
    from loyalty.models import Purchase

    for store in (None, *shop):
        kpis = kpis_compute(**MAY, store=store, previous=False, clv=clv_none).kpis
        purchases = Purchase.objects.filter(member__isnull=False)
        if store is not None:
            purchases = purchases.filter(store=store)
        may = [p.member_id for p in purchases if at(5, 1, 0) <= p.purchased_at < at(6, 1, 0)]
        april = {p.member_id for p in purchases if at(4, 1, 0) <= p.purchased_at < at(5, 1, 0)}
        active = set(may)
        assert kpis["active_members"] == len(active) > 0
        assert kpis["repeat_purchase_rate"] == sum(may.count(m) >= 2 for m in active) / len(active)
        assert kpis["retention_rate"] == len(april & active) / len(april)
