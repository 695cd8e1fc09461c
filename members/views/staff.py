"""``/staff/members/``: search, detail with balances, lots and ledger, and
manual adjustments (owner and manager); ``/staff/deliveries/``: the delivery log."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import ngettext
from django.views.generic import ListView, TemplateView, View

from analytics.selectors.scores import member_score_get
from loyalty.forms.bonuses import ReviewMarkForm
from loyalty.forms.staff import PointsAdjustForm
from loyalty.forms.tiers import VipFeeForm
from loyalty.selectors import (
    ledger_list_for_member,
    lot_list_for_member,
    program_get_or_none,
    program_region,
    till_action_list_for_member,
)
from loyalty.selectors.tiers import tier_progress_get
from loyalty.services.ledger import points_adjust
from loyalty.services.tiers import tier_table
from loyalty.views.staff import StaffPage
from members.exceptions import LoyaltyError
from members.forms import MemberSearchForm, form_add_service_error
from members.messaging.forms import DeliveryFilterForm
from members.messaging.selectors import delivery_list_for_staff
from members.permissions import ADMIN_ROLES, user_can_adjust
from members.selectors import consent_history_for_member, member_get_for_staff, member_list_for_staff
from rewards.selectors.vouchers import voucher_list_for_staff

LEDGER_PAGE_SIZE = 25
LOTS_PAGE_SIZE = 10
RECENT = 10


class MemberListView(StaffPage, ListView):
    template_name = "staff/member_list.html"
    section = "members"
    paginate_by = 25
    context_object_name = "members"

    def get_queryset(self):
        self.search_form = MemberSearchForm(self.request.GET or None)
        query = self.search_form.cleaned_data["q"] if self.search_form.is_valid() else ""
        return member_list_for_staff(query=query, region=program_region())

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(search_form=self.search_form, **kwargs)


class MemberDetailView(StaffPage, TemplateView):
    template_name = "staff/member_detail.html"
    section = "members"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.adjust_form = self.vip_fee_form = None
        self.review_form = None
        return super().dispatch(request, *args, **kwargs)

    def get_member(self):
        member = member_get_for_staff(pk=self.kwargs["pk"])
        if member is None:
            raise Http404
        return member

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        member = self.get_member()
        entries = Paginator(ledger_list_for_member(member=member), LEDGER_PAGE_SIZE)
        lots = Paginator(lot_list_for_member(member=member), LOTS_PAGE_SIZE)
        context.update(
            member=member,
            consent_history=consent_history_for_member(member=member)[:RECENT],
            deliveries=delivery_list_for_staff(member=member)[:RECENT],
            till_actions=till_action_list_for_member(member=member)[:RECENT],
            entries_page=entries.get_page(self.request.GET.get("page")),
            lots_page=lots.get_page(self.request.GET.get("lots")),
            can_adjust=user_can_adjust(self.request.user),
        )
        if context["can_adjust"]:
            context["adjust_form"] = self.adjust_form or PointsAdjustForm()
        # Tiers: the member's tier, progress and history; the paid-tier fee form when a paid tier is for sale.
        program = program_get_or_none()
        context["tier_progress"] = (
            tier_progress_get(member=member, program=program, now=timezone.now()) if program else None
        )
        if context["can_adjust"] and any(tier.is_paid and not tier.archived for tier in tier_table().tiers):
            context["vip_fee_form"] = self.vip_fee_form or VipFeeForm()
        context["review_form"] = self.review_form or ReviewMarkForm()
        # Analytics: the RFM group and CLV prediction of the last nightly scoring.
        context["member_score"] = member_score_get(member=member)
        # Vouchers: the latest, with their state; owner and manager may cancel (points go back).
        context["member_vouchers"] = list(voucher_list_for_staff(member=member)[:RECENT])
        context["can_cancel_vouchers"] = context["can_adjust"]
        return context


class MemberAdjustView(MemberDetailView, View):
    """POST only: the adjustment form of the member page; errors are shown on it."""

    roles = ADMIN_ROLES
    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        member = self.get_member()
        form = PointsAdjustForm(request.POST)
        if form.is_valid():
            try:
                entry = points_adjust(
                    member=member, points=form.cleaned_data["points"], reason=form.cleaned_data["reason"],
                    actor=request.user, idempotency_key=f"staff-adjust:{form.cleaned_data['idempotency_key']}",
                )
            except LoyaltyError as error:
                form_add_service_error(form, error, fields={"idempotency_key": None})
            else:
                messages.success(
                    request,
                    ngettext(
                        "Adjustment of %(points)+d point recorded.",
                        "Adjustment of %(points)+d points recorded.",
                        abs(entry.points),
                    ) % {"points": entry.points},
                )
                return redirect("staff:member-detail", pk=member.pk)
        self.adjust_form = form
        return self.render_to_response(self.get_context_data(**kwargs))


class DeliveryListView(StaffPage, ListView):
    """The delivery log: every message to members, with the body of those that
    no backend sent (for staff to pass on)."""

    template_name = "staff/delivery_list.html"
    section = "deliveries"
    paginate_by = 50
    context_object_name = "deliveries"

    def get_queryset(self):
        self.filter_form = DeliveryFilterForm(self.request.GET or None)
        filters = self.filter_form.cleaned_data if self.filter_form.is_valid() else {}
        return delivery_list_for_staff(
            channel=filters.get("channel", ""), status=filters.get("status", ""), query=filters.get("q", "")
        )

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(filter_form=self.filter_form, **kwargs)
