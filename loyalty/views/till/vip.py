"""Take a paid-tier fee at the till: the tier, the receipt number, done."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.generic import TemplateView

from loyalty.forms.tiers import TillVipFeeForm, paid_tiers
from loyalty.models import VipFee
from loyalty.selectors import program_get_or_none
from loyalty.selectors.tiers import tier_progress_get
from loyalty.services.till import till_vip_fee_record
from loyalty.views.till.base import SERVICE_FIELDS, TillPage, focus_first_error
from members.exceptions import LoyaltyError
from members.forms import form_add_service_error
from members.selectors import member_get_by_card


class VipFeeView(TillPage, TemplateView):
    """GET: the paid tiers and the receipt box; POST: take the fee."""

    template_name = "till/vip.html"

    def get_member(self):
        member = member_get_by_card(card_number=self.kwargs["card"])
        if member is None:
            raise Http404
        return member

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        member = kwargs.get("member") or self.get_member()
        program = program_get_or_none()
        tiers = kwargs.get("tiers") or list(paid_tiers())
        context.update(
            member=member, tiers=tiers,
            form=kwargs.get("form") or (TillVipFeeForm(tiers=tiers) if tiers else None),
            tier_progress=tier_progress_get(member=member, program=program, now=timezone.now()) if program else None,
        )
        return context

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        member = self.get_member()
        tiers = list(paid_tiers())
        form = TillVipFeeForm(request.POST, tiers=tiers)
        if form.is_valid():
            try:
                result = till_vip_fee_record(
                    user=request.user, store=self.store, member=member, tier=form.cleaned_data["tier"],
                    external_id=form.external_id(),
                )
            except LoyaltyError as error:
                form_add_service_error(form, error, fields={**SERVICE_FIELDS, "paid_at": None})
            else:
                if not result.created:
                    messages.info(request, _("This fee was already taken; nothing was added."))
                return redirect("till:vip-done", card=member.card_number, pk=result.fee.pk)
        focus_first_error(form)
        return self.render_to_response(self.get_context_data(member=member, tiers=tiers, form=form), status=400)


class VipFeeDoneView(TillPage, TemplateView):
    """The fee taken: the tier and until when."""

    template_name = "till/vip_done.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        member = member_get_by_card(card_number=self.kwargs["card"])
        if member is None:
            raise Http404
        fee = get_object_or_404(VipFee.objects.select_related("tier"), member=member, pk=self.kwargs["pk"])
        receipt = "" if fee.external_id.startswith("till-vip:") else fee.external_id
        return super().get_context_data(member=member, fee=fee, receipt=receipt, **kwargs)
