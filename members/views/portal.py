"""``/me/``: the member's own balances, card, history, privacy and feedback.

Every query is filtered by the logged-in member, so another member's
purchase is a 404, never a 403 that would confirm it exists. No view takes
a member id from the request.
"""

from __future__ import annotations

import tempfile
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth import logout
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.views import View
from django.views.decorators.http import require_GET
from django.views.generic import FormView, TemplateView

from loyalty.forms.portal import HistoryFilterForm
from loyalty.privacy import member_export_filename, member_export_json_chunks, member_export_zip_write
from loyalty.selectors import (
    balances_get,
    ledger_list_for_member,
    next_expiry_get,
    program_get_or_none,
    purchase_list_for_member,
)
from loyalty.selectors.rules import purchase_breakdown_get, stamp_card_list_for_member
from members.exceptions import LoyaltyError
from members.forms import DeleteAccountForm, FeedbackForm, form_add_service_error
from members.permissions import MemberRequired
from members.services.feedback import (
    FEEDBACK_INTERVAL_DAYS,
    feedback_give,
    feedback_last_get,
    feedback_next_allowed_at,
)
from members.services.privacy import member_erase
from rewards.selectors.portal import catalog_get

HISTORY_PAGE_SIZE = 20
THEME_COLOUR = "#0a58ca"
BACKGROUND_COLOUR = "#ffffff"
ZIP_MEMORY_LIMIT = 4 * 1024 * 1024  # beyond this the ZIP being built spills to a temporary file


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
        balances = balances_get(member=self.member)
        # The rewards nudge: what the member can redeem now, and the closest reward they cannot afford yet.
        rewards = (
            catalog_get(member=self.member, program=program, available=balances.available, with_waitlist=False)
            if program else None
        )
        context.update(
            balances=balances,
            rewards_affordable=rewards.affordable if rewards else [],
            reward_closest=rewards.closest if rewards else None,
            next_expiry=next_expiry_get(member=self.member, tz=program.tz) if program else None,
            recent_entries=list(ledger_list_for_member(member=self.member)[:5]),
            stamp_cards=stamp_card_list_for_member(member=self.member, with_paused=False),
        )
        return context


class CardView(PortalPage, TemplateView):
    """The card to show at the till: a big EAN-13 barcode, a QR code and the number."""

    template_name = "me/card.html"
    section = "card"


@require_GET
def manifest(request: HttpRequest) -> HttpResponse:
    """The web app manifest that makes ``/me/`` installable on a home screen.

    Public (browsers fetch it without cookies) and holds nothing personal.
    """
    program = program_get_or_none()
    name = program.name if program else gettext("Loyalty")
    icons = [
        {"src": static(f"icons/{file}"), "sizes": f"{size}x{size}", "type": "image/png", "purpose": purpose}
        for size in (192, 512)
        for file, purpose in ((f"icon-{size}.png", "any"), (f"icon-maskable-{size}.png", "maskable"))
    ]
    data = {
        "name": name,
        "short_name": name if len(name) <= 12 else gettext("My card"),
        "description": gettext("Your points, your card and your history."),
        "id": reverse("me:home"),
        "start_url": reverse("me:home"),
        "scope": reverse("me:home"),
        "display": "standalone",
        "orientation": "portrait",
        "background_color": BACKGROUND_COLOUR,
        "theme_color": THEME_COLOUR,
        "lang": request.LANGUAGE_CODE,
        "icons": icons,
    }
    response = JsonResponse(data, content_type="application/manifest+json", json_dumps_params={"ensure_ascii": False})
    response["Cache-Control"] = "max-age=3600"
    return response


# -- history -------------------------------------------------------------------


