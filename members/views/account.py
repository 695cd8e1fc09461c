"""``/me/account/``: the member's details, sign-in, language, consent and
referral link; and the public pages that give a member enrolled at the till
a login (claim). Every page reads and writes the logged-in member only."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from allauth.account import app_settings as allauth_settings
from allauth.account.models import EmailAddress
from allauth.account.utils import complete_signup
from allauth.core import ratelimit
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.generic import FormView, TemplateView

from loyalty.selectors import program_get_or_none, program_region
from members.exceptions import ClaimLinkInvalid, LoyaltyError
from members.forms import ClaimForm, ClaimStartForm, ConsentForm, ProfileForm, form_add_service_error
from members.middleware import language_cookie_set
from members.models import ConsentChange
from members.selectors import consent_history_for_member
from members.services.accounts import member_claim, member_claim_request, member_referral_code_get
from members.services.claims import claim_token_member
from members.services.profile import member_consent_set, member_profile_update
from members.views.portal import PortalPage


def _program_tz():
    program = program_get_or_none()
    return program.tz if program is not None else None


def referral_link(code: str) -> str:
    return f"{settings.SITE_URL}{reverse('account_signup')}?{urlencode({'ref': code})}"


class AccountView(PortalPage, TemplateView):
    template_name = "me/account.html"
    section = "account"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        code = member_referral_code_get(member=self.member)
        user = self.request.user
        context.update(
            referral_code=code,
            referral_link=referral_link(code),
            login_email=user.email,
            email_verified=EmailAddress.objects.filter(user=user, email__iexact=user.email, verified=True).exists(),
            language_name=self.member.get_language_display(),
        )
        return context


class ProfileView(PortalPage, FormView):
    """Names, phone, birth date and language (``member_profile_update``)."""

    template_name = "me/profile.html"
    section = "account"
    form_class = ProfileForm

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        kwargs["region"] = program_region()
        return kwargs

    def get_initial(self) -> dict[str, Any]:
        m = self.member
        return {
            "first_name": m.first_name, "last_name": m.last_name, "phone": str(m.phone or ""),
            "birth_date": m.birth_date, "language": m.language,
        }

    def form_valid(self, form: ProfileForm) -> HttpResponse:
        try:
            member = member_profile_update(member=self.member, **form.cleaned_data)
        except LoyaltyError as error:
            form_add_service_error(form, error, fields={"email": "phone"})
            return self.form_invalid(form)
        translation.activate(member.language)
        messages.success(self.request, _("Your details are saved."))
        response = redirect("me:account")
        language_cookie_set(response, member.language)
        return response


class ConsentView(PortalPage, FormView):
    """Marketing email and SMS consent, with the history of each change."""

    template_name = "me/consent.html"
    section = "account"
    form_class = ConsentForm

    def get_initial(self) -> dict[str, Any]:
        return {"marketing_consent": self.member.marketing_consent, "sms_consent": self.member.sms_consent}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(
            history=list(consent_history_for_member(member=self.member)),
            program_tz=_program_tz(),
        )
        return context

    def form_valid(self, form: ConsentForm) -> HttpResponse:
        changed = [
            member_consent_set(member=self.member, channel=channel, given=form.cleaned_data[field])
            for channel, field in (
                (ConsentChange.Channel.EMAIL, "marketing_consent"),
                (ConsentChange.Channel.SMS, "sms_consent"),
            )
        ]
        if any(changed):
            messages.success(self.request, _("Your choices are saved."))
        else:
            messages.info(self.request, _("Nothing changed."))
        return redirect("me:consent")


def _claim_invalid(request: HttpRequest) -> HttpResponse:
    return render(request, "me/claim_invalid.html", {"error": ClaimLinkInvalid()}, status=404)


class ClaimView(View):
    """``/me/claim/<token>/``: set a password for the member the link names.

    A used, expired or tampered link is a 404 with a way to ask for a new one.
    """

    template_name = "me/claim.html"

    @method_decorator(sensitive_post_parameters("password1", "password2"))
    @method_decorator(never_cache)
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
        # As after a sign-up: logs in, and mails a confirmation link to an
        # address that is not verified.
        return complete_signup(request, user, allauth_settings.EMAIL_VERIFICATION, reverse("me:home"))

    def _render(self, form: ClaimForm) -> HttpResponse:
        return render(self.request, self.template_name, {"form": form, "claim_member": self.member})


class ClaimStartView(FormView):
    """``/me/claim/``: ask for a claim link with your email and card number.
    The answer is the same whether or not they matched a member."""

    template_name = "me/claim_start.html"
    form_class = ClaimStartForm

    def get_initial(self) -> dict[str, Any]:
        return {"email": self.request.GET.get("email", "")[:254]}

    def form_valid(self, form: ClaimStartForm) -> HttpResponse:
        email = form.cleaned_data["email"]
        # Rate-limited per address and per IP (ACCOUNT_RATE_LIMITS
        # "claim_request"); over the limit nothing is sent, with the same answer.
        if ratelimit.consume(self.request, action="claim_request", key=email.strip().lower()):
            member_claim_request(email=email, card_number=form.cleaned_data["card_number"])
        return render(self.request, "me/claim_start_done.html", {"email": form.cleaned_data["email"]})
