"""The rule set of the engine benchmarks (``bench/rules_mix.py``) is valid and realistic."""

import datetime as dt
from decimal import Decimal

import pytest

from bench.bench_rules import _percentile
from bench.rules_mix import extras_create, rules_create
from loyalty.earning import earning_simulate
from loyalty.models import EarnRule
from loyalty.services.rules import active_rules
from tests.factories import ProgramFactory, StoreFactory, TierFactory

pytestmark = pytest.mark.django_db


def test_fifty_rules_pass_the_model_checks_and_only_some_apply():
    ProgramFactory()
    stores = [StoreFactory() for _ in range(4)]
    tiers = [TierFactory() for _ in range(2)]
    ids = rules_create(50, store_ids=[store.pk for store in stores], tier_ids=[tier.pk for tier in tiers])
    assert len(ids) == EarnRule.objects.filter(status="active").count() == len(active_rules().rules) == 50
    assert {rule.kind for rule in active_rules().rules} == {"multiplier", "per_unit", "fixed", "percent"}
    assert not any(rule.is_capped or rule.is_stamps for rule in active_rules().rules)
    at = dt.datetime(2025, 6, 2, 9, 30, tzinfo=dt.UTC)
    result = earning_simulate(store=stores[0], purchased_at=at, amount=Decimal("32.50"))
    applied = len(result.applied) - 1
    assert 0 < applied < 25


def test_the_extras_add_a_multiplying_tier_a_stamp_card_and_a_capped_rule():
    extras_create()
    kinds = sorted((rule.kind, rule.is_capped) for rule in active_rules().rules)
    assert kinds == [("fixed", True), ("stamps", False)]


def test_percentiles_are_values_seen_nearest_rank():
    values = [float(n) for n in range(1, 101)]
    assert (_percentile(values, 0.5), _percentile(values, 0.95)) == (50.0, 95.0)
