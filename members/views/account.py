"""``/me/account/``: the member's details, sign-in, consent and language; and
the public pages that give a till-enrolled member a login (claim)."""

from __future__ import annotations

from typing import Any

from allauth.account import app_settings as allauth_settings
from allauth.account.utils import complete_signup
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import FormView, TemplateView

from members.exceptions import ClaimLinkInvalid, LoyaltyError
from members.forms import ClaimForm, ClaimStartForm, form_add_service_error
from members.services.accounts import member_claim, member_claim_request
from members.services.claims import claim_token_member
from members.views.portal import PortalPage


class AccountView(PortalPage, TemplateView):
    template_name = "me/account.html"
    section = "account"


def _claim_invalid(request: HttpRequest) -> HttpResponse:
    return render(request, "me/claim_invalid.html", {"error": ClaimLinkInvalid()}, status=404)


class ClaimView(View):
    """``/me/claim/<token>/``: set a password for the member the link names."""

    template_name = "me/claim.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            self.member = claim_token_member(token=kwargs["token"])
        except ClaimLinkInvalid:
            return _claim_invalid(request)
        return super().dispatch(request, *args, **kwargs)

    def get(self, request: HttpRequest, token: str) -> HttpResponse:
        return self._render(ClaimForm(initial={"email": self.member.email}))

    def post(self, request: HttpRequest, token: str) -> HttpResponse:
        if request.user.is_authenticated:
            return self._render(ClaimForm(initial={"email": self.member.email}))
        form = ClaimForm(request.POST)
        if not form.is_valid():
            return self._render(form)
        try:
            user, _verified = member_claim(
                member_id=self.member.pk, card_number=self.member.card_number,
                email=form.cleaned_data["email"], password=form.cleaned_data["password1"],
            )
        except ClaimLinkInvalid:
            return _claim_invalid(request)
        except LoyaltyError as error:
            form_add_service_error(form, error, fields={"password": "password1"})
            return self._render(form)
        messages.success(request, _("Your account is ready. Welcome!"))
        return complete_signup(
            request, user, allauth_settings.EMAIL_VERIFICATION, reverse("me:home"),
        )

    def _render(self, form: ClaimForm) -> HttpResponse:
        return render(self.request, self.template_name, {"form": form, "claim_member": self.member})


class ClaimStartView(FormView):
    """``/me/claim/``: ask for a claim link with your email and card number."""

    template_name = "me/claim_start.html"
    form_class = ClaimStartForm

    def form_valid(self, form: ClaimStartForm) -> HttpResponse:
        member_claim_request(email=form.cleaned_data["email"], card_number=form.cleaned_data["card_number"])
        return render(self.request, "me/claim_start_done.html", {"email": form.cleaned_data["email"]})
