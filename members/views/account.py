"""``/me/account/``: the member's details, sign-in, consent and language."""

from __future__ import annotations

from django.views.generic import TemplateView

from members.views.portal import PortalPage


class AccountView(PortalPage, TemplateView):
    template_name = "me/account.html"
    section = "account"
