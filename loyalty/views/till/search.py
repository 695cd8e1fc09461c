"""The till's store choice and its one search box."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.generic import TemplateView

from loyalty.forms.till import TillSearchForm
from loyalty.selectors import program_region
from loyalty.views.till.base import TillPage
from members.permissions import till_store_remember, till_stores
from members.selectors import member_lookup_for_till
from rewards.forms.till import voucher_code_meant


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


class SearchView(TillPage, TemplateView):
    """One box: a card opens the member, a phone or email finds them, a name
    lists matches; nothing found offers to enroll with what was typed."""

    template_name = "till/search.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = TillSearchForm(request.GET or None)
        context: dict[str, Any] = {"found": []}
        if form.is_bound and form.is_valid() and voucher_code_meant(form.cleaned_data["q"]):
            # Vouchers are looked up only when the box posts a code (till:scan), never from an address.
            return self.render_to_response(self.get_context_data(search_form=form, voucher_in_address=True))
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
