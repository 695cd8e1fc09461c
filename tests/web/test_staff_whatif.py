"""The what-if pages: starting a simulation (owner and manager), reading it
(marketing too), its status while it runs, the comparison and its CSV."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from analytics.models import Simulation
from loyalty.models import LedgerEntry, Source
from loyalty.services.purchases import purchase_record
from loyalty.services.rules import rules_cache_clear
from loyalty.services.tiers.table import tiers_cache_clear
from members.models import Role
from tests.factories import EarnRuleFactory, TierFactory
from tests.web.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def bought(program, store, member):
    """Two purchases of the member in the last months: 100 and 50 points at 1 point per 1.00."""
    now = timezone.now()
    for n, (days, amount) in enumerate(((100, "100.00"), (30, "50.00"))):
        purchase_record(external_id=f"w{n}", store=store, member=member, purchased_at=now - dt.timedelta(days=days),
                        amount=Decimal(amount), source=Source.IMPORT)


@pytest.fixture
def start(django_capture_on_commit_callbacks):
    """Post the form; the task enqueued at commit runs in-process (as in the demo)."""

    def post(client, **data):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(reverse("staff:what-if"), data)

    return post


def test_a_manager_runs_a_simulation_and_reads_the_comparison(users, bought, start):
    client = client_for(users[Role.MANAGER])
    page = client.get(reverse("staff:what-if"))
    assert page.status_code == 200 and b"Run the simulation" in page.content
    response = start(client, change="earn_rate", earn_rate="2")
    simulation = Simulation.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("staff:what-if-detail", args=[simulation.pk])
    # In-process tasks: done by the time the page answers.
    assert simulation.status == Simulation.Status.DONE and simulation.created_by == users[Role.MANAGER]
    assert simulation.result["actual"]["points_earned"] == 150
    assert simulation.result["scenario"]["points_earned"] == 300
    detail = client.get(response["Location"])
    text = detail.content.decode()
    assert "Actual (current program)" in text and "With the change" in text
    assert "Earn rate: 2 points per 1.00" in text
    assert "+150" in text  # the difference in points earned
    assert 'data-status-url' not in text  # done: no polling
    listing = client.get(reverse("staff:what-if")).content.decode()
    assert "Earn rate: 2 points per 1.00" in listing


def test_the_csv_has_each_figure_in_each_column(users, bought, start):
    client = client_for(users[Role.OWNER])
    start(client, change="expiry", expiry_never="on")
    simulation = Simulation.objects.get()
    response = client.get(reverse("staff:what-if-csv", args=[simulation.pk]))
    assert response["Content-Type"].startswith("text/csv")
    lines = b"".join(response.streaming_content).decode("utf-8-sig").splitlines()
    assert lines[0] == "figure,actual,with_change,difference,ledger"
    assert lines[1].startswith("Points earned (net of refunds),150,150,0,150")
    assert any(line.startswith("Members without a tier at the end,") for line in lines)


def test_marketing_reads_results_but_does_not_start(users, bought, start):
    owner = client_for(users[Role.OWNER])
    start(owner, change="point_value", point_value="0.02")
    simulation = Simulation.objects.get()
    marketing = client_for(users[Role.MARKETING])
    page = marketing.get(reverse("staff:what-if"))
    assert page.status_code == 200
    assert b"Run the simulation" not in page.content
    assert marketing.get(reverse("staff:what-if-detail", args=[simulation.pk])).status_code == 200
    assert marketing.get(reverse("staff:what-if-csv", args=[simulation.pk])).status_code == 200
    assert start(marketing, change="earn_rate", earn_rate="3").status_code == 403
    assert Simulation.objects.count() == 1


@pytest.mark.parametrize("role", ["member", Role.CASHIER])
def test_members_and_cashiers_cannot_start(users, role, bought, start):
    assert start(client_for(users[role]), change="earn_rate", earn_rate="3").status_code == 403
    assert not Simulation.objects.exists()


def test_anonymous_is_sent_to_log_in(db, start):
    response = start(client_for(None), change="earn_rate", earn_rate="3")
    assert response.status_code == 302 and "login" in response["Location"]


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"change": "earn_rate"}, "earn_rate", "Give a value for this change."),
    ({"change": "earn_rate", "earn_rate": "-1"}, "earn_rate", "greater than or equal to 0"),
    ({"change": "expiry", "expiry_months": "0"}, "expiry_months", "greater than or equal to 1"),
    ({"change": "rule_add", "new_rule_name": "Big", "new_rule_kind": "multiplier", "new_rule_value": "0.5"},
     "new_rule_value", "A multiplier below 1 would take points away."),
    ({"change": "rule_add", "new_rule_kind": "fixed", "new_rule_value": "5"}, "new_rule_name", "Name:"),
])
def test_a_bad_change_is_shown_on_its_field_and_starts_nothing(users, program, data, field, message, start):
    response = start(client_for(users[Role.MANAGER]), **data)
    assert response.status_code == 400
    form = response.context["form"]
    assert any(message in error for error in form.errors[field]), form.errors
    assert not Simulation.objects.exists()


def test_a_rule_and_tier_change_from_the_form(users, bought, start):
    rule = EarnRuleFactory(name="Ten more", kind="fixed", value=Decimal("10"))
    silver = TierFactory(code="silver", rank=1, threshold=Decimal("500"))
    rules_cache_clear()  # saved by factories, not through the services that clear the caches
    tiers_cache_clear()
    client = client_for(users[Role.MANAGER])
    start(client, change="rule_change", rule=rule.pk, rule_value="25")
    start(client, change="tiers", **{f"tier_{silver.pk}": "120"})
    changed, tiers = Simulation.objects.order_by("pk")
    assert changed.scenario == {"rule": {"action": "change", "id": rule.pk, "fields": {"value": "25"}}}
    assert changed.status == Simulation.Status.DONE
    assert tiers.scenario == {"tier_thresholds": {str(silver.pk): "120"}}
    assert tiers.result["scenario"]["tier_mix"]["silver"] == 1


def test_a_running_simulation_says_so_and_polls(users, program):
    simulation = Simulation.objects.create(scenario={"earn_rate": "2"})
    client = client_for(users[Role.MARKETING])
    page = client.get(reverse("staff:what-if-detail", args=[simulation.pk])).content.decode()
    assert 'role="status"' in page and "data-status-url" in page and "js/whatif.js" in page
    assert "This simulation is queued." in page
    status = client.get(reverse("staff:what-if-detail", args=[simulation.pk]), {"status": "1"}).json()
    assert status == {"status": "queued", "label": "queued"}


def test_a_failed_simulation_shows_its_error(users, program):
    simulation = Simulation.objects.create(scenario={"rule": {"action": "remove", "id": 12345}})
    from analytics.services.whatif import simulation_run

    simulation_run(simulation_id=simulation.pk)
    simulation.refresh_from_db()
    assert simulation.status == Simulation.Status.FAILED
    assert "rule 12345 does not exist" in simulation.error
    page = client_for(users[Role.MANAGER]).get(reverse("staff:what-if-detail", args=[simulation.pk]))
    assert "rule 12345 does not exist" in page.content.decode()
    assert client_for(users[Role.MANAGER]).get(reverse("staff:what-if-csv", args=[simulation.pk])).status_code == 404


def test_a_simulation_runs_once(users, bought):
    from analytics.services.whatif import simulation_run

    simulation = Simulation.objects.create(scenario={"earn_rate": "2"})
    assert simulation_run(simulation_id=simulation.pk) is not None
    assert simulation_run(simulation_id=simulation.pk) is None  # a second delivery finds it taken
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.EARN).count() == 2


def test_the_list_reads_a_fixed_number_of_queries(users, program, django_assert_max_num_queries):
    for n in range(15):
        Simulation.objects.create(scenario={"earn_rate": str(n + 2)}, created_by=users[Role.OWNER])
    client = client_for(users[Role.MARKETING])
    client.get(reverse("staff:what-if"))  # warm the session and the program
    with django_assert_max_num_queries(12):
        response = client.get(reverse("staff:what-if"))
    assert response.content.decode().count("Earn rate:") == 15


def test_the_list_reads_rule_names_and_tier_codes_once_for_the_page(users, program, django_assert_max_num_queries):
    rule = EarnRuleFactory(name="Ten more", kind="fixed", value=Decimal("10"))
    silver = TierFactory(code="silver", rank=1, threshold=Decimal("500"))
    for n in range(15):
        Simulation.objects.create(scenario={"rule": {"action": "change", "id": rule.pk, "fields": {"value": str(n)}},
                                            "tier_thresholds": {str(silver.pk): str(100 + n)}},
                                  created_by=users[Role.OWNER])
    client = client_for(users[Role.MARKETING])
    client.get(reverse("staff:what-if"))
    with django_assert_max_num_queries(12):
        response = client.get(reverse("staff:what-if"))
    text = response.content.decode()
    assert text.count("Rule Ten more changed: value = ") == 15 and "Tier silver from 114" in text


def test_a_run_killed_past_the_task_time_limit_is_run_again_on_redelivery(users, bought):
    """acks_late: the worker killed at the hard time limit leaves the row running; the
    redelivered task takes it again, while a run younger than the limit is left alone."""
    from analytics.services.whatif import simulation_run

    stale = Simulation.objects.create(scenario={"earn_rate": "2"}, status=Simulation.Status.RUNNING,
                                      started_at=timezone.now() - dt.timedelta(hours=2))
    live = Simulation.objects.create(scenario={"earn_rate": "2"}, status=Simulation.Status.RUNNING,
                                     started_at=timezone.now() - dt.timedelta(minutes=1))
    assert simulation_run(simulation_id=stale.pk).status == Simulation.Status.DONE
    assert simulation_run(simulation_id=live.pk) is None
    live.refresh_from_db()
    assert live.status == Simulation.Status.RUNNING
