"""``/staff/rewards/``: the catalog (owner, manager and marketing).

The reward list with stock and voucher figures, creating and editing a
reward (with its image), archiving and restoring, a partner reward's code
pool, and the charities. Rewards and charities are addressed by their code,
never by id. Every change goes through ``rewards.services.catalog``.
"""

from __future__ import annotations

import copy
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views import View
from django.views.generic import FormView, ListView

from loyalty.selectors import program_get_or_none
from loyalty.views.staff import StaffPage
from loyalty.views.staff_tiers import form_add_validation_error
from members.exceptions import LoyaltyError
from members.forms import form_add_service_error
from rewards.exceptions import PartnerCodesFileInvalid
from rewards.forms.catalog import CharityForm, PartnerCodesForm, RewardFilterForm, RewardForm
from rewards.models import Charity, Reward
from rewards.selectors.catalog import (
    charity_list_for_staff,
    reward_event_places,
    reward_get_for_staff,
    reward_list_for_staff,
    reward_stock_left,
)
from rewards.services.catalog import charity_save, reward_archive, reward_restore, reward_save
from rewards.services.images import reward_image_remove, reward_image_store
from rewards.services.partner_codes import partner_code_counts, partner_codes_import, partner_file_error_text

PAGE_SIZE = 50


def _reward_or_404(code: str) -> Reward:
    reward = reward_get_for_staff(code=code)
    if reward is None:
        raise Http404
    return reward


class RewardListView(StaffPage, ListView):
    template_name = "staff/reward_list.html"
    section = "rewards"
    paginate_by = PAGE_SIZE
    context_object_name = "rewards"

    def get_queryset(self):
        self.filter_form = RewardFilterForm(self.request.GET or None)
        status, kind = Reward.Status.ACTIVE, None
        if self.filter_form.is_bound and self.filter_form.is_valid():
            chosen = self.filter_form.cleaned_data["status"]
            status = None if chosen == "all" else (chosen or Reward.Status.ACTIVE)
            kind = self.filter_form.cleaned_data["kind"] or None
        return reward_list_for_staff(status=status, kind=kind)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(filter_form=self.filter_form, **kwargs)
        for reward in context["rewards"]:
            reward.stock_left = reward_stock_left(reward)
            reward.places = reward_event_places(reward) if reward.is_event else None
        context["filtered"] = bool(self.request.GET.get("status") or self.request.GET.get("kind"))
        return context


class RewardEditView(StaffPage, FormView):
    """Create (no ``code``) or edit a reward, with its image."""

    template_name = "staff/reward_form.html"
    form_class = RewardForm
    section = "rewards"

    def load(self) -> None:
        self.reward = _reward_or_404(self.kwargs["code"]) if "code" in self.kwargs else None

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        locked = self.reward is not None and self.reward.vouchers.exists()
        kwargs.update(instance=self.reward, program=program_get_or_none(), kind_locked=locked)
        if self.reward is None:
            kwargs["initial"] = {"voucher_valid_days": 30, "in_catalog": True, "kind": Reward.Kind.AMOUNT}
        return kwargs

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        preview_texts = {
            "alt": _("Preview of the chosen image"),
            "note": _("Preview of the chosen image. When you save, it is shrunk to fit 1200 × 1200 pixels "
                      "and becomes the image members see."),
        }
        return super().get_context_data(reward=self.reward, preview_texts=preview_texts, **kwargs)

    def form_valid(self, form: RewardForm) -> HttpResponse:
        upload = form.cleaned_data.get("image")
        extra = {"stock_seen": form.cleaned_data.get("stock_seen")} if self.reward else {}
        try:
            with transaction.atomic():  # a refused image leaves the reward unsaved too
                reward = reward_save(
                    # a copy: the page still names the reward as stored if the save is refused
                    reward=copy.copy(self.reward), data=form.reward_data(), actor=self.request.user, **extra,
                )
                if form.cleaned_data.get("remove_image"):
                    reward_image_remove(reward=reward)
                if upload:
                    reward_image_store(reward=reward, upload=upload)
        except ValidationError as error:
            form_add_validation_error(form, error)
            return self.form_invalid(form)
        except LoyaltyError as error:
            form_add_service_error(form, error)
            return self.form_invalid(form)
        if self.reward is None:
            messages.success(self.request, _("Reward %(name)s was created.") % {"name": reward.name})
            if reward.kind == Reward.Kind.PARTNER:
                messages.info(self.request, _("Now upload the partner's codes: each redemption hands out one."))
                return redirect("staff:reward-codes", code=reward.code)
        else:
            messages.success(self.request, _("Reward %(name)s was saved.") % {"name": reward.name})
        return redirect("staff:rewards")


