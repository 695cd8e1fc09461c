"""The KPI dashboard (``/staff/analytics/``): who sees it, the period picker,
the KPI cards against ``kpis_compute``, the cache and its invalidation, the
charts and tables of the series, and the CSV downloads."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zoneinfo
from decimal import Decimal

import pytest
import time_machine
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from analytics.forms.dashboard import DashboardPeriodForm, preset_bounds
from analytics.kpis import KPI_NAMES, kpis_compute
from analytics.models import MemberScore, RfmGroup, ScoreRun
from analytics.selectors.series import Dataset, Series
from analytics.views.dashboard import kpi_cards
from loyalty.currencies import money_format
from members.models import Feedback
from tests.factories import MemberFactory
from tests.web.conftest import buy, client_for

pytestmark = pytest.mark.django_db

URL = "/staff/analytics/"
WARSAW = zoneinfo.ZoneInfo("Europe/Warsaw")


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


def fake_series(scope, program, *, rfm_grid=None, **kwargs):
    """Three small charts and a grid, in the documented shape, for the page to render."""
    return {
        "members": Series(
            key="members", title="Members over time", label_header="Month", labels=["Jan", "Feb"],
            datasets=[Dataset(name="Members", values=[3, 5]), Dataset(name="Active", values=[1, None])],
            chart="line", note="Counted at each month's end.",
        ),
        "aov": Series(
            key="aov", title="Average order", label_header="Month", labels=["Jan", "=SUM(A1)"],
            datasets=[Dataset(name="Members", values=[Decimal("12.50"), None], kind="money")],
            chart="bar",
        ),
        "tiers": Series(
            key="tiers", title="Tier mix", label_header="Tier", labels=["Silver", "Gold"],
            datasets=[Dataset(name="Members", values=[7, 2])], chart="doughnut",
        ),
        "rfm": Series(
            key="rfm", title="RFM grid", label_header="Recency", labels=["R5", "R4"],
            datasets=[Dataset(name="F1", values=[0, 4]), Dataset(name="F2", values=[8, 1])], chart="grid",
            extra={"groups": [["Champions", 8], ["Lost", 5]], "scored": 13},
        ),
    }


@pytest.fixture
def with_series(monkeypatch):
    monkeypatch.setattr("analytics.selectors.dashboard.dashboard_series", fake_series)


@pytest.fixture
def shop(users, member, store, other_store):
    """A few purchases this month (program zone) at two stores, and feedback."""
    now = timezone.now()
    buy(member, store, "40.00", external_id="A-1", at=now)
    buy(member, store, "20.00", external_id="A-2", at=now)
    buy(MemberFactory(), other_store, "10.00", external_id="B-1", at=now)
    Feedback.objects.create(member=member, score=10, comment="Great coffee", created_at=now)
    return users


def rows_of(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:])))


# -- who may see it ---------------------------------------------------------------


@pytest.mark.parametrize(("who", "status"), [
    ("owner", 200), ("manager", 200), ("marketing", 200), ("cashier", 403), ("member", 403),
])
def test_only_owner_manager_and_marketing_see_the_dashboard(users, who, status):
    assert client_for(users[who]).get(URL).status_code == status


def test_anonymous_is_sent_to_log_in(users):
    response = client_for(None).get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_a_cashier_gets_no_csv_either(users):
    assert client_for(users["cashier"]).get(URL + "?table=kpis").status_code == 403


def test_the_url_name_and_the_menu_and_landing_links(shop):
    assert reverse("staff:analytics") == URL
    client = client_for(shop["manager"])
    page = client.get(URL).content.decode()
    assert f'href="{URL}" aria-current="page"' in page  # the Analytics menu's "KPIs"
    assert f'href="{URL}"' in client.get(reverse("staff:dashboard")).content.decode()


# -- the period picker ---------------------------------------------------------------


@pytest.mark.parametrize(("preset", "today", "bounds"), [
    ("this-month", dt.date(2025, 1, 15), (dt.date(2025, 1, 1), dt.date(2025, 2, 1))),
    ("last-month", dt.date(2025, 1, 15), (dt.date(2024, 12, 1), dt.date(2025, 1, 1))),
    ("this-month", dt.date(2024, 12, 31), (dt.date(2024, 12, 1), dt.date(2025, 1, 1))),
    ("this-quarter", dt.date(2025, 1, 1), (dt.date(2025, 1, 1), dt.date(2025, 4, 1))),
    ("this-quarter", dt.date(2025, 11, 30), (dt.date(2025, 10, 1), dt.date(2026, 1, 1))),
    ("last-quarter", dt.date(2025, 1, 31), (dt.date(2024, 10, 1), dt.date(2025, 1, 1))),
    ("last-quarter", dt.date(2025, 5, 2), (dt.date(2025, 1, 1), dt.date(2025, 4, 1))),
    ("this-year", dt.date(2025, 6, 1), (dt.date(2025, 1, 1), dt.date(2026, 1, 1))),
    ("last-year", dt.date(2025, 1, 1), (dt.date(2024, 1, 1), dt.date(2025, 1, 1))),
])
def test_presets_give_the_period_start_to_end_exclusive(preset, today, bounds):
    assert preset_bounds(preset, today=today) == bounds
    form = DashboardPeriodForm({"period": preset}, today=today)
    assert form.is_valid(), form.errors
    assert (form.chosen.start, form.chosen.end) == bounds


def test_no_parameters_mean_this_month_at_all_stores():
    form = DashboardPeriodForm({}, today=dt.date(2025, 2, 10))
    assert form.is_valid()
    assert (form.chosen.start, form.chosen.end, form.chosen.store) == (dt.date(2025, 2, 1), dt.date(2025, 3, 1), None)


def test_today_is_the_programs_local_date(shop):
    # 31 December 23:30 UTC is already 1 January in Warsaw: "last quarter" is Q4 of the old year.
    with time_machine.travel(dt.datetime(2024, 12, 31, 23, 30, tzinfo=dt.UTC), tick=False):
        response = client_for(shop["manager"]).get(URL, {"period": "last-quarter"})
    period = response.context["period"]
    assert (period.start, period.end) == (dt.date(2024, 10, 1), dt.date(2025, 1, 1))
    assert response.context["today"] == dt.date(2025, 1, 1)


def test_custom_dates_include_the_last_day(shop):
    response = client_for(shop["manager"]).get(URL, {"period": "custom", "start": "2025-02-01", "end": "2025-02-28"})
    assert response.status_code == 200
    period = response.context["period"]
    assert (period.start, period.end) == (dt.date(2025, 2, 1), dt.date(2025, 3, 1))
    assert response.context["previous_start"] == dt.date(2025, 1, 4)  # 28 days before
    assert response.context["previous_last_day"] == dt.date(2025, 1, 31)


def test_custom_dates_are_ignored_for_a_preset(shop):
    with time_machine.travel(dt.datetime(2025, 3, 10, 12, tzinfo=WARSAW), tick=False):
        response = client_for(shop["manager"]).get(URL, {"period": "last-month", "start": "junk"})
    # "start" is still validated as a date, so junk is named even when unused.
    assert response.status_code == 400
    assert "start" in response.context["form"].errors


@pytest.mark.parametrize(("params", "field", "message"), [
    ({"period": "custom", "start": "2025-13-01", "end": "2025-02-01"}, "start", "Enter a valid date."),
    ({"period": "custom", "start": "2025-02-01"}, "end", "Enter the last day of the period."),
    ({"period": "custom", "end": "2025-02-01"}, "start", "Enter the first day of the period."),
    ({"period": "custom", "start": "2025-02-10", "end": "2025-02-01"}, "end", "The last day is before the first day."),
    ({"period": "custom", "start": "1900-01-01", "end": "1900-02-01"}, "start", "The period cannot start before 1970."),
    ({"period": "custom", "start": "2000-01-01", "end": "2020-01-01"}, "end", "at most ten years"),
    ({"period": "custom", "start": "9999-12-25", "end": "9999-12-31"}, "end", "The period cannot end after 9998."),
    ({"period": "fortnight"}, "period", "Select a valid choice."),
    ({"store": "999999"}, "store", "Select a valid choice."),
])
def test_bad_input_names_the_field_and_computes_nothing(shop, monkeypatch, params, field, message):
    def refuse(**kwargs):
        raise AssertionError("nothing may be computed for bad input")

    monkeypatch.setattr("analytics.selectors.dashboard.kpis_compute", refuse)
    response = client_for(shop["manager"]).get(URL, params)
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert list(errors) == [field]
    assert message in " ".join(errors[field])
    page = response.content.decode()
    assert "Nothing was computed" in page
    assert 'data-kpi="' not in page
    assert message.replace("'", "&#x27;") in page


def test_bad_input_gives_no_csv(shop):
    response = client_for(shop["manager"]).get(URL, {"period": "custom", "start": "x", "table": "kpis"})
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


# -- the KPIs ---------------------------------------------------------------------------


def test_each_kpi_shown_equals_kpis_compute(shop, store):
    client = client_for(shop["manager"])
    response = client.get(URL, {"period": "this-month", "store": store.pk})
    assert response.status_code == 200
    period = response.context["period"]
    report = kpis_compute(start=period.start, end=period.end, store=store)
    cards = {card.name: card for card in response.context["cards"]}
    assert list(cards) == list(KPI_NAMES)
    for name in KPI_NAMES:
        assert cards[name].value == report.kpis[name], name
        assert cards[name].previous == report.previous.kpis[name], name
    assert cards["active_members"].value == 1
    assert cards["aov_members"].value == Decimal("30.00")
    page = response.content.decode()
    assert money_format(Decimal("30.00"), "PLN") in page  # Babel, in the program currency
    assert "Warsaw Centre" in page


def test_kpis_are_formatted_by_kind_with_their_change(shop):
    client = client_for(shop["manager"])
    cards = {card.name: card for card in client.get(URL).context["cards"]}
    assert cards["active_members"].text == "2"
    assert cards["active_members"].change_text == "+2"
    assert cards["active_members"].direction == "up"
    assert cards["repeat_purchase_rate"].text == "50.0%"
    assert cards["repeat_purchase_rate"].previous_text == ""  # nobody bought before: no rate
    assert cards["repeat_purchase_rate"].change_text == ""
    assert cards["nps"].text == "100"
    page = client.get(URL).content.decode()
    assert 'role="img" aria-label="Up"' in page
    assert "+2 against 0" in page


def test_a_rate_changes_in_percentage_points(shop):
    from analytics.kpis import KpiReport

    report = kpis_compute(start=dt.date(2025, 1, 1), end=dt.date(2025, 2, 1))
    now = dict(report.kpis, retention_rate=0.5, points_liability=Decimal("10.00"), nps=20.0)
    before = dict(report.kpis, retention_rate=0.625, points_liability=Decimal("12.50"), nps=-5.0)
    built = KpiReport(
        scope=report.scope, currency="PLN", kpis=now, clv=report.clv,
        previous=KpiReport(scope=report.previous.scope, currency="PLN", kpis=before, clv=report.clv),
    )
    cards = {card.name: card for card in kpi_cards(built)}
    assert cards["retention_rate"].change_text == "\u221212.5 pp"
    assert cards["retention_rate"].direction == "down"
    assert cards["points_liability"].change_text == "\u2212" + money_format(Decimal("2.50"), "PLN")
    assert cards["nps"].change_text == "+25"


def test_the_page_speaks_polish(shop):
    client = client_for(shop["manager"])
    response = client.get(URL, HTTP_ACCEPT_LANGUAGE="pl")
    cards = {card.name: card for card in response.context["cards"]}
    assert cards["repeat_purchase_rate"].text == "50,0%"
    assert cards["aov_members"].text.endswith("zł")


# -- the cache ------------------------------------------------------------------------


def test_a_warm_request_reads_the_cache_in_few_queries(shop, django_assert_max_num_queries):
    client = client_for(shop["manager"])
    assert client.get(URL).status_code == 200  # computes and caches
    # Session and user (2), data_version (7: six tables and the program), the store choices (1);
    # the KPI report and every series come from the cache.
    with django_assert_max_num_queries(10):
        response = client.get(URL)
    assert response.status_code == 200
    keys = [chart.series.key for chart in response.context["charts"]]
    assert {"members", "purchases", "points", "liability", "tiers", "rfm", "nps", "comments"} <= set(keys)


def test_a_warm_request_computes_nothing(shop, monkeypatch):
    client = client_for(shop["manager"])
    client.get(URL)

    def refuse(**kwargs):
        raise AssertionError("the cached report should have been used")

    monkeypatch.setattr("analytics.selectors.dashboard.kpis_compute", refuse)
    assert client.get(URL).status_code == 200


def test_the_page_says_when_its_figures_were_computed(shop, time_machine):
    time_machine.move_to(dt.datetime(2026, 11, 20, 9, 15, tzinfo=dt.UTC), tick=False)
    client = client_for(shop["manager"])
    client.get(URL)  # computed now: 10:15 in Warsaw
    time_machine.move_to(dt.datetime(2026, 11, 20, 9, 15, 30, tzinfo=dt.UTC), tick=False)
    page = client.get(URL).content.decode()  # served from the cache
    assert "Figures as of" in page and "10:15" in page


@pytest.mark.parametrize("period", ["this-month", "last-month"])
def test_the_warm_up_task_computes_the_usual_pages_ahead_of_staff(shop, monkeypatch, period):
    from analytics.tasks import warm_dashboard

    assert warm_dashboard.delay().get() == 6  # this month and last month, in en, pl and ro

    def refuse(**kwargs):
        raise AssertionError("the warmed page should have been used")

    monkeypatch.setattr("analytics.selectors.dashboard.kpis_compute", refuse)
    monkeypatch.setattr("analytics.selectors.dashboard.dashboard_series", refuse)
    for language in ("en", "pl"):
        response = client_for(shop["manager"]).get(URL, {"period": period}, HTTP_ACCEPT_LANGUAGE=language)
        assert response.status_code == 200 and response["Content-Language"] == language


def test_a_new_purchase_shows_once_the_figures_may_no_longer_be_stale(shop, store, settings):
    settings.ANALYTICS_STALE_SECONDS = 0  # the window is tested in tests/analytics/test_cache.py
    client = client_for(shop["manager"])
    before = {card.name: card.value for card in client.get(URL).context["cards"]}
    buy(MemberFactory(), store, "50.00", external_id="A-NEW", at=timezone.now())
    after = {card.name: card.value for card in client.get(URL).context["cards"]}
    assert after["active_members"] == before["active_members"] + 1


def test_new_feedback_shows_once_the_figures_may_no_longer_be_stale(shop, member, settings):
    settings.ANALYTICS_STALE_SECONDS = 0
    client = client_for(shop["manager"])
    assert {card.name: card.value for card in client.get(URL).context["cards"]}["nps"] == 100
    Feedback.objects.create(member=member, score=0, comment="", created_at=timezone.now())
    assert {card.name: card.value for card in client.get(URL).context["cards"]}["nps"] == 0


# -- charts and tables --------------------------------------------------------------------


def test_each_series_is_a_chart_beside_a_table(shop, with_series):
    page = client_for(shop["manager"]).get(URL, {"period": "last-month"}).content.decode()
    assert '<canvas id="chart-members-canvas" role="img" data-chart="chart-members-data"' in page
    assert 'aria-label="Members over time: a chart; its numbers are in the table below it."' in page
    assert '<script id="chart-members-data" type="application/json">' in page
    assert '"type": "line"' in page and '"labels": ["Jan", "Feb"]' in page
    assert "<caption>Members over time</caption>" in page
    assert '<th scope="col">Month</th>' in page and '<th scope="row">Jan</th>' in page
    assert "Counted at each month&#x27;s end." in page
    assert 'href="?period=last-month&amp;table=members"' in page
    assert "vendor/chartjs/chart.umd.min.js" in page and "js/analytics-charts.js" in page


def test_an_empty_table_cell_is_read_out_as_no_data(shop, with_series):
    page = client_for(shop["manager"]).get(URL).content.decode()
    empty = '<span aria-hidden="true">–</span><span class="visually-hidden">no data</span>'
    members = page.split('data-table="members"')[1].split("</table>")[0]
    assert members.count(empty) == 1  # "Active" in February
    kpi_table = page.split("Each KPI in this period and the previous one")[1].split("</table>")[0]
    assert empty in kpi_table
    assert '>–</td>' not in page


def test_the_rfm_grid_is_a_heat_map_table_without_a_canvas(shop, with_series):
    page = client_for(shop["manager"]).get(URL).content.decode()
    assert 'id="chart-rfm-canvas"' not in page
    assert 'class="table table-sm align-middle heat-grid text-center" data-table="rfm"' in page
    assert 'style="background-color: #08519c; color: #fff">8</td>' in page  # the largest cell is darkest
    assert 'style="background-color: #f7fbff; color: #000">0</td>' in page
    # The named groups follow the grid as a bar chart of their own.
    assert '<canvas id="chart-rfm-groups-canvas" role="img"' in page
    assert rows_of(client_for(shop["manager"]).get(URL, {"table": "rfm-groups"})) == [
        ["Group", "Members"], ["Champions", "8"], ["Lost", "5"],
    ]


def test_the_real_series_render_with_the_rfm_grid_and_comments(shop, member):
    run = ScoreRun.objects.create(as_of=timezone.now(), status=ScoreRun.Status.DONE)
    MemberScore.objects.create(member=member, run=run, r_score=5, f_score=2, m_score=3, rfm_group=RfmGroup.CHAMPIONS)
    response = client_for(shop["manager"]).get(URL)
    keys = [chart.series.key for chart in response.context["charts"]]
    assert keys[-4:] == ["rfm", "rfm-groups", "nps", "comments"]
    assert "members" in keys and "tiers" in keys
    page = response.content.decode()
    for chart in response.context["charts"]:
        if chart.series.chart in ("grid", "table"):
            assert f'id="{chart.dom_id}-canvas"' not in page
        else:
            assert f'<canvas id="{chart.dom_id}-canvas" role="img"' in page
            assert f'<script id="{chart.data_id}" type="application/json">' in page
        assert f">{chart.series.title}</caption>" in page
    grid = next(chart for chart in response.context["charts"] if chart.series.key == "rfm")
    names = [name for name, _numeric in grid.table_header[1:]]
    first = dict(zip(names, grid.table_rows[0][1], strict=True))  # recency 5
    assert first["Frequency 2"]["text"] == "1" and first["Frequency 2"]["background"] == "#08519c"
    assert "Recent comments" in page
    assert '<td>Great coffee</td>' in page  # text is not aligned as a number


# -- CSV --------------------------------------------------------------------------------------


def test_the_kpi_table_downloads_as_csv(shop):
    client = client_for(shop["manager"])
    response = client.get(URL, {"period": "custom", "start": "2025-01-01", "end": "2025-01-31", "table": "kpis"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="kpis_2025-01-01_2025-01-31.csv"'
    rows = rows_of(response)
    assert rows[0] == ["KPI", "Value", "Previous value", "Change"]
    assert len(rows) == 1 + len(KPI_NAMES)
    assert rows[1] == ["Members", "0", "0", "0"]


def test_this_months_kpi_csv_has_the_figures(shop, store):
    response = client_for(shop["manager"]).get(URL, {"store": store.pk, "table": "kpis"})
    rows = {row[0]: row[1:] for row in rows_of(response)}
    assert rows["Active members"] == ["1", "0", "1"]
    assert rows["Average order, members"] == ["30.00", "", ""]
    assert rows["Repeat purchase rate"] == ["1.0", "", ""]
    assert response["Content-Disposition"].endswith(f'_{store.code}.csv"')


def test_a_series_downloads_its_table(shop, with_series):
    response = client_for(shop["marketing"]).get(URL, {"period": "this-year", "table": "aov"})
    assert response.status_code == 200
    assert rows_of(response) == [["Month", "Members"], ["Jan", "12.50"], ["'=SUM(A1)", ""]]
    grid = client_for(shop["marketing"]).get(URL, {"table": "rfm"})
    assert rows_of(grid) == [["Recency", "F1", "F2"], ["R5", "0", "8"], ["R4", "4", "1"]]


def test_a_series_csv_gives_rates_and_scores_as_the_kpi_csv_does(shop, member):
    # 1 promoter and 2 passives: NPS 33.3333..., not the float's 17 digits.
    now = timezone.now()
    Feedback.objects.create(member=member, score=8, created_at=now)
    Feedback.objects.create(member=member, score=7, created_at=now)
    rows = rows_of(client_for(shop["manager"]).get(URL, {"period": "this-month", "table": "nps"}))
    scores = [row[1] for row in rows[1:] if row[1]]
    assert scores == ["33.333333"]


def test_an_unknown_table_is_not_found(shop, with_series):
    assert client_for(shop["manager"]).get(URL, {"table": "nope"}).status_code == 404
