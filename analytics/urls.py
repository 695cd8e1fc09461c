"""Analytics pages of ``/staff/`` (owner, manager, marketing): the dashboard,
segments, exports and the what-if simulator. Served in the ``staff``
namespace (``loyalty.urls.staff`` adds these patterns), so their names read
``staff:<name>``."""

from django.urls import path

from analytics.views import dashboard, exports
from analytics.views import segments as segment_views
from analytics.views import whatif as whatif_views

urlpatterns: list = [
    path("analytics/", dashboard.AnalyticsDashboardView.as_view(), name="analytics"),
    path("analytics/exports/", exports.ExportsView.as_view(), name="exports"),
    path("analytics/segments/", segment_views.SegmentListView.as_view(), name="segments"),
    path("analytics/segments/new/", segment_views.SegmentEditView.as_view(), name="segment-create"),
    path("analytics/segments/count/", segment_views.SegmentCountView.as_view(), name="segment-count"),
    path("analytics/segments/<int:pk>/", segment_views.SegmentMembersView.as_view(), name="segment-members"),
    path("analytics/segments/<int:pk>/edit/", segment_views.SegmentEditView.as_view(), name="segment-edit"),
    path("analytics/segments/<int:pk>/export/", segment_views.SegmentExportView.as_view(), name="segment-export"),
    path("analytics/segments/<int:pk>/archive/", segment_views.SegmentArchiveView.as_view(), name="segment-archive"),
    path("analytics/segments/<int:pk>/restore/", segment_views.SegmentRestoreView.as_view(), name="segment-restore"),
    path("analytics/what-if/", whatif_views.WhatIfView.as_view(), name="what-if"),
    path("analytics/what-if/<int:pk>/", whatif_views.WhatIfDetailView.as_view(), name="what-if-detail"),
    path("analytics/what-if/<int:pk>/csv/", whatif_views.WhatIfCsvView.as_view(), name="what-if-csv"),
]
