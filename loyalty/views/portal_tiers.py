"""``/me/tier/``: the member's tier, its benefits, the way to the next one,
what keeps the current one, and the tier history."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from django.views.generic import TemplateView

from loyalty.selectors import program_get_or_none
from loyalty.selectors.tiers import tier_history_text, tier_progress_get
from members.views.portal import PortalPage


class TierView(PortalPage, TemplateView):
    template_name = "me/tier.html"
    section = "tier"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        program = program_get_or_none()
        progress = tier_progress_get(member=self.member, program=program, now=timezone.now()) if program else None
        context.update(
            progress=progress,
            history=[(change, tier_history_text(change)) for change in progress.history] if progress else [],
        )
        return context
