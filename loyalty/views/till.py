"""``/till/``: one search box, then record a purchase or a refund for the member.

A cashier sees only what the till needs: the member found, their balances
and their refundable purchases; no lists, no KPIs, no adjustments. Every page
works with the keyboard alone and without JavaScript; each form carries a
token drawn when it is shown, so sending it twice records it once.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.generic import TemplateView

from loyalty.exceptions import NothingToUndo
from loyalty.forms import TillCardAttachForm, TillEnrollForm, TillPurchaseForm, TillRefundForm, TillSearchForm
from loyalty.models import PointsLot, Purchase, Refund, TillAction
from loyalty.selectors import program_get_or_none, purchase_get_by_external_id, purchase_list_refundable
from loyalty.services.till import (
    till_action_last,
    till_card_attach,
    till_claim_send,
    till_member_enroll,
    till_purchase_record,
    till_refund_record,
    till_undo_check,
    till_undo_last,
)
from loyalty.templatetags.loyalty_tags import local_date, money, receipt
from members.exceptions import DuplicateMember, LoyaltyError
from members.forms import form_add_service_error
from members.models import Delivery
from members.permissions import CashierRequired, till_store_remember, till_stores
from members.selectors import member_get_by_card, member_lookup_for_till

SERVICE_FIELDS = {"external_id": "receipt", "purchased_at": None, "refunded_at": None, "currency": None}


def focus_first_error(form, *, others=()) -> None:
    """Move the page's autofocus to the first field with an error (and off the other forms)."""
    for other in others:
        for field in other.fields.values():
            field.widget.attrs.pop("autofocus", None)
    for field in form.fields.values():
        field.widget.attrs.pop("autofocus", None)
    for name in form.errors:
        if name in form.fields and not form.fields[name].widget.is_hidden:
            form.fields[name].widget.attrs["autofocus"] = True
            return


class TillPage(CashierRequired):
    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["store"] = self.store
        context.setdefault("search_form", TillSearchForm())
        return context


class StoreSelectView(TillPage, TemplateView):
    """Pick this device's store, once; a user with one store gets it at once."""

    template_name = "till/store_select.html"
    store_required = False

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        stores = list(till_stores(request.user))
        if len(stores) == 1 and self.store is None:
            return self._choose(stores[0].pk)
        return self.render_to_response(self.get_context_data(stores=stores))

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        chosen = request.POST.get("store", "")
        stores = list(till_stores(request.user))
        if chosen.isdigit() and any(store.pk == int(chosen) for store in stores):
            return self._choose(int(chosen))
        context = self.get_context_data(stores=stores, error=_("Choose one of your stores."))
        return self.render_to_response(context, status=400)

    def _choose(self, store_id: int) -> HttpResponse:
        response = redirect("till:search")
        till_store_remember(response, request=self.request, store_id=store_id)
        return response


def program_region() -> str:
    program = program_get_or_none()
    return program.country.code if program else ""


class SearchView(TillPage, TemplateView):
    """One box: a card opens the member, a phone or email finds them, a name
    lists matches; nothing found offers to enroll with what was typed."""

    template_name = "till/search.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = TillSearchForm(request.GET or None)
        context: dict[str, Any] = {"found": []}
        if form.is_bound and form.is_valid():
            lookup = member_lookup_for_till(query=form.cleaned_data["q"], region=program_region())
            found = lookup.members
            if len(found) == 1 and lookup.kind != "name":
                return redirect("till:member", card=found[0].card_number)
            context.update(found=found, lookup=lookup)
            if lookup.kind == "invalid_card":
                form.add_error("q", _("%(value)s is not a valid card number: check the digits.") % {
                    "value": lookup.query})
            elif lookup.kind == "unknown":
                form.add_error("q", _("Type or scan a card number (13 digits), a phone number, an email or a name."))
            elif not found:
                form.add_error("q", {
                    "card": _("No member has the card %(value)s."),
                    "phone": _("No member has the phone number %(value)s."),
                    "email": _("No member has the email %(value)s."),
                    "name": _("No member's name starts with %(value)s."),
                }[lookup.kind] % {"value": lookup.query})
                context["enroll_url"] = reverse("till:enroll") + "?" + urlencode(lookup.enroll_initial)
        return self.render_to_response(self.get_context_data(search_form=form, **context))


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


class UndoView(TillPage, TemplateView):
    """GET: what the cashier's last action was and a confirmation; POST: undo it."""

    template_name = "till/undo.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        action = till_action_last(user=request.user, store=self.store)
        problem = None
        try:
            till_undo_check(action=action)
        except LoyaltyError as error:
            problem = error.message
        already = action is not None and action.kind == TillAction.Kind.PURCHASE and hasattr(action, "undone_by")
        return self.render_to_response(self.get_context_data(
            action=action, problem=problem, already=already,
            window_minutes=max(1, round(settings.TILL_UNDO_SECONDS / 60)),
        ))

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        action_id = request.POST.get("action", "")
        try:
            if not action_id.isdigit():
                raise NothingToUndo()
            undo = till_undo_last(user=request.user, store=self.store, action_id=int(action_id))
        except LoyaltyError as error:
            action = till_action_last(user=request.user, store=self.store)
            return self.render_to_response(
                self.get_context_data(action=action, problem=error.message, already=False), status=409
            )
        purchase = undo.undone.purchase
        if undo.created:
            points = undo.refund_result.points_reversed
            messages.success(request, ngettext(
                "Purchase of %(amount)s undone: %(points)d point taken back.",
                "Purchase of %(amount)s undone: %(points)d points taken back.", points,
            ) % {"amount": money(undo.refund_result.refund.amount, purchase.currency), "points": points})
        else:
            messages.info(request, _("This purchase was already undone; nothing more was changed."))
        card = undo.undone.member.card_number if undo.undone.member else None
        return redirect("till:member", card=card) if card else redirect("till:search")
