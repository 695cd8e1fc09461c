"""``/staff/rules/``: earning rules (list, create, edit, pause, resume, archive,
copy) and the simulator. Owner, manager and marketing.

Every change goes through ``rule_save``, which validates the rule and clears
the active rules' cache; the simulator writes nothing.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import time_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views import View
from django.views.generic import FormView, ListView, TemplateView

from loyalty.earning import earning_simulate
from loyalty.exceptions import RuleStatusUnchanged
from loyalty.forms.rules import WEEKDAYS, EarnRuleForm, RuleFilterForm, SimulateForm
from loyalty.models import EarnRule
from loyalty.selectors import program_get_or_none
from loyalty.selectors.rules import rule_list_for_staff, rule_list_paused
from loyalty.services.rules import (
    SIMULATED_RULE_ID,
    active_rules,
    rule_copy,
    rule_save,
    rule_snapshot,
    rule_status_change,
)
from loyalty.templatetags.loyalty_tags import local_datetime, money, number
from loyalty.views.staff import StaffPage
from members.selectors import member_get_by_card

DAY_NAMES = dict(WEEKDAYS)


def _tiers(form: EarnRuleForm) -> list | None:
    """The tiers ticked, or ``None`` (leave them) when the form had no tier field."""
    return list(form.cleaned_data["tiers"]) if "tiers" in form.cleaned_data else None


def program_tz() -> ZoneInfo:
    program = program_get_or_none()
    return program.tz if program else ZoneInfo("UTC")


def _weekdays_text(days: list[int]) -> str:
    days = sorted(set(days))
    if days == [5, 6]:
        return _("weekends")
    if days == [0, 1, 2, 3, 4]:
        return _("weekdays")
    return ", ".join(str(DAY_NAMES[day]) for day in days if day in DAY_NAMES)


def rule_conditions(rule: EarnRule, *, currency: str = "") -> list[str]:
    """The rule's conditions in words, for the list; the stores and tiers must be prefetched."""
    parts: list[str] = []
    if rule.weekdays:
        parts.append(_weekdays_text(rule.weekdays))
    if rule.hours_start is not None and rule.hours_end is not None:
        parts.append(_("%(start)s–%(end)s") % {
            "start": time_format(rule.hours_start, "H:i"), "end": time_format(rule.hours_end, "H:i"),
        })
    stores = list(rule.stores.all())
    if stores:
        parts.append(_("stores: %(names)s") % {"names": ", ".join(store.code for store in stores)})
    tiers = list(rule.tiers.all())
    if tiers:
        parts.append(_("tiers: %(names)s") % {"names": ", ".join(tier.name for tier in tiers)})
    if rule.segments:
        parts.append(_("segments: %(ids)s") % {"ids": ", ".join(str(item) for item in rule.segments)})
    if rule.categories:
        parts.append(_("categories: %(names)s") % {"names": ", ".join(rule.categories)})
    if rule.skus:
        parts.append(_("SKUs: %(names)s") % {"names": ", ".join(rule.skus)})
    if rule.min_spend is not None:
        spend = money(rule.min_spend, currency) if currency else number(rule.min_spend)
        parts.append(_("spend at least %(amount)s") % {"amount": spend})
    if rule.first_purchase_only:
        parts.append(_("first purchase only"))
    if rule.birthday_week:
        parts.append(_("birthday week"))
    return parts


def rule_value_text(rule: EarnRule) -> str:
    """What the rule gives, in words: "×2", "+10 per unit", "+50 points", "5% of spend", "10 stamps: 100 points",
    "a voucher for Free coffee for a card of 10 stamps" (select the reward with the rule)."""
    value = number(rule.value)
    kind = EarnRule.Kind
    if rule.kind == kind.MULTIPLIER:
        return _("×%(value)s the base points") % {"value": value}
    if rule.kind == kind.PER_UNIT:
        return _("+%(value)s per unit") % {"value": value}
    if rule.kind == kind.FIXED:
        return _("+%(value)s points") % {"value": value}
    if rule.kind == kind.PERCENT:
        return _("+%(value)s%% of spend") % {"value": value}
    if rule.kind == kind.STAMPS and rule.reward_id is not None:
        return ngettext(
            "a voucher for %(reward)s for a card of %(count)d stamp",
            "a voucher for %(reward)s for a card of %(count)d stamps",
            rule.stamps_needed or 0,
        ) % {"reward": rule.reward.name, "count": rule.stamps_needed or 0}
    if rule.kind == kind.STAMPS:
        return ngettext(
            "%(value)s points for a card of %(count)d stamp",
            "%(value)s points for a card of %(count)d stamps",
            rule.stamps_needed or 0,
        ) % {"value": value, "count": rule.stamps_needed or 0}
    return value


