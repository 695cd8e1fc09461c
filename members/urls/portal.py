"""``/me/``: a member's own data only."""

from django.urls import path

from members.urls.account import urlpatterns as account_urlpatterns
from members.views import portal

app_name = "me"

urlpatterns = [
    path("", portal.HomeView.as_view(), name="home"),
    path("history/", portal.HistoryView.as_view(), name="history"),
    path("purchases/<int:pk>/", portal.PurchaseDetailView.as_view(), name="purchase-detail"),
    *account_urlpatterns,
]
