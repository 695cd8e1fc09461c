"""``/me/``: the member's own balances, history and account.

Every query is filtered by the logged-in member, so another member's
purchase is a 404, never a 403 that would confirm it exists.
"""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404
from django.views.generic import TemplateView

from loyalty.selectors import (
    balances_get,
    ledger_list_for_member,
    next_expiry_get,
    program_get_or_none,
    purchase_list_for_member,
)
from members.permissions import MemberRequired

HISTORY_PAGE_SIZE = 20


class PortalPage(MemberRequired):
    section = ""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(member=self.member, section=self.section)
        return context


class HomeView(PortalPage, TemplateView):
    template_name = "me/home.html"
    section = "home"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        program = program_get_or_none()
        context.update(
            balances=balances_get(member=self.member),
            next_expiry=next_expiry_get(member=self.member, tz=program.tz) if program else None,
            recent_entries=list(ledger_list_for_member(member=self.member)[:5]),
        )
        return context


class HistoryView(PortalPage, TemplateView):
    template_name = "me/history.html"
    section = "history"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        paginator = Paginator(ledger_list_for_member(member=self.member), HISTORY_PAGE_SIZE)
        context["entries_page"] = paginator.get_page(self.request.GET.get("page"))
        return context


class PurchaseDetailView(PortalPage, TemplateView):
    template_name = "me/purchase_detail.html"
    section = "history"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        purchases = purchase_list_for_member(member=self.member).select_related("lot").prefetch_related("refunds")
        purchase = get_object_or_404(purchases, pk=self.kwargs["pk"])
        context["purchase"] = purchase
        return context
