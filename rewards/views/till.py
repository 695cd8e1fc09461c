"""``/till/``: vouchers taken at the counter, and rewards redeemed for a member there.

- The till's one box posts to ``till:scan``: a voucher code shows the voucher
  (what it is worth, whose it is, until when) with a single "Use voucher"
  action or exactly why it cannot be used; anything else goes on to the member
  search. Lookups and uses are POSTs with the code in the body, so the code of
  a usable voucher never appears in an address, a browser history or an access
  log; only a used voucher's confirmation is reached by its code.
- From the member page: the rewards the member can redeem now (and briefly why
  not the rest), a confirmation with the balance after, then the voucher with
  its code and "use now".

Every code a cashier types or scans goes through ``VoucherThrottle.for_user``.
Each use and redemption is written to the till's log (``TillAction``) in the
same transaction as the service call. Neither can be undone at the till: a
manager cancels a redeemed voucher in ``/staff/`` (its points come back).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.generic import TemplateView

from loyalty.exceptions import InsufficientPoints
from loyalty.forms.till import TillSearchForm
from loyalty.models import Program, TillAction
from loyalty.services.program import program_get
from loyalty.templatetags.loyalty_tags import points as points_text
from loyalty.views.till.base import TillPage
from members.exceptions import LoyaltyError
from members.models import Member
from members.selectors import member_get_by_card
from rewards.codes import voucher_code_normalise
from rewards.exceptions import (
    EventFull,
    RewardLimitReached,
    RewardOutOfStock,
    RewardUnavailable,
    TierTooLow,
    VoucherNotUsable,
)
from rewards.forms.till import RedeemForm, VoucherUseForm, voucher_code_meant
from rewards.models import Reward, Voucher
from rewards.selectors.portal import CatalogItem, catalog_get, reward_list_for_catalog
from rewards.services.redemption import reward_redeemable_check
from rewards.services.throttle import VoucherThrottle
from rewards.services.till import till_reward_redeem, till_voucher_use
from rewards.services.vouchers import VoucherCheck, voucher_check

# -- the rewards a member can redeem now ---------------------------------------------------


def reason_brief(error: LoyaltyError) -> str:
    """A few words on why a reward is not offered, for the list."""
    if isinstance(error, InsufficientPoints):
        missing = int(error.params["needed"]) - int(error.params["available"])
        return ngettext("%(points)s more point needed", "%(points)s more points needed", missing) % {
            "points": points_text(missing)}
    if isinstance(error, TierTooLow):
        return _("For %(tier)s members and above") % {"tier": error.params["tier"]}
    if isinstance(error, RewardLimitReached):
        return {
            Reward.LimitPeriod.DAY: _("Limit reached for today"),
            Reward.LimitPeriod.WEEK: _("Limit reached for this week"),
            Reward.LimitPeriod.MONTH: _("Limit reached for this month"),
            Reward.LimitPeriod.YEAR: _("Limit reached for this year"),
        }.get(error.params.get("period"), _("Limit reached"))
    if isinstance(error, EventFull):
        return _("Full")
    if isinstance(error, RewardOutOfStock):
        return _("Out of stock")
    if isinstance(error, RewardUnavailable) and error.params.get("reason") == "not_yet":
        return _("From %(date)s") % {"date": error.params["date"]}
    return error.message


def reason_full(error: LoyaltyError, *, member: Member) -> str:
    """The service's message, in the till's words where it speaks to the member."""
    if isinstance(error, InsufficientPoints):
        return _("%(name)s has %(available)s points; this reward costs %(needed)s.") % {
            "name": member.full_name or member.card_number,
            "available": points_text(error.params["available"]), "needed": points_text(error.params["needed"]),
        }
    return error.message


@dataclass(frozen=True)
class RewardRow:
    item: CatalogItem

    @property
    def reward(self) -> Reward:
        return self.item.reward

    @property
    def reason(self) -> str:
        return reason_brief(self.item.problem) if self.item.problem else ""


def till_reward_rows(*, member: Member, program: Program, now: dt.datetime) -> list[RewardRow]:
    """The catalog for ``member`` at the counter, by points cost, each reward
    with the first reason ``reward_redeemable_check`` (with stock) gives for
    not redeeming it now, or none: ``catalog_get``, in a fixed number of
    queries. Rewards whose window or event is over are left out. ``member``
    carries ``available`` (``member_get_by_card``). The redemption itself
    checks again, under the account lock."""
    rewards = (
        reward_list_for_catalog()
        .exclude(available_until__lte=now)
        .exclude(kind=Reward.Kind.EVENT, event_at__lte=now)
    )
    catalog = catalog_get(
        member=member, program=program, rewards=rewards, available=member.available, with_waitlist=False, now=now
    )
    return [RewardRow(item=item) for item in catalog.items]


# -- pages ---------------------------------------------------------------------------------


class _MemberPage(TillPage, TemplateView):
    def get_member(self) -> Member:
        member = member_get_by_card(card_number=self.kwargs["card"])
        if member is None:
            raise Http404
        return member


def _search_url(query: str) -> str:
    return f"{reverse('till:search')}?{urlencode({'q': query})}"


@method_decorator(never_cache, name="dispatch")  # pages that show a usable voucher's code are never kept
class VoucherPage(TillPage, TemplateView):
    """Shows a voucher found by a code (``till/voucher.html``), or the code back
    in the search box with what is wrong with it (``till/search.html``)."""

    template_name = "till/voucher.html"

    def code_error(self, query: str, error: LoyaltyError) -> HttpResponse:
        form = TillSearchForm({"q": query})
        form.is_valid()
        form.add_error("q", error.message)
        self.template_name = "till/search.html"
        return self.render_to_response(
            self.get_context_data(search_form=form, found=[], voucher_error=True), status=error.status
        )

    def voucher_page(
        self, check: VoucherCheck, *, form: VoucherUseForm | None = None, problem: str = "", status: int = 200
    ) -> HttpResponse:
        problem = problem or (check.problem.message if check.problem else "")
        if not problem and form is None:
            form = VoucherUseForm(initial={"code": check.voucher.code})
        return self.render_to_response(
            self.get_context_data(voucher=check.voucher, problem=problem, use_form=None if problem else form),
            status=status,
        )


class ScanView(VoucherPage):
    """POST from the till's one box: a voucher code is looked up and shown here;
    anything else is a member search (a GET of ``till:search``)."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = TillSearchForm(request.POST)
        if not form.is_valid():
            return redirect("till:search")
        query = form.cleaned_data["q"]
        if not voucher_code_meant(query):
            return redirect(_search_url(query))
        try:
            check = voucher_check(code=query, throttle=VoucherThrottle.for_user(request.user))
        except LoyaltyError as error:  # not a code, no such voucher, or too many wrong codes
            return self.code_error(query, error)
        return self.voucher_page(check)