class HistoryView(PortalPage, TemplateView):
    """The ledger in the member's words, filtered by kind and calendar days in the
    program's zone; invalid filters are shown with their error and left out."""

    template_name = "me/history.html"
    section = "history"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        program = program_get_or_none()
        form = HistoryFilterForm(self.request.GET or None)
        filters: dict[str, Any] = {}
        if form.is_bound:
            form.is_valid()
            filters = {key: value for key, value in form.cleaned_data.items() if value}
        entries = ledger_list_for_member(
            member=self.member, group=filters.get("kind", ""), tz=program.tz if program else ZoneInfo("UTC"),
            day_from=filters.get("date_from"), day_to=filters.get("date_to"),
        )
        paginator = Paginator(entries, HISTORY_PAGE_SIZE)
        context.update(
            form=form, filtered=bool(filters), entries_page=paginator.get_page(self.request.GET.get("page")),
        )
        return context


class PurchaseDetailView(PortalPage, TemplateView):
    template_name = "me/purchase_detail.html"
    section = "history"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        purchases = purchase_list_for_member(member=self.member).select_related("lot").prefetch_related("refunds")
        purchase = get_object_or_404(purchases, pk=self.kwargs["pk"])
        context["purchase"] = purchase
        context["breakdown"] = purchase_breakdown_get(purchase_id=purchase.pk)
        return context


# -- privacy -------------------------------------------------------------------


class PrivacyView(PortalPage, TemplateView):
    """What we keep, the downloads, and the way to delete the account."""

    template_name = "me/privacy.html"
    section = "privacy"


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "private, no-store"
    return response


class ExportJsonView(MemberRequired, View):
    """All the member's data as one JSON file, streamed."""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        program = program_get_or_none()
        chunks = member_export_json_chunks(member=self.member, program_name=program.name if program else "")
        response = StreamingHttpResponse(
            (chunk.encode() for chunk in chunks), content_type="application/json; charset=utf-8"
        )
        filename = member_export_filename(member=self.member, extension="json")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return _no_store(response)


class ExportCsvView(MemberRequired, View):
    """All the member's data as a ZIP of CSV files, built in a spooled temporary
    file (in memory up to ``ZIP_MEMORY_LIMIT``, then on disk)."""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        archive = tempfile.SpooledTemporaryFile(max_size=ZIP_MEMORY_LIMIT)  # noqa: SIM115 (FileResponse closes it)
        member_export_zip_write(member=self.member, fileobj=archive)
        archive.seek(0)
        response = FileResponse(
            archive, as_attachment=True, content_type="application/zip",
            filename=member_export_filename(member=self.member, extension="zip"),
        )
        return _no_store(response)


class DeleteAccountView(PortalPage, FormView):
    """Explains what deleting erases and keeps, then erases once the password is given."""

    template_name = "me/delete_account.html"
    form_class = DeleteAccountForm
    section = "privacy"

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "user": self.request.user}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["balances"] = balances_get(member=self.member)
        return context

    def form_valid(self, form: DeleteAccountForm) -> HttpResponse:
        member_erase(member=self.member, actor=self.request.user)
        logout(self.request)
        messages.success(
            self.request, gettext("Your account was deleted and your personal data erased. Goodbye, and thank you."),
        )
        return redirect("account_login")


# -- feedback ------------------------------------------------------------------


class FeedbackView(PortalPage, FormView):
    """Rate the program 0-10, at most once per ``FEEDBACK_INTERVAL_DAYS``; while
    it is too soon the page shows the last rating instead of the form."""

    template_name = "me/feedback.html"
    form_class = FeedbackForm
    section = "feedback"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        last = feedback_last_get(member=self.member)
        next_at = feedback_next_allowed_at(last=last)
        context.update(
            last=last, next_at=next_at, interval_days=FEEDBACK_INTERVAL_DAYS,
            can_rate=next_at is None or timezone.now() >= next_at,
        )
        return context

    def form_valid(self, form: FeedbackForm) -> HttpResponse:
        program = program_get_or_none()
        try:
            feedback_give(member=self.member, tz=program.tz if program else None, **form.cleaned_data)
        except LoyaltyError as error:
            form_add_service_error(form, error)
            return self.form_invalid(form)
        messages.success(self.request, gettext("Thank you for your feedback."))
        return redirect("me:feedback")
