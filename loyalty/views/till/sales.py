"""The member found: balances, and purchases and refunds recorded for them."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.generic import TemplateView

from loyalty.earning import earning_simulate
from loyalty.forms.till import TillCardAttachForm, TillPurchaseForm, TillRefundForm
from loyalty.models import PointsLot, Purchase, Refund
from loyalty.selectors import purchase_get_by_external_id, purchase_list_refundable
from loyalty.selectors.rules import purchase_breakdown_get, stamp_card_list_for_member
from loyalty.services.till import (
    till_purchase_record,
    till_refund_record,
)
from loyalty.templatetags.loyalty_tags import local_date, money, receipt
from loyalty.views.till.base import SERVICE_FIELDS, TillPage, focus_first_error
from members.exceptions import LoyaltyError
from members.forms import form_add_service_error
from members.selectors import member_get_by_card


def refund_choice_label(purchase: Purchase) -> str:
    values = {
        "date": local_date(purchase.purchased_at, purchase.store),
        "store": purchase.store.name,
        "receipt": receipt(purchase),
        "amount": money(purchase.amount, purchase.currency),
        "refundable": money(purchase.refundable_amount, purchase.currency),
    }
    if values["receipt"]:
        return _("%(amount)s on %(date)s at %(store)s, receipt %(receipt)s (refundable: %(refundable)s)") % values
    return _("%(amount)s on %(date)s at %(store)s (refundable: %(refundable)s)") % values


class MemberView(TillPage, TemplateView):
    """The member found: balances, and the purchase and refund forms."""

    template_name = "till/member.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.purchase_form = self.refund_form = self.card_form = None
        return super().dispatch(request, *args, **kwargs)

    def get_member(self):
        member = member_get_by_card(card_number=self.kwargs["card"])
        if member is None:
            raise Http404
        return member

    def refund_form_for(self, member, data=None) -> TillRefundForm:
        return TillRefundForm(
            data, purchases=purchase_list_refundable(member=member, limit=10), label_from_instance=refund_choice_label
        )

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        member = kwargs.get("member") or self.get_member()
        context.update(
            member=member,
            purchase_form=self.purchase_form or TillPurchaseForm(),
            refund_form=self.refund_form or self.refund_form_for(member),
            card_form=self.card_form or TillCardAttachForm(),
        )
        return context


class PurchasePreviewView(MemberView):
    """GET: the points the amount typed would earn and why, before it is recorded
    (``earning_simulate`` with the member, caps as they stand now). With
    ``fragment=1`` only the preview (the page's script fetches it as the cashier
    types); else the member page with it. Writes nothing."""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        member = self.get_member()
        raw = request.GET.get("purchase-amount", "").strip()
        amount = None
        if raw:
            try:
                amount = TillPurchaseForm.base_fields["amount"].clean(raw)
            except ValidationError:
                amount = None
        preview = None
        if amount is not None:
            preview = earning_simulate(
                store=self.store, purchased_at=timezone.now(), amount=amount, member=member, caps=True,
            )
        context = {"preview": preview, "preview_amount": amount, "preview_invalid": bool(raw) and amount is None}
        if request.GET.get("fragment") == "1":
            return render(request, "till/includes/points_preview.html", context)
        self.purchase_form = TillPurchaseForm(initial={"amount": raw})
        return self.render_to_response(self.get_context_data(member=member, **context))


class PurchaseCreateView(MemberView):
    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        member = self.get_member()
        form = TillPurchaseForm(request.POST)
        if form.is_valid():
            external_id, amount = form.external_id(), form.cleaned_data["amount"]
            try:
                result = till_purchase_record(
                    user=request.user, store=self.store, member=member, external_id=external_id, amount=amount,
                    purchased_at=self.sale_time(form, external_id=external_id, member=member, amount=amount),
                )
            except LoyaltyError as error:
                form_add_service_error(form, error, fields=SERVICE_FIELDS)
            else:
                if not result.created:
                    messages.info(request, _("This purchase was already recorded; nothing was added."))
                return redirect("till:purchase-done", card=member.card_number, pk=result.purchase.pk)
        self.purchase_form = form
        focus_first_error(form)
        return self.render_to_response(self.get_context_data(member=member))

    def sale_time(self, form: TillPurchaseForm, *, external_id, member, amount):
        """When the form was shown; but a receipt typed again for the same sale
        (same store, member and amount, from a reloaded form) keeps the time it
        was first recorded at, so the service takes it as the same purchase."""
        if form.cleaned_data["receipt"].strip():
            earlier = purchase_get_by_external_id(external_id=external_id)
            if earlier is not None and (earlier.store_id, earlier.member_id, earlier.amount) == (
                self.store.pk, member.pk, amount,
            ):
                return earlier.purchased_at
        return form.cleaned_data["token"].issued_at


class RefundCreateView(MemberView):
    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        member = self.get_member()
        form = self.refund_form_for(member, request.POST)
        if form.is_valid():
            try:
                result = till_refund_record(
                    user=request.user, store=self.store, purchase=form.cleaned_data["purchase"],
                    external_id=form.external_id(), amount=form.cleaned_data["amount"],
                    refunded_at=form.cleaned_data["token"].issued_at,
                )
            except LoyaltyError as error:
                form_add_service_error(form, error, fields=SERVICE_FIELDS)
            else:
                return redirect("till:refund-done", card=member.card_number, pk=result.refund.pk)
        self.refund_form = form
        self.purchase_form = TillPurchaseForm()
        focus_first_error(form, others=[self.purchase_form])
        return self.render_to_response(self.get_context_data(member=member))


class PurchaseDoneView(TillPage, TemplateView):
    """What a purchase earned and the member's balances now."""

    template_name = "till/purchase_done.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        member = member_get_by_card(card_number=self.kwargs["card"])
        if member is None:
            raise Http404
        purchase = get_object_or_404(
            Purchase.objects.select_related("store", "lot"), member=member, pk=self.kwargs["pk"]
        )
        lot = getattr(purchase, "lot", None)
        return super().get_context_data(
            member=member, purchase=purchase,
            pending_until=lot.available_at if lot and lot.status == PointsLot.Status.PENDING else None,
            breakdown=purchase_breakdown_get(purchase_id=purchase.pk),
            stamp_cards=stamp_card_list_for_member(member=member, with_paused=False),
            **kwargs,
        )


class RefundDoneView(TillPage, TemplateView):
    template_name = "till/refund_done.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        member = member_get_by_card(card_number=self.kwargs["card"])
        if member is None:
            raise Http404
        refund = get_object_or_404(
            Refund.objects.select_related("purchase__store"), purchase__member=member, pk=self.kwargs["pk"]
        )
        return super().get_context_data(member=member, refund=refund, **kwargs)


# -- enrollment ----------------------------------------------------------------------
