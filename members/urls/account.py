"""``/me/`` routes of the member's account: claim, profile, consent, language
(joined into the ``me`` namespace by ``members.urls.portal``)."""

urlpatterns: list = []
