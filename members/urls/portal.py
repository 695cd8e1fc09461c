"""``/me/``: a member's own data only (the manifest alone is public, and holds nothing personal)."""

from django.urls import path

from loyalty.views import portal_tiers
from loyalty.views.portal_stamps import StampsView
from members.urls.account import urlpatterns as account_urlpatterns
from members.views import portal
from rewards.views import portal as rewards_portal

app_name = "me"

urlpatterns = [
    path("", portal.HomeView.as_view(), name="home"),
    path("card/", portal.CardView.as_view(), name="card"),
    path("stamps/", StampsView.as_view(), name="stamps"),
    path("tier/", portal_tiers.TierView.as_view(), name="tier"),
    path("manifest.webmanifest", portal.manifest, name="manifest"),
    path("history/", portal.HistoryView.as_view(), name="history"),
    path("rewards/", rewards_portal.RewardListView.as_view(), name="rewards"),
    path("rewards/<slug:code>/", rewards_portal.RewardView.as_view(), name="reward"),
    path("vouchers/", rewards_portal.VoucherListView.as_view(), name="vouchers"),
    path("vouchers/<str:code>/", rewards_portal.VoucherView.as_view(), name="voucher"),
    path("purchases/<int:pk>/", portal.PurchaseDetailView.as_view(), name="purchase-detail"),
    path("privacy/", portal.PrivacyView.as_view(), name="privacy"),
    path("privacy/my-data.json", portal.ExportJsonView.as_view(), name="export-json"),
    path("privacy/my-data.zip", portal.ExportCsvView.as_view(), name="export-csv"),
    path("privacy/delete/", portal.DeleteAccountView.as_view(), name="delete-account"),
    path("feedback/", portal.FeedbackView.as_view(), name="feedback"),
    *account_urlpatterns,
]
