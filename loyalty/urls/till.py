"""``/till/``: cashiers (and owners, managers) at a store they are assigned to."""

from django.urls import path

from loyalty.views import till

app_name = "till"

urlpatterns = [
    path("", till.SearchView.as_view(), name="search"),
    path("store/", till.StoreSelectView.as_view(), name="store-select"),
    path("members/<str:card>/", till.MemberView.as_view(), name="member"),
    path("members/<str:card>/purchase/", till.PurchaseCreateView.as_view(), name="purchase-create"),
    path("members/<str:card>/purchases/<int:pk>/", till.PurchaseDoneView.as_view(), name="purchase-done"),
    path("members/<str:card>/refund/", till.RefundCreateView.as_view(), name="refund-create"),
    path("members/<str:card>/refunds/<int:pk>/", till.RefundDoneView.as_view(), name="refund-done"),
]