class VoucherUseView(VoucherPage):
    """POST "Use voucher": used once, at this store, by this cashier, on the
    receipt typed; then the confirmation. The same form sent twice (a double
    press) shows the confirmation again; anyone else learns when and where it
    was used."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = VoucherUseForm(request.POST)
        code = request.POST.get(form.add_prefix("code"), "")
        throttle = VoucherThrottle.for_user(request.user)
        if not form.is_valid():  # an expired or damaged form, a receipt too long: shown on the form
            try:
                check = voucher_check(code=code, throttle=throttle)
            except LoyaltyError as error:
                return self.code_error(code, error)
            return self.voucher_page(check, form=form, status=400)
        try:
            use = till_voucher_use(
                code=code, user=request.user, store=self.store, receipt=form.cleaned_data["receipt"]
            )
        except VoucherNotUsable as error:
            check = voucher_check(code=code)  # it exists: the error came after the lookup
            voucher = check.voucher
            if (
                error.reason == "used" and voucher.used_by_id == request.user.pk
                and voucher.used_store_id == self.store.pk and voucher.used_at >= form.cleaned_data["token"].issued_at
            ):  # used after this very form was shown, by this cashier here: the form sent twice
                messages.info(request, _("This voucher was already used by this form; nothing more was done."))
                return redirect("till:voucher-used", code=voucher.code)
            return self.voucher_page(check, problem=error.message, status=error.status)
        except LoyaltyError as error:
            return self.code_error(code, error)
        if not use.created:
            messages.info(request, _("This voucher was already used on this receipt; nothing more was done."))
        return redirect("till:voucher-used", code=use.voucher.code)


class VoucherUsedView(TillPage, TemplateView):
    """The confirmation of a voucher used at this store (only a used voucher's
    code is ever in an address), with the member's balance and the box for
    the next customer."""

    template_name = "till/voucher_used.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        voucher = (
            Voucher.objects.select_related("reward__charity", "member")
            .filter(code=voucher_code_normalise(self.kwargs["code"]), status=Voucher.Status.USED, used_store=self.store)
            .first()
        )
        if voucher is None:
            raise Http404
        member = member_get_by_card(card_number=voucher.member.card_number) or voucher.member
        return super().get_context_data(voucher=voucher, member=member, **kwargs)


class RedeemListView(_MemberPage):
    """The rewards ``member`` can redeem now, and briefly why not the rest."""

    template_name = "till/redeem.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        member = self.get_member()
        rows = till_reward_rows(member=member, program=program_get(), now=timezone.now())
        return super().get_context_data(
            member=member, redeemable=[row for row in rows if row.item.can_redeem],
            others=[row for row in rows if not row.item.can_redeem],
            member_inactive=member.status != Member.Status.ACTIVE, **kwargs,
        )


class RedeemConfirmView(_MemberPage):
    """GET: the reward, its cost and the balance after, and "Redeem"; POST:
    redeem it (the form's token is the idempotency key) and show the voucher."""

    template_name = "till/redeem_confirm.html"

    def get_reward(self) -> Reward:
        return get_object_or_404(Reward.objects.select_related("min_tier", "charity"), code=self.kwargs["reward"])

    def page(self, *, member: Member, reward: Reward, problem: str = "", error: str = "",
             status: int = 200) -> HttpResponse:
        """``problem``: why the reward cannot be redeemed (no button); ``error``:
        what was wrong with the form sent (a fresh one is offered)."""
        if not problem:
            try:
                reward_redeemable_check(
                    reward=reward, member=member, account=None, program=program_get(), now=timezone.now(), stock=True
                )
            except LoyaltyError as reason:
                problem = reason_full(reason, member=member)
        return self.render_to_response(self.get_context_data(
            member=member, reward=reward, problem=problem, error=error, form=RedeemForm(),
            balance_after=member.available - reward.points_cost,
        ), status=status)

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self.page(member=self.get_member(), reward=self.get_reward())

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        member, reward = self.get_member(), self.get_reward()
        form = RedeemForm(request.POST)
        if not form.is_valid():  # the token: open too long, or damaged
            error = " ".join(str(message) for messages_ in form.errors.values() for message in messages_)
            return self.page(member=member, reward=reward, error=error, status=400)
        try:
            result = till_reward_redeem(
                member=member, reward=reward, idempotency_key=form.idempotency_key(), user=request.user,
                store=self.store,
            )
        except LoyaltyError as error:
            member = self.get_member()  # balances as they are now
            return self.page(
                member=member, reward=reward, problem=reason_full(error, member=member), status=error.status
            )
        if not result.created:
            messages.info(request, _("This reward was already redeemed by this form; no more points were taken."))
        return redirect("till:redeem-done", card=member.card_number, reward=reward.code)


@method_decorator(never_cache, name="dispatch")
class RedeemDoneView(_MemberPage):
    """The voucher this cashier just issued for the member (their latest
    redemption of the reward at this store): its code, and "use now"."""

    template_name = "till/redeem_done.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        member = self.get_member()
        action = (
            TillAction.objects.filter(
                kind=TillAction.Kind.REDEEM, user=self.request.user, store=self.store, member=member,
                voucher__reward__code=self.kwargs["reward"],
            )
            .select_related("voucher__reward__charity", "voucher__partner_code")
            .order_by("-at", "-pk")
            .first()
        )
        if action is None:
            raise Http404
        voucher = action.voucher
        check = voucher_check(code=voucher.code)  # read-only; the code is not typed, so not throttled
        usable = check.usable and voucher.reward.kind != Reward.Kind.DONATION
        kwargs.pop("reward", None)  # the URL's reward code: the page shows the reward itself
        return super().get_context_data(
            member=member, voucher=check.voucher, reward=voucher.reward, usable=usable,
            problem=check.problem.message if check.problem else "",
            use_form=VoucherUseForm(initial={"code": voucher.code}) if usable else None,
            partner_code=getattr(voucher, "partner_code", None), **kwargs,
        )