def rule_schedule_text(rule: EarnRule, tz: ZoneInfo) -> str:
    if rule.starts_at and rule.ends_at:
        return _("%(start)s to %(end)s") % {"start": local_datetime(rule.starts_at, tz),
                                           "end": local_datetime(rule.ends_at, tz)}
    if rule.starts_at:
        return _("from %(start)s") % {"start": local_datetime(rule.starts_at, tz)}
    if rule.ends_at:
        return _("until %(end)s") % {"end": local_datetime(rule.ends_at, tz)}
    return _("always")


class RuleListView(StaffPage, ListView):
    template_name = "staff/rule_list.html"
    section = "rules"
    paginate_by = 50
    context_object_name = "rules"

    def get_queryset(self):
        self.filter_form = RuleFilterForm(self.request.GET or None)
        statuses = self.filter_form.statuses() if self.filter_form.is_bound else RuleFilterForm().statuses()
        return rule_list_for_staff(statuses=statuses)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(filter_form=self.filter_form, **kwargs)
        program = program_get_or_none()
        tz = program.tz if program else ZoneInfo("UTC")
        currency = program.currency if program else ""
        context["rows"] = [
            {
                "rule": rule, "value": rule_value_text(rule), "schedule": rule_schedule_text(rule, tz),
                "conditions": rule_conditions(rule, currency=currency),
            }
            for rule in context["rules"]
        ]
        context["zone"] = str(tz)
        return context


class RuleEditView(StaffPage, FormView):
    """Create a rule (no ``pk``) or change one. Archived rules are kept as they
    were, for the breakdowns that name them: copy one to start again."""

    template_name = "staff/rule_form.html"
    form_class = EarnRuleForm
    section = "rules"

    def load(self) -> None:
        self.rule = get_object_or_404(EarnRule, pk=self.kwargs["pk"]) if "pk" in self.kwargs else None

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if self.rule is not None and self.rule.status == EarnRule.Status.ARCHIVED:
            messages.error(request, _("An archived rule cannot be changed; copy it to make a new one."))
            return redirect("staff:rule-edit", pk=self.rule.pk)
        return super().post(request, *args, **kwargs)

    def get_form(self, form_class=None) -> EarnRuleForm:
        if self.request.method == "GET" and self.request.GET.get("draft") == "1":
            # Back from the simulator: the rule as it was typed, still not saved.
            form = draft_form(self.request, rule_pk=self.rule.pk if self.rule else None)
            if form is not None:
                return form
        return super().get_form(form_class)

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "instance": self.rule, "tz": program_tz()}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(rule=self.rule, **kwargs)
        context["archived"] = self.rule is not None and self.rule.status == EarnRule.Status.ARCHIVED
        return context

    def form_valid(self, form: EarnRuleForm) -> HttpResponse:
        created = self.rule is None
        try:
            rule = rule_save(rule=form.instance, stores=list(form.cleaned_data["stores"]), tiers=_tiers(form))
        except ValidationError as error:
            form.add_error(None, error)
            return self.form_invalid(form)
        self.request.session.pop(DRAFT_SESSION_KEY, None)
        if created:
            messages.success(self.request, _("Rule %(name)s was created.") % {"name": rule.name})
        else:
            messages.success(self.request, _("Rule %(name)s was saved.") % {"name": rule.name})
        return redirect("staff:rules")


class RuleActionView(StaffPage, View):
    """POST only: pause, resume, archive or copy a rule (``action`` from the URL)."""

    http_method_names = ["post"]
    action = ""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        rule = get_object_or_404(EarnRule.objects.prefetch_related("stores", "tiers"), pk=kwargs["pk"])
        if self.action == "copy":
            copy = rule_copy(rule=rule, name=_("Copy of %(name)s") % {"name": rule.name})
            messages.success(request, _("A paused copy of %(name)s was made; change it and resume it when ready.") % {
                "name": rule.name,
            })
            return redirect("staff:rule-edit", pk=copy.pk)
        done = {
            "pause": _("Rule %(name)s is paused: it gives no points until resumed."),
            "resume": _("Rule %(name)s is active again."),
            "archive": _("Rule %(name)s is archived: it gives no points and stays in the history."),
        }
        if self.action not in done:
            raise Http404
        try:
            rule_status_change(rule=rule, action=self.action)
        except RuleStatusUnchanged as error:
            messages.error(request, error.message)
            return redirect("staff:rules")
        except ValidationError as error:
            messages.error(request, _("Rule %(name)s could not be changed: %(errors)s") % {
                "name": rule.name, "errors": " ".join(error.messages),
            })
            return redirect("staff:rule-edit", pk=rule.pk)
        messages.success(request, done[self.action] % {"name": rule.name})
        return redirect("staff:rules")