class RewardArchiveView(StaffPage, View):
    """POST: archive a reward (``restore=True``: bring it back)."""

    http_method_names = ["post"]
    restore = False

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        reward = _reward_or_404(kwargs["code"])
        if not self.restore:
            reward_archive(reward=reward, actor=request.user)
            messages.success(request, _(
                "Reward %(name)s was archived: members can no longer redeem it. Vouchers already issued "
                "can still be used until they expire."
            ) % {"name": reward.name})
            return redirect("staff:rewards")
        try:
            reward_restore(reward=reward, actor=request.user)
        except ValidationError as error:
            messages.error(request, _("Reward %(name)s could not be restored: %(errors)s") % {
                "name": reward.name, "errors": " ".join(error.messages),
            })
            return redirect("staff:reward-edit", code=reward.code)
        messages.success(request, _("Reward %(name)s is back in the catalog.") % {"name": reward.name})
        return redirect("staff:rewards")


class RewardCodesView(StaffPage, FormView):
    """A partner reward's pool of codes: the counts, and a CSV upload."""

    template_name = "staff/reward_codes.html"
    form_class = PartnerCodesForm
    section = "rewards"

    def load(self) -> None:
        self.reward = _reward_or_404(self.kwargs["code"])
        if self.reward.kind != Reward.Kind.PARTNER:
            raise Http404
        self.file_errors: list[str] = []

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        free, used = partner_code_counts(reward=self.reward)
        return super().get_context_data(
            reward=self.reward, free=free, used=used, file_errors=self.file_errors, **kwargs
        )

    def form_valid(self, form: PartnerCodesForm) -> HttpResponse:
        try:
            result = partner_codes_import(reward=self.reward, file=form.cleaned_data["file"])
        except PartnerCodesFileInvalid as invalid:
            form.add_error("file", invalid.message)
            self.file_errors = [partner_file_error_text(line, message) for line, message in invalid.errors]
            return self.form_invalid(form)
        except LoyaltyError as error:
            form_add_service_error(form, error)
            return self.form_invalid(form)
        if result.added:
            messages.success(self.request, ngettext(
                "%(added)d code was added to the pool (%(skipped)d already there). %(free)d codes are free.",
                "%(added)d codes were added to the pool (%(skipped)d already there). %(free)d codes are free.",
                result.added,
            ) % {"added": result.added, "skipped": result.skipped, "free": result.free})
        else:
            messages.info(self.request, ngettext(
                "Nothing was added: the file's %(skipped)d code is already in the pool.",
                "Nothing was added: all %(skipped)d codes of the file are already in the pool.",
                result.skipped,
            ) % {"skipped": result.skipped})
        return redirect("staff:reward-codes", code=self.reward.code)


class CharityListView(StaffPage, ListView):
    template_name = "staff/charity_list.html"
    section = "rewards"
    paginate_by = PAGE_SIZE
    context_object_name = "charities"

    def get_queryset(self):
        return charity_list_for_staff()


class CharityEditView(StaffPage, FormView):
    """Create (no ``code``) or edit a charity."""

    template_name = "staff/charity_form.html"
    form_class = CharityForm
    section = "rewards"

    def load(self) -> None:
        self.charity = get_object_or_404(Charity, code=self.kwargs["code"]) if "code" in self.kwargs else None

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "instance": self.charity}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(charity=self.charity, **kwargs)

    def form_valid(self, form: CharityForm) -> HttpResponse:
        try:
            charity = charity_save(charity=self.charity, data=form.charity_data(), actor=self.request.user)
        except ValidationError as error:
            form_add_validation_error(form, error)
            return self.form_invalid(form)
        messages.success(self.request, _("Charity %(name)s was saved.") % {"name": charity.name})
        return redirect("staff:charities")
