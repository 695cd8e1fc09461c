"""The KPI dashboard in Chromium: the charts drawn by the vendored Chart.js at
desktop and phone widths (a Chart instance on every canvas and pixels on
it), axe-core with every table opened, and the period picker used with the
keyboard alone; screenshots at phone and desktop sizes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from analytics.models import MemberScore, RfmGroup, ScoreRun
from loyalty.models import Source, Tier
from loyalty.services.purchases import purchase_record
from members.models import Feedback, Role
from tests.browser.conftest import axe_serious, login, screenshot, tab_to
from tests.factories import MemberFactory, ProgramFactory, StoreFactory, TierFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DRAWN = """() => {
  const canvases = [...document.querySelectorAll('canvas[data-chart]')];
  return canvases.length > 0 && canvases.every((c) => window.Chart && Chart.getChart(c));
}"""

# How many pixels of each canvas are painted (not fully transparent).
PAINTED = """() => [...document.querySelectorAll('canvas[data-chart]')].map((c) => {
  const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let painted = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++;
  return {id: c.id, painted, width: c.getBoundingClientRect().width};
})"""


@pytest.fixture
def shop():
    ProgramFactory()
    waw = StoreFactory(code="WAW", name="Warsaw Centre")
    krk = StoreFactory(code="KRK", name="Kraków Old Town")
    TierFactory(code="gold", name_en="Gold", rank=1, threshold=Decimal("500"))
    manager = UserFactory(email="manager@example.com", role=Role.MANAGER)
    run = ScoreRun.objects.create(as_of=timezone.now(), status=ScoreRun.Status.DONE)
    now = timezone.now()
    for n in range(8):
        member = MemberFactory(first_name=f"Member{n}", enrollment_store=waw if n % 2 else krk,
                               enrolled_at=now - dt.timedelta(days=300 - n * 30))
        for k in range(n + 1):
            purchase_record(
                external_id=f"P-{n}-{k}", store=waw if k % 2 else krk, member=member,
                purchased_at=now - dt.timedelta(days=k * 25 + n), amount=Decimal(f"{20 + 5 * n}.50"),
                source=Source.TILL,
            )
        Feedback.objects.create(member=member, score=10 - n, comment=f"Comment {n}" if n < 4 else "",
                                created_at=now - dt.timedelta(days=n))
        MemberScore.objects.create(member=member, run=run, r_score=5 - n % 5, f_score=1 + n % 5, m_score=3,
                                   rfm_group=RfmGroup.CHAMPIONS if n < 3 else RfmGroup.AT_RISK)
    purchase_record(external_id="ANON-1", store=waw, member=None, purchased_at=now, amount=Decimal("15.00"),
                    source=Source.TILL)
    assert Tier.objects.exists()
    return {"manager": manager}


def test_the_dashboard_draws_its_charts_at_desktop_and_phone_width(page, live_server, shop):
    login(page, live_server, shop["manager"])
    page.goto(f"{live_server.url}/staff/analytics/?period=this-year")
    expect(page.get_by_role("heading", level=1)).to_have_text("KPIs")
    page.wait_for_function(DRAWN)
    painted = page.evaluate(PAINTED)
    assert len(painted) >= 6
    assert all(canvas["painted"] > 500 for canvas in painted), painted
    expect(page.locator('[data-kpi="active_members"] .figure-value')).not_to_have_text("–")
    expect(page.locator("#chart-rfm table.heat-grid")).to_be_visible()
    expect(page.get_by_text("Comment 0")).to_be_visible()
    screenshot(page, "staff-analytics")

    page.evaluate("document.querySelectorAll('details').forEach((d) => { d.open = true; })")
    assert axe_serious(page) == []

    page.set_viewport_size({"width": 360, "height": 740})
    page.reload()
    page.wait_for_function(DRAWN)
    painted = page.evaluate(PAINTED)
    assert all(canvas["painted"] > 500 and canvas["width"] <= 360 for canvas in painted), painted
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    assert axe_serious(page) == []


def test_the_period_picker_works_with_the_keyboard_alone(page, live_server, shop):
    login(page, live_server, shop["manager"])
    page.goto(f"{live_server.url}/staff/analytics/")
    page.wait_for_function(DRAWN)
    tab_to(page, "#id_period", limit=60)
    page.keyboard.type("Cu")  # type-ahead on the closed select: "Custom dates"
    assert page.evaluate("document.activeElement.value") == "custom"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "id_start"
    # Day and month alike, so the digits mean the same in dd/mm/yyyy and mm/dd/yyyy (the
    # field's order follows Chromium's own locale, whatever the page's language).
    page.keyboard.type("02022025")
    page.keyboard.press("Tab")
    while page.evaluate("document.activeElement.id") != "id_end":
        page.keyboard.press("Tab")  # past any remaining segment of the date field
    page.keyboard.type("03032025")
    tab_to(page, "#id_store")
    page.keyboard.type("Kr")
    tab_to(page, ".period-picker button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url("**/staff/analytics/?period=custom&start=2025-02-02&end=2025-03-03&store=*")
    expect(page.locator(".period-summary")).to_contain_text("store Kraków Old Town")
    page.wait_for_function(DRAWN)
    screenshot(page, "staff-analytics-custom")

    # A custom period without its last day: the field is named, nothing computed.
    page.evaluate("document.getElementById('id_end').value = ''")
    tab_to(page, ".period-picker button[type=submit]")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Enter the last day of the period.")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("Nothing was computed")
    assert page.locator("[data-kpi]").count() == 0
    screenshot(page, "staff-analytics-error")
    assert axe_serious(page) == []
