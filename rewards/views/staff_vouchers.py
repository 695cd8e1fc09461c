"""``/staff/vouchers/``: find a voucher by its code or by its member, the
list of recent vouchers, a voucher's whole story, and cancelling it with a
reason (owner and manager: cancelling gives points back);
``/staff/campaigns/``: vouchers given without points, created and issued to
one member or a list by owner, manager and marketing.

Codes are looked up through ``voucher_check`` with the user's wrong-code
throttle, whether typed in the search box or in the address; the rules are
in ``rewards.services`` (``vouchers``, ``gifts``).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.generic import FormView, ListView, TemplateView

from loyalty.models import TillAction
from loyalty.selectors import program_get_or_none, program_region
from loyalty.templatetags.loyalty_tags import points as points_text
from loyalty.views.staff import StaffPage
from loyalty.views.staff_tiers import form_add_validation_error
from members.exceptions import LoyaltyError
from members.forms import form_add_service_error
from members.models import Member
from members.selectors import member_list_for_staff
from rewards.exceptions import VoucherChecksThrottled, VoucherNotCancellable
from rewards.forms.vouchers import (
    CampaignForm,
    CampaignIssueListForm,
    CampaignIssueOneForm,
    VoucherCancelForm,
    VoucherCodeForm,
    VoucherFilterForm,
)
from rewards.models import Voucher
from rewards.selectors.vouchers import (
    campaign_get_for_staff,
    campaign_list_for_staff,
    voucher_get_for_staff,
    voucher_list_for_staff,
)
from rewards.services.gifts import CampaignIssued, campaign_create, campaign_issue
from rewards.services.throttle import VoucherThrottle
from rewards.services.vouchers import VOUCHER_CANCEL_ROLES, voucher_cancel, voucher_check, voucher_state_problem

PAGE_SIZE = 25
MEMBER_CHOICES = 10
TILL_ACTIONS = 10


def user_can_cancel_vouchers(user) -> bool:
    """Cancelling returns points: a points adjustment, which marketing may not make."""
    return user.is_authenticated and user.role in VOUCHER_CANCEL_ROLES


class VoucherPage(StaffPage):
    section = "vouchers"
    tab = "vouchers"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(tab=self.tab, **kwargs)


# -- vouchers ------------------------------------------------------------------------------


class VoucherListView(VoucherPage, TemplateView):
    """The code search (a found code opens its voucher), and the recent
    vouchers filtered by member, status, reward and origin."""

    template_name = "staff/voucher_list.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        code_form = VoucherCodeForm(request.GET) if "code" in request.GET else VoucherCodeForm()
        if code_form.is_bound and code_form.is_valid():
            try:
                check = voucher_check(
                    code=code_form.cleaned_data["code"], throttle=VoucherThrottle.for_user(request.user)
                )
            except LoyaltyError as error:
                form_add_service_error(code_form, error)
                status = 429 if isinstance(error, VoucherChecksThrottled) else 200
                return self.render_to_response(self.get_context_data(code_form=code_form), status=status)
            return redirect("staff:voucher", code=check.voucher.code)
        return self.render_to_response(self.get_context_data(code_form=code_form))

    @classmethod
    def lookup_failed(cls, request: HttpRequest, *, code: str, error: LoyaltyError) -> HttpResponse:
        """The search page with ``code`` and why it found nothing (a code in the address)."""
        view = cls()
        view.setup(request)
        form = VoucherCodeForm({"code": code[:40]})
        form.is_valid()
        form_add_service_error(form, error)
        status = 429 if isinstance(error, VoucherChecksThrottled) else 404
        return view.render_to_response(view.get_context_data(code_form=form), status=status)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        filter_form = VoucherFilterForm(self.request.GET or None)
        data = filter_form.cleaned_data if filter_form.is_valid() else {}
        member, member_choices, more = None, [], False
        query = data.get("member", "")
        if query:
            member_choices, more = self.members_matching(query)
            if len(member_choices) == 1:
                member, member_choices = member_choices[0], []
            elif not member_choices:
                filter_form.add_error("member", _("No member matches “%(query)s”.") % {"query": query})
        page = None
        if not (query and member is None):
            vouchers = voucher_list_for_staff(
                state=data.get("state", ""), reward=data.get("reward"), origin=data.get("origin", ""),
                member=member,
            )
            page = Paginator(vouchers, PAGE_SIZE).get_page(self.request.GET.get("page"))
        context.update(
            filter_form=filter_form, member=member, member_choices=member_choices, more_members=more,
            page_obj=page, can_cancel=user_can_cancel_vouchers(self.request.user),
        )
        return context

    @staticmethod
    def members_matching(query: str) -> tuple[list[Member], bool]:
        """The members ``query`` names (one, when it is exactly someone's card
        number or email), and whether there are more than shown."""
        found = list(member_list_for_staff(query=query, region=program_region())[: MEMBER_CHOICES + 1])
        typed = query.strip().lower()
        exact = [m for m in found if typed in (m.card_number, (m.email or "").lower())]
        if len(exact) == 1:
            return exact, False
        return found[:MEMBER_CHOICES], len(found) > MEMBER_CHOICES


class VoucherDetailView(VoucherPage, TemplateView):
    """A voucher by its code (any typed form; sent on to the stored one)."""

    template_name = "staff/voucher_detail.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.cancel_form = None
        return super().dispatch(request, *args, **kwargs)

    def find(self) -> Voucher | HttpResponse:
        code = self.kwargs["code"]
        try:
            check = voucher_check(code=code, throttle=VoucherThrottle.for_user(self.request.user))
        except LoyaltyError as error:
            return VoucherListView.lookup_failed(self.request, code=code, error=error)
        voucher = voucher_get_for_staff(pk=check.voucher.pk)
        if voucher is None:  # gone between the two reads: vouchers are never deleted
            raise Http404
        return voucher

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        voucher = self.find()
        if isinstance(voucher, HttpResponse):
            return voucher
        if kwargs["code"] != voucher.code:
            return redirect("staff:voucher", code=voucher.code)
        return self.render_to_response(self.get_context_data(voucher=voucher))

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        voucher: Voucher = context["voucher"]
        now = timezone.now()
        use_problem = voucher_state_problem(voucher, now=now)
        cancel_problem = voucher_state_problem(voucher, now=now, error=VoucherNotCancellable)
        can_cancel = user_can_cancel_vouchers(self.request.user)
        context.update(
            use_problem=use_problem.message if use_problem else "",
            cancel_problem=cancel_problem.message if cancel_problem else "",
            can_cancel=can_cancel,
            entries=[entry for entry in (voucher.redeem_entry, voucher.return_entry) if entry is not None],
            till_actions=list(
                TillAction.objects.filter(voucher=voucher).select_related("user", "store").order_by("-at", "-pk")[
                    :TILL_ACTIONS
                ]
            ),
        )
        if can_cancel and cancel_problem is None:
            context["cancel_form"] = self.cancel_form or VoucherCancelForm()
        return context


class VoucherCancelView(VoucherDetailView):
    """POST only: cancel with a reason; errors are shown on the voucher's page."""

    roles = VOUCHER_CANCEL_ROLES
    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        voucher = self.find()
        if isinstance(voucher, HttpResponse):
            return voucher
        form = VoucherCancelForm(request.POST)
        if form.is_valid():
            try:
                cancelled = voucher_cancel(voucher=voucher, actor=request.user, reason=form.cleaned_data["reason"])
            except LoyaltyError as error:
                if error.field != "reason":  # used, expired or cancelled meanwhile: the page says what it is now
                    messages.error(request, error.message)
                    return redirect("staff:voucher", code=voucher.code)
                form_add_service_error(form, error)
            else:
                messages.success(request, self.done_message(cancelled))
                return redirect(self.next_url() or reverse("staff:voucher", kwargs={"code": cancelled.code}))
        self.cancel_form = form
        return self.render_to_response(self.get_context_data(voucher=voucher_get_for_staff(pk=voucher.pk)))

    def next_url(self) -> str:
        url = self.request.POST.get("next", "")
        allowed = url_has_allowed_host_and_scheme(
            url, allowed_hosts={self.request.get_host()}, require_https=self.request.is_secure()
        )
        return url if allowed else ""

    @staticmethod
    def done_message(voucher: Voucher) -> str:
        member = voucher.member.full_name or voucher.member.card_number
        if not voucher.points:
            return _("Voucher %(code)s was cancelled. It cost no points, so none went back to %(member)s.") % {
                "code": voucher.display_code, "member": member,
            }
        return ngettext(
            "Voucher %(code)s was cancelled; %(points)s point went back to %(member)s.",
            "Voucher %(code)s was cancelled; %(points)s points went back to %(member)s.",
            voucher.points,
        ) % {"code": voucher.display_code, "points": points_text(voucher.points), "member": member}


