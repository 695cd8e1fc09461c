"""``/me/stamps/``: the member's stamp cards, drawn as stamps."""

from __future__ import annotations

from typing import Any

from django.views.generic import TemplateView

from loyalty.selectors.rules import stamp_card_list_for_member
from members.views.portal import PortalPage


class StampsView(PortalPage, TemplateView):
    template_name = "me/stamps.html"
    section = "home"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(stamp_cards=stamp_card_list_for_member(member=self.member), **kwargs)
