"""``/till/``: cashiers (and owners, managers) at a store they are assigned to."""

from django.urls import path

from loyalty.views.till import enrollment, sales, search, undo, vip
from rewards.views import till as rewards_till

app_name = "till"

urlpatterns = [
    path("", search.SearchView.as_view(), name="search"),
    path("store/", search.StoreSelectView.as_view(), name="store-select"),
    path("enroll/", enrollment.EnrollView.as_view(), name="enroll"),
    path("undo/", undo.UndoView.as_view(), name="undo"),
    # Vouchers: the box posts here; no usable voucher's code is ever in an address.
    path("scan/", rewards_till.ScanView.as_view(), name="scan"),
    path("vouchers/use/", rewards_till.VoucherUseView.as_view(), name="voucher-use"),
    path("vouchers/<str:code>/used/", rewards_till.VoucherUsedView.as_view(), name="voucher-used"),
    path("members/<str:card>/", sales.MemberView.as_view(), name="member"),
    path("members/<str:card>/purchase/", sales.PurchaseCreateView.as_view(), name="purchase-create"),
    path("members/<str:card>/preview/", sales.PurchasePreviewView.as_view(), name="purchase-preview"),
    path("members/<str:card>/purchases/<int:pk>/", sales.PurchaseDoneView.as_view(), name="purchase-done"),
    path("members/<str:card>/refund/", sales.RefundCreateView.as_view(), name="refund-create"),
    path("members/<str:card>/refunds/<int:pk>/", sales.RefundDoneView.as_view(), name="refund-done"),
    path("members/<str:card>/vip/", vip.VipFeeView.as_view(), name="vip-fee"),
    path("members/<str:card>/vip/<int:pk>/", vip.VipFeeDoneView.as_view(), name="vip-done"),
    path("members/<str:card>/card/", enrollment.CardPrintView.as_view(), name="card-print"),
    path("members/<str:card>/card/attach/", enrollment.CardAttachView.as_view(), name="card-attach"),
    path("members/<str:card>/claim/", enrollment.ClaimSendView.as_view(), name="claim-send"),
    path("members/<str:card>/rewards/", rewards_till.RedeemListView.as_view(), name="redeem"),
    path("members/<str:card>/rewards/<slug:reward>/", rewards_till.RedeemConfirmView.as_view(), name="redeem-confirm"),
    path(
        "members/<str:card>/rewards/<slug:reward>/redeemed/", rewards_till.RedeemDoneView.as_view(),
        name="redeem-done",
    ),
]