# -- campaigns -------------------------------------------------------------------------------


class CampaignPage(VoucherPage):
    tab = "campaigns"


class CampaignListView(CampaignPage, ListView):
    template_name = "staff/campaign_list.html"
    paginate_by = PAGE_SIZE
    context_object_name = "campaigns"

    def get_queryset(self):
        return campaign_list_for_staff()


class CampaignCreateView(CampaignPage, FormView):
    template_name = "staff/campaign_form.html"
    form_class = CampaignForm

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        program = program_get_or_none()
        kwargs["tz"] = program.tz if program else timezone.get_current_timezone()
        return kwargs

    def form_valid(self, form: CampaignForm) -> HttpResponse:
        data = form.cleaned_data
        try:
            campaign = campaign_create(
                name=data["name"], reward=data["reward"], valid_from=data.get("valid_from"),
                valid_until=data["valid_until"], actor=self.request.user,
            )
        except ValidationError as error:
            form_add_validation_error(form, error)
            return self.form_invalid(form)
        except LoyaltyError as error:
            form_add_service_error(form, error)
            return self.form_invalid(form)
        messages.success(self.request, _("Campaign %(name)s was created. Now give its voucher to members.") % {
            "name": campaign.name,
        })
        return redirect("staff:campaign", pk=campaign.pk)


