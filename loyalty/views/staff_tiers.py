"""``/staff/tiers/``: the tiers with their members (the distribution) and the
program's tier settings; create, edit, archive and restore tiers (owner,
manager and marketing); the members near a threshold; and, on the member
page, a paid-tier fee recorded by an owner or a manager.

Every change goes through ``loyalty.services.tiers``: ``tier_save`` checks the
tier against the others and clears the tier cache.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import FormView, TemplateView

from loyalty.forms.tiers import TierForm, VipFeeForm
from loyalty.models import Source, Tier
from loyalty.selectors import program_get_or_none
from loyalty.selectors.tiers import (
    NEAR_SHARE,
    members_without_tier_count,
    tier_amount_text,
    tier_list_for_staff,
    tier_near_threshold_page,
    tier_near_threshold_rows,
)
from loyalty.services.tiers import next_review_at, tier_archive, tier_restore, tier_save, vip_fee_record
from loyalty.templatetags.loyalty_tags import money
from loyalty.views.staff import StaffPage
from members.exceptions import LoyaltyError
from members.forms import form_add_service_error
from members.permissions import ADMIN_ROLES
from members.views.staff import MemberDetailView

NEAR_PAGE_SIZE = 25


def form_add_validation_error(form, error: ValidationError) -> None:
    """Show a service's ``ValidationError`` on the fields it names (above the form for the others)."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.error_dict.items():
        form.add_error(field if field in form.fields else None, errors)


class TierListView(StaffPage, TemplateView):
    template_name = "staff/tier_list.html"
    section = "tiers"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        program = program_get_or_none()
        tiers = list(tier_list_for_staff())
        for tier in tiers:
            tier.threshold_text = tier_amount_text(tier.threshold, program) if program and tier.threshold else ""
            tier.fee_text = money(tier.fee, program.currency) if program and tier.fee is not None else ""
        without = members_without_tier_count()
        total = without + sum(tier.members for tier in tiers)
        context.update(
            tiers=tiers, without_tier=without, members_total=total,
            next_review=next_review_at(now=timezone.now()) if program else None,
        )
        return context


class TierEditView(StaffPage, FormView):
    """Create (no ``pk``) or edit a tier."""

    template_name = "staff/tier_form.html"
    form_class = TierForm
    section = "tiers"

    def load(self) -> None:
        self.tier = get_object_or_404(Tier, pk=self.kwargs["pk"]) if "pk" in self.kwargs else None

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        kwargs.update(instance=self.tier, program=program_get_or_none())
        if self.tier is None:
            last = Tier.objects.order_by("-rank").values_list("rank", flat=True).first()
            kwargs["initial"] = {"rank": (last or 0) + 1, "multiplier": 1}
        return kwargs

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(tier=self.tier, **kwargs)

    def form_valid(self, form: TierForm) -> HttpResponse:
        try:
            tier = tier_save(tier=form.instance)
        except ValidationError as error:
            form_add_validation_error(form, error)
            return self.form_invalid(form)
        if self.tier is None:
            messages.success(self.request, _("Tier %(name)s was created.") % {"name": tier.name})
        else:
            messages.success(self.request, _("Tier %(name)s was saved.") % {"name": tier.name})
        return redirect("staff:tiers")


class TierArchiveView(StaffPage, View):
    """POST: archive a tier (``restore=True``: bring it back)."""

    http_method_names = ["post"]
    restore = False

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        tier = get_object_or_404(Tier, pk=kwargs["pk"])
        if not self.restore:
            tier_archive(tier=tier)
            messages.success(request, _(
                "Tier %(name)s was archived: nobody reaches or buys it any more. Members who hold it keep it "
                "until the next review (or the end of their paid period)."
            ) % {"name": tier.name})
            return redirect("staff:tiers")
        try:
            tier_restore(tier=tier)
        except ValidationError as error:
            messages.error(request, _("Tier %(name)s could not be restored: %(errors)s") % {
                "name": tier.name, "errors": " ".join(error.messages),
            })
            return redirect("staff:tier-edit", pk=tier.pk)
        messages.success(request, _("Tier %(name)s is back.") % {"name": tier.name})
        return redirect("staff:tiers")


class TierNearView(StaffPage, TemplateView):
    """Members within 10% below the threshold of their next tier, closest first."""

    template_name = "staff/tier_near.html"
    section = "tiers"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        program = program_get_or_none()
        rows = []
        page = None
        if program is not None:
            paginator = Paginator(tier_near_threshold_rows(program=program, now=timezone.now()), NEAR_PAGE_SIZE)
            page = paginator.get_page(self.request.GET.get("page"))
            rows = tier_near_threshold_page(rows=list(page.object_list), program=program)
        context.update(rows=rows, page_obj=page, share=int(NEAR_SHARE * 100), program=program)
        return context


class MemberVipFeeView(MemberDetailView, View):
    """POST only: the paid-tier fee form of the member page (owner, manager);
    errors are shown on it."""

    roles = ADMIN_ROLES
    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        member = self.get_member()
        form = VipFeeForm(request.POST)
        if form.is_valid():
            try:
                result = vip_fee_record(
                    member=member, tier=form.cleaned_data["tier"], external_id=form.external_id(),
                    amount=form.cleaned_data["amount"], source=Source.STAFF, recorded_by=request.user,
                )
            except LoyaltyError as error:
                form_add_service_error(form, error, fields={"external_id": "reference", "paid_at": None})
            else:
                if result.created:
                    messages.success(request, _("Fee of %(amount)s recorded: %(tier)s until %(date)s.") % {
                        "amount": money(result.fee.amount, result.fee.currency), "tier": result.fee.tier.name,
                        "date": result.fee.valid_until.astimezone(program_get_or_none().tz).date().isoformat(),
                    })
                else:
                    messages.info(request, _("This fee was already recorded; nothing was added."))
                return redirect("staff:member-detail", pk=member.pk)
        self.vip_fee_form = form
        return self.render_to_response(self.get_context_data(**kwargs))
