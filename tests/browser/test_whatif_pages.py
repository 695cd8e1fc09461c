"""The what-if pages in Chromium: a manager starts a simulation with the keyboard
alone (the change chosen with the arrow keys, the value typed, Enter), reads
the comparison; axe-core finds no serious WCAG 2 A/AA violation on the form,
the result, and a simulation still queued (whose status line is a live region
that the page's script updates). Screenshots at phone and desktop sizes."""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from analytics.models import Simulation
from loyalty.models import Source
from loyalty.services.purchases import purchase_record
from members.models import Role
from tests.browser.conftest import axe_serious, login, screenshot, tab_to
from tests.factories import MemberFactory, ProgramFactory, StoreFactory, TierFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shop():
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ProgramFactory(expiry_months=12)
    store = StoreFactory(code="WAW", name="Warsaw Centre")
    TierFactory(code="gold", name_en="Gold", rank=1, threshold=Decimal("300"), multiplier=Decimal("1.5"))
    now = timezone.now()
    for n in range(4):
        member = MemberFactory(enrolled_at=now - dt.timedelta(days=500))
        for k in range(n + 2):
            purchase_record(external_id=f"P-{n}-{k}", store=store, member=member,
                            purchased_at=now - dt.timedelta(days=40 * k + n + 1), amount=Decimal(f"{60 + 20 * n}.00"),
                            source=Source.TILL)
    return {"manager": UserFactory(email="manager@example.com", role=Role.MANAGER),
            "marketing": UserFactory(email="marketing@example.com", role=Role.MARKETING)}


def test_a_manager_runs_a_simulation_with_the_keyboard(page, live_server, shop):
    login(page, live_server, shop["manager"])
    page.goto(f"{live_server.url}/staff/analytics/what-if/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("What-if")
    assert axe_serious(page) == []
    screenshot(page, "whatif-form")
    tab_to(page, "input[name=change]")
    page.keyboard.press("Space")  # the first choice: the earn rate
    expect(page.get_by_role("radio", name="Earn rate")).to_be_checked()
    tab_to(page, "input[name=earn_rate]")
    page.keyboard.press("Control+A")
    page.keyboard.type("2")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("What-if simulation")
    table = page.get_by_role("table")
    expect(table).to_contain_text("With the change")
    expect(table).to_contain_text("Points earned (net of refunds)")
    expect(page.get_by_role("status")).to_contain_text("Done")
    assert axe_serious(page) == []
    screenshot(page, "whatif-result")
    simulation = Simulation.objects.get()
    result = simulation.result
    assert result["scenario"]["points_base"] == 2 * result["actual"]["points_base"]


def test_a_queued_simulation_is_announced_and_polled(page, live_server, shop):
    simulation = Simulation.objects.create(scenario={"earn_rate": "2"})
    login(page, live_server, shop["marketing"])
    polls = []
    page.on("request", lambda request: polls.append(request.url) if "status=1" in request.url else None)
    page.goto(f"{live_server.url}/staff/analytics/what-if/{simulation.pk}/")
    status = page.get_by_role("status")
    expect(status).to_contain_text("queued")
    assert status.get_attribute("aria-live") == "polite"
    assert axe_serious(page) == []
    # The run finishes meanwhile: the page notices and shows the result.
    from analytics.services.whatif import simulation_run

    simulation_run(simulation_id=simulation.pk)
    expect(page.get_by_role("table")).to_contain_text("With the change", timeout=15_000)
    assert polls
    assert axe_serious(page) == []
