"""Analytics pages of ``/staff/`` (owner, manager, marketing): the dashboard,
segments, exports and the what-if simulator. Served in the ``staff``
namespace (``loyalty.urls.staff`` adds these patterns), so their names read
``staff:<name>``."""

from django.urls import path

from analytics.views import dashboard, exports

urlpatterns: list = [
    path("analytics/", dashboard.AnalyticsDashboardView.as_view(), name="analytics"),
    path("analytics/exports/", exports.ExportsView.as_view(), name="exports"),
]