class CampaignDetailView(CampaignPage, TemplateView):
    """A campaign's figures and vouchers, and the forms that issue it."""

    template_name = "staff/campaign_detail.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.one_form = self.list_form = None
        return super().dispatch(request, *args, **kwargs)

    def get_campaign(self):
        campaign = campaign_get_for_staff(pk=self.kwargs["pk"])
        if campaign is None:
            raise Http404
        return campaign

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        campaign = kwargs.get("campaign") or self.get_campaign()
        vouchers = voucher_list_for_staff(campaign=campaign)
        context.update(
            campaign=campaign,
            ended=campaign.valid_until <= timezone.now(),
            page_obj=Paginator(vouchers, PAGE_SIZE).get_page(self.request.GET.get("page")),
            one_form=self.one_form or CampaignIssueOneForm(),
            list_form=self.list_form or CampaignIssueListForm(),
        )
        return context


class CampaignIssueView(CampaignDetailView):
    """POST only: issue the campaign to one member (``form=one``) or to a list
    (``form=list``). A list with any wrong line issues nothing; members who
    have the campaign's voucher are not given another."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        campaign = self.get_campaign()
        if campaign.valid_until <= timezone.now():
            messages.error(request, _("This campaign has ended: its vouchers could not be used, so none were issued."))
            return redirect("staff:campaign", pk=campaign.pk)
        single = request.POST.get("form") == "one"
        form = CampaignIssueOneForm(request.POST) if single else CampaignIssueListForm(request.POST, request.FILES)
        if not form.is_valid():
            if single:
                self.one_form = form
            else:
                self.list_form = form
            return self.render_to_response(self.get_context_data(campaign=campaign))
        member_ids = form.recipients.member_ids
        result = campaign_issue(campaign=campaign, member_ids=member_ids, actor=request.user)
        if single:
            member = Member.objects.only("first_name", "last_name", "card_number").get(pk=member_ids[0])
            self.report_one(result, name=member.full_name or member.card_number)
        else:
            self.report(result)
        return redirect("staff:campaign", pk=campaign.pk)

    def report_one(self, result: CampaignIssued, *, name: str) -> None:
        if result.issued:
            messages.success(self.request, _("%(member)s was given the campaign's voucher.") % {"member": name})
        elif result.already:
            messages.info(self.request, _(
                "%(member)s already has this campaign's voucher; nothing was issued."
            ) % {"member": name})
        else:
            messages.warning(self.request, _(
                "%(member)s's account is blocked; nothing was issued."
            ) % {"member": name})

    def report(self, result: CampaignIssued) -> None:
        parts = [ngettext(
            "%(count)s voucher issued.", "%(count)s vouchers issued.", result.issued,
        ) % {"count": points_text(result.issued)}]
        if result.already:
            parts.append(ngettext(
                "%(count)s member already had this campaign's voucher and was not given another.",
                "%(count)s members already had this campaign's voucher and were not given another.",
                result.already,
            ) % {"count": points_text(result.already)})
        if result.inactive:
            parts.append(ngettext(
                "%(count)s member was skipped: their account is blocked.",
                "%(count)s members were skipped: their accounts are blocked.",
                result.inactive,
            ) % {"count": points_text(result.inactive)})
        level = messages.SUCCESS if result.issued else messages.INFO
        messages.add_message(self.request, level, " ".join(parts))