# -- the simulator -----------------------------------------------------------------

DRAFT_SESSION_KEY = "staff_rule_draft"
DRAFT_SKIP = {"csrfmiddlewaretoken", "draft"}


def draft_store(request: HttpRequest, *, rule: EarnRule | None) -> None:
    """Keep the rule form as typed (not saved) for the simulator and the way back."""
    request.session[DRAFT_SESSION_KEY] = {
        "rule": rule.pk if rule else None,
        "data": {key: request.POST.getlist(key) for key in request.POST if key not in DRAFT_SKIP},
    }


def draft_form(request: HttpRequest, *, rule_pk: int | str | None = "any") -> EarnRuleForm | None:
    """The rule form rebuilt from the kept draft (``None`` without one, or when it
    is the draft of another rule than ``rule_pk``)."""
    draft = request.session.get(DRAFT_SESSION_KEY)
    if not draft or (rule_pk != "any" and draft.get("rule") != rule_pk):
        return None
    rule = EarnRule.objects.filter(pk=draft["rule"]).first() if draft.get("rule") else None
    if draft.get("rule") and rule is None:
        return None
    data = QueryDict(mutable=True)
    for key, values in draft["data"].items():
        data.setlist(key, values)
    return EarnRuleForm(data, instance=rule, tz=program_tz())


class SimulateView(StaffPage, TemplateView):
    """A basket tried on the active rules, ticked paused rules and the rule being
    edited (a draft kept in the session); shows the points per rule. Writes
    nothing (the draft lives in the session only)."""

    template_name = "staff/rule_simulate.html"
    section = "rules"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """From the rule form's "Try in the simulator": check the rule, keep it as a draft."""
        value = request.POST.get("draft", "")
        rule = get_object_or_404(EarnRule, pk=value) if value.isdigit() else None
        form = EarnRuleForm(request.POST, instance=rule, tz=program_tz())
        if not form.is_valid():
            context = self.get_context_data(form=form, rule=rule, archived=False)
            return self.response_class(request, "staff/rule_form.html", context)
        draft_store(request, rule=rule)
        return redirect(f"{reverse('staff:rule-simulate')}?draft=1")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        if "form" in kwargs:  # the rule form sent back with its errors
            return context
        program = program_get_or_none()
        tz = program.tz if program else ZoneInfo("UTC")
        params = self.request.GET
        use_draft = params.get("draft") == "1"
        rule_form = draft_form(self.request) if use_draft else None
        draft = None
        if rule_form is not None and rule_form.is_valid():
            draft = rule_form.instance
            draft_snapshot = rule_snapshot(
                draft, rule_id=draft.pk or SIMULATED_RULE_ID,
                stores=list(rule_form.cleaned_data["stores"]), tiers=_tiers(rule_form),
            )
        bound = any(key in params for key in ("store", "amount"))
        initial = {"purchased_at": timezone.now().astimezone(tz).replace(tzinfo=None, second=0, microsecond=0),
                   "draft": "1" if draft else ""}
        form = SimulateForm(
            params if bound else None, initial=initial, paused=rule_list_paused(),
            find_member=lambda card: member_get_by_card(card_number=card),
        )
        context.update(basket_form=form, draft=draft, draft_pk=draft.pk if draft else None, program=program)
        if not bound or not form.is_valid() or program is None:
            return context
        data = form.cleaned_data
        extra = list(data.get("include") or [])
        snapshots = [rule_snapshot(rule) for rule in extra]
        if draft is not None:
            snapshots = [snap for snap in snapshots if snap.id != draft_snapshot.id] + [draft_snapshot]
        evaluation = earning_simulate(
            store=data["store"], purchased_at=data["purchased_at"], amount=data["amount"], lines=data["lines"],
            member=data["card"], tier=data["tier"], extra_rules=snapshots, program=program, caps=data["caps"],
        )
        applied_ids = {item.rule_id for item in evaluation.applied}
        considered = {rule.id: rule.name for rule in active_rules().rules}
        considered.update({snap.id: snap.name for snap in snapshots})
        context.update(
            evaluation=evaluation,
            breakdown=evaluation.breakdown,
            draft_id=draft_snapshot.id if draft is not None else None,
            paused_ids={rule.pk for rule in extra},
            not_applied=[name for rule_id, name in considered.items() if rule_id not in applied_ids],
            simulated_member=data["card"],
        )
        return context
