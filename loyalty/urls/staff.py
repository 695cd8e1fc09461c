"""``/staff/``: owner, manager and marketing (each view checks its roles)."""

from django.urls import path

from analytics.urls import urlpatterns as analytics_urlpatterns
from loyalty.views import staff, staff_bonuses, staff_rules, staff_tiers
from members.views import staff as member_staff
from rewards.views import staff_catalog, staff_vouchers

app_name = "staff"

urlpatterns = [
    path("", staff.DashboardView.as_view(), name="dashboard"),
    path("program/", staff.ProgramEditView.as_view(), name="program"),
    path("stores/", staff.StoreListView.as_view(), name="stores"),
    path("stores/new/", staff.StoreEditView.as_view(), name="store-create"),
    path("stores/<int:pk>/", staff.StoreEditView.as_view(), name="store-edit"),
    path("purchases/", staff.PurchaseListView.as_view(), name="purchases"),
    path("rules/", staff_rules.RuleListView.as_view(), name="rules"),
    path("rules/new/", staff_rules.RuleEditView.as_view(), name="rule-create"),
    path("rules/simulate/", staff_rules.SimulateView.as_view(), name="rule-simulate"),
    path("rules/<int:pk>/", staff_rules.RuleEditView.as_view(), name="rule-edit"),
    path("rules/<int:pk>/pause/", staff_rules.RuleActionView.as_view(action="pause"), name="rule-pause"),
    path("rules/<int:pk>/resume/", staff_rules.RuleActionView.as_view(action="resume"), name="rule-resume"),
    path("rules/<int:pk>/archive/", staff_rules.RuleActionView.as_view(action="archive"), name="rule-archive"),
    path("rules/<int:pk>/copy/", staff_rules.RuleActionView.as_view(action="copy"), name="rule-copy"),
    path("tiers/", staff_tiers.TierListView.as_view(), name="tiers"),
    path("tiers/new/", staff_tiers.TierEditView.as_view(), name="tier-create"),
    path("tiers/near/", staff_tiers.TierNearView.as_view(), name="tiers-near"),
    path("tiers/<int:pk>/", staff_tiers.TierEditView.as_view(), name="tier-edit"),
    path("tiers/<int:pk>/archive/", staff_tiers.TierArchiveView.as_view(), name="tier-archive"),
    path("tiers/<int:pk>/restore/", staff_tiers.TierArchiveView.as_view(restore=True), name="tier-restore"),
    path("members/", member_staff.MemberListView.as_view(), name="members"),
    path("members/<int:pk>/", member_staff.MemberDetailView.as_view(), name="member-detail"),
    path("members/<int:pk>/adjust/", member_staff.MemberAdjustView.as_view(), name="member-adjust"),
    path("members/<int:pk>/vip-fee/", staff_tiers.MemberVipFeeView.as_view(), name="member-vip-fee"),
    path("members/<int:pk>/review/", staff_bonuses.MemberReviewMarkView.as_view(), name="member-review"),
    path("bonuses/", staff_bonuses.ActionBonusesView.as_view(), name="bonuses"),
    path("deliveries/", member_staff.DeliveryListView.as_view(), name="deliveries"),
    # The catalog: rewards and charities by code ("new" and "charities" are not reward codes).
    path("rewards/", staff_catalog.RewardListView.as_view(), name="rewards"),
    path("rewards/new/", staff_catalog.RewardEditView.as_view(), name="reward-create"),
    path("rewards/charities/", staff_catalog.CharityListView.as_view(), name="charities"),
    path("rewards/charities/new/", staff_catalog.CharityEditView.as_view(), name="charity-create"),
    path("rewards/charities/<slug:code>/", staff_catalog.CharityEditView.as_view(), name="charity-edit"),
    path("rewards/<slug:code>/", staff_catalog.RewardEditView.as_view(), name="reward-edit"),
    path("rewards/<slug:code>/archive/", staff_catalog.RewardArchiveView.as_view(), name="reward-archive"),
    path(
        "rewards/<slug:code>/restore/", staff_catalog.RewardArchiveView.as_view(restore=True), name="reward-restore"
    ),
    path("rewards/<slug:code>/codes/", staff_catalog.RewardCodesView.as_view(), name="reward-codes"),
    # Vouchers by their code (any typed form; sent on to the stored one); campaigns are staff-internal: by id.
    path("vouchers/", staff_vouchers.VoucherListView.as_view(), name="vouchers"),
    path("vouchers/<str:code>/", staff_vouchers.VoucherDetailView.as_view(), name="voucher"),
    path("vouchers/<str:code>/cancel/", staff_vouchers.VoucherCancelView.as_view(), name="voucher-cancel"),
    path("campaigns/", staff_vouchers.CampaignListView.as_view(), name="campaigns"),
    path("campaigns/new/", staff_vouchers.CampaignCreateView.as_view(), name="campaign-create"),
    path("campaigns/<int:pk>/", staff_vouchers.CampaignDetailView.as_view(), name="campaign"),
    path("campaigns/<int:pk>/issue/", staff_vouchers.CampaignIssueView.as_view(), name="campaign-issue"),
]

urlpatterns += analytics_urlpatterns
