"""``/me/rewards/`` and ``/me/vouchers/``: the catalog, redeeming with a
confirmation, the waitlist of a full event, and the voucher wallet.

Every voucher is looked up among the logged-in member's own, so another
member's code is a 404. Rewards and vouchers are addressed by their codes,
never by a sequential id.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext
from django.views.generic import TemplateView

from loyalty.services.program import program_get
from members.exceptions import LoyaltyError
from members.forms import form_add_service_error
from members.views.portal import PortalPage
from rewards.codes import voucher_code_normalise
from rewards.forms.portal import RedeemForm, WaitlistForm, redeem_key_new
from rewards.models import Reward, Voucher
from rewards.selectors.portal import (
    catalog_get,
    catalog_item_get,
    reward_list_for_catalog,
    voucher_get_for_member,
    voucher_list_history,
    voucher_list_ready,
)
from rewards.services.redemption import reward_redeem
from rewards.services.waitlist import waitlist_join, waitlist_leave

WALLET_HISTORY_PAGE_SIZE = 20


class RewardListView(PortalPage, TemplateView):
    """What the member can redeem now, how far they are from the rest, and why
    the others cannot be redeemed."""

    template_name = "me/rewards.html"
    section = "rewards"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["catalog"] = catalog_get(member=self.member, program=program_get())
        return context


class RewardView(PortalPage, TemplateView):
    """One reward: its details, and either the confirmation that redeems it
    (balance before and after), the way to its waitlist, or why not."""

    template_name = "me/reward.html"
    section = "rewards"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.redeem_form: RedeemForm | None = None
        self.waitlist_form: WaitlistForm | None = None
        return super().dispatch(request, *args, **kwargs)

    def get_reward(self) -> Reward:
        return get_object_or_404(reward_list_for_catalog(), code=self.kwargs["code"])

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        reward = getattr(self, "reward", None) or self.get_reward()
        context.update(
            reward=reward,
            item=catalog_item_get(member=self.member, program=program_get(), reward=reward),
            redeem_form=self.redeem_form,
            redeem_key=redeem_key_new(),  # a failed attempt issued nothing: the next one gets a new key
            waitlist_form=self.waitlist_form,
        )
        return context

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.reward = self.get_reward()
        if "waitlist" in request.POST:
            return self._waitlist()
        form = self.redeem_form = RedeemForm(request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data())
        try:
            redemption = reward_redeem(
                member=self.member, reward=self.reward, idempotency_key=form.idempotency_key(),
                channel=Voucher.Channel.PORTAL,
            )
        except LoyaltyError as error:
            form_add_service_error(form, error)
            return self.render_to_response(self.get_context_data())
        if redemption.created:  # a repeated submit finds the first voucher; its message is on the way already
            if self.reward.kind == Reward.Kind.DONATION:
                text = gettext("Thank you! Your donation has been given.")
            else:
                text = gettext("Your voucher for %(reward)s is ready. Show it at the till.") % {
                    "reward": self.reward.name,
                }
            messages.success(request, text)
        return redirect("me:voucher", code=redemption.voucher.code)

    def _waitlist(self) -> HttpResponse:
        form = self.waitlist_form = WaitlistForm(self.request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data())
        name = self.reward.name
        if form.cleaned_data["waitlist"] == WaitlistForm.JOIN:
            try:
                waitlist_join(member=self.member, reward=self.reward)
            except LoyaltyError as error:
                form_add_service_error(form, error)
                return self.render_to_response(self.get_context_data())
            messages.success(self.request, gettext(
                "You are on the waitlist for %(reward)s. If a place frees up, it is redeemed for you with your "
                "points and the voucher appears in your wallet."
            ) % {"reward": name})
        elif waitlist_leave(member=self.member, reward=self.reward):
            messages.success(self.request, gettext("You left the waitlist for %(reward)s.") % {"reward": name})
        return redirect("me:reward", code=self.reward.code)


class VoucherListView(PortalPage, TemplateView):
    """The wallet: vouchers ready to use first, then the history, paginated."""

    template_name = "me/vouchers.html"
    section = "rewards"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        history = Paginator(voucher_list_history(member=self.member), WALLET_HISTORY_PAGE_SIZE)
        context.update(
            ready=list(voucher_list_ready(member=self.member)),
            history_page=history.get_page(self.request.GET.get("page")),
        )
        return context


class VoucherView(PortalPage, TemplateView):
    """One of the member's vouchers: QR code, barcode and code to show at the till."""

    template_name = "me/voucher.html"
    section = "rewards"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        voucher = voucher_get_for_member(member=self.member, code=voucher_code_normalise(self.kwargs["code"]))
        if voucher is None:
            raise Http404
        context["voucher"] = voucher
        return context
