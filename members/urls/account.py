"""``/me/`` routes of the member's account: claim, profile, consent, language
(joined into the ``me`` namespace by ``members.urls.portal``)."""

from django.urls import path

from members.views import account

urlpatterns = [
    path("account/", account.AccountView.as_view(), name="account"),
    path("account/profile/", account.ProfileView.as_view(), name="profile"),
    path("account/consent/", account.ConsentView.as_view(), name="consent"),
    path("claim/", account.ClaimStartView.as_view(), name="claim-start"),
    path("claim/<str:token>/", account.ClaimView.as_view(), name="claim"),
]
