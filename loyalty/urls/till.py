"""``/till/``: cashiers (and owners, managers) at a store they are assigned to."""

from django.urls import path

from loyalty.views import till

app_name = "till"

urlpatterns = [
    path("", till.SearchView.as_view(), name="search"),
    path("store/", till.StoreSelectView.as_view(), name="store-select"),
    path("enroll/", till.EnrollView.as_view(), name="enroll"),
    path("undo/", till.UndoView.as_view(), name="undo"),
    path("members/<str:card>/", till.MemberView.as_view(), name="member"),
    path("members/<str:card>/purchase/", till.PurchaseCreateView.as_view(), name="purchase-create"),
    path("members/<str:card>/purchases/<int:pk>/", till.PurchaseDoneView.as_view(), name="purchase-done"),
    path("members/<str:card>/refund/", till.RefundCreateView.as_view(), name="refund-create"),
    path("members/<str:card>/refunds/<int:pk>/", till.RefundDoneView.as_view(), name="refund-done"),
    path("members/<str:card>/card/", till.CardPrintView.as_view(), name="card-print"),
    path("members/<str:card>/card/attach/", till.CardAttachView.as_view(), name="card-attach"),
    path("members/<str:card>/claim/", till.ClaimSendView.as_view(), name="claim-send"),
]
