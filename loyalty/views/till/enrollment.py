"""Enrolling at the till: the form, the claim link, a physical card, the printable card."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.generic import TemplateView

from loyalty.forms.till import TillCardAttachForm, TillEnrollForm, TillPurchaseForm
from loyalty.selectors import program_region
from loyalty.services.till import (
    till_card_attach,
    till_claim_send,
    till_member_enroll,
)
from loyalty.views.till.base import TillPage, focus_first_error
from loyalty.views.till.sales import MemberView
from members.exceptions import DuplicateMember, LoyaltyError
from members.forms import form_add_service_error
from members.models import Delivery
from members.selectors import member_get_by_card

ENROLL_PREFILL = ("first_name", "last_name", "email", "phone", "card_number")


class EnrollView(TillPage, TemplateView):
    """A new member in under 30 seconds: name, email or phone, consents; a
    scanned card or an issued number; the account-claim link goes out."""

    template_name = "till/enroll.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        initial = {key: request.GET[key][:150] for key in ENROLL_PREFILL if request.GET.get(key)}
        form = TillEnrollForm(initial=initial, region=program_region())
        if initial:  # the cashier typed the first field already: go on from the next empty one
            focus_first_empty(form)
        return self.render_to_response(self.get_context_data(form=form))

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = TillEnrollForm(request.POST, region=program_region())
        duplicate = None
        if form.is_valid():
            try:
                enrolled = till_member_enroll(user=request.user, store=self.store, **form.cleaned_data)
            except DuplicateMember as error:
                duplicate = member_get_by_card(card_number=str(error.params["card"]))
                form_add_service_error(form, error)
            except LoyaltyError as error:
                form_add_service_error(form, error)
            else:
                messages.success(request, enrolled_message(enrolled.member, enrolled.delivery))
                return redirect("till:member", card=enrolled.member.card_number)
        focus_first_error(form)
        if duplicate:  # the focus goes to "open this member" instead
            for field in form.fields.values():
                field.widget.attrs.pop("autofocus", None)
        return self.render_to_response(self.get_context_data(form=form, duplicate=duplicate), status=400)


def focus_first_empty(form: TillEnrollForm) -> None:
    for field in form.fields.values():
        field.widget.attrs.pop("autofocus", None)
    for name in ("first_name", "last_name", "email", "phone"):
        if not form.initial.get(name):
            form.fields[name].widget.attrs["autofocus"] = True
            return
    form.fields["marketing_consent"].widget.attrs["autofocus"] = True


def enrolled_message(member, delivery: Delivery) -> str:
    values = {"name": member.full_name or member.card_number, "card": member.card_number,
              "recipient": delivery.recipient}
    if delivery.status == Delivery.Status.LOGGED:
        if delivery.channel == Delivery.Channel.EMAIL:
            return _("%(name)s is enrolled with card %(card)s. No email service is set up: the account-claim "
                     "link for %(recipient)s is in the delivery log for staff to pass on.") % values
        return _("%(name)s is enrolled with card %(card)s. No SMS service is set up: the account-claim "
                 "link for %(recipient)s is in the delivery log for staff to pass on.") % values
    if delivery.channel == Delivery.Channel.EMAIL:
        return _("%(name)s is enrolled with card %(card)s. The account-claim link is on its way "
                 "by email to %(recipient)s.") % values
    return _("%(name)s is enrolled with card %(card)s. The account-claim link is on its way "
             "by SMS to %(recipient)s.") % values


class ClaimSendView(MemberView):
    """Send the account-claim link again (a member without a login)."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        member = self.get_member()
        if member.user_id is None:
            try:
                delivery = till_claim_send(user=request.user, store=self.store, member=member)
            except LoyaltyError as error:
                messages.error(request, error.message)
            else:
                messages.success(request, claim_sent_message(delivery))
        return redirect("till:member", card=member.card_number)


def claim_sent_message(delivery: Delivery) -> str:
    values = {"recipient": delivery.recipient}
    if delivery.status == Delivery.Status.LOGGED:
        return _("No message service is set up: the account-claim link for %(recipient)s is in the "
                 "delivery log for staff to pass on.") % values
    return _("A new account-claim link is on its way to %(recipient)s.") % values


class CardAttachView(MemberView):
    """Attach a scanned physical card in place of the member's current number."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        member = self.get_member()
        form = TillCardAttachForm(request.POST)
        if form.is_valid():
            old = member.card_number
            try:
                member, changed = till_card_attach(
                    user=request.user, store=self.store, member=member, card_number=form.cleaned_data["card_number"]
                )
            except LoyaltyError as error:
                form_add_service_error(form, error)
            else:
                if changed:
                    messages.success(request, _("Card %(card)s attached; the number %(old)s no longer works.") % {
                        "card": member.card_number, "old": old})
                return redirect("till:member", card=member.card_number)
        self.card_form = form
        self.purchase_form = TillPurchaseForm()
        focus_first_error(form, others=[self.purchase_form])
        return self.render_to_response(self.get_context_data(member=member, card_open=True), status=400)


class CardPrintView(TillPage, TemplateView):
    """The member's card to print: barcode, QR and number."""

    template_name = "till/card_print.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        member = member_get_by_card(card_number=self.kwargs["card"])
        if member is None:
            raise Http404
        return super().get_context_data(member=member, **kwargs)


# -- undo ----------------------------------------------------------------------------
