"""``/staff/bonuses/``: the action bonuses (owner, manager, marketing), and
the "mark a review" form of the member page."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.generic import FormView, View

from loyalty.exceptions import LoyaltyError
from loyalty.forms.bonuses import ActionBonusesForm, ReviewMarkForm
from loyalty.models import ActionBonus
from loyalty.services.bonuses import action_bonuses_save, bonus_review_mark
from loyalty.views.staff import StaffPage
from members.forms import form_add_service_error
from members.views.staff import MemberDetailView


class ActionBonusesView(StaffPage, FormView):
    """The seven bonuses, their points and their switches, in one form."""

    template_name = "staff/bonus_form.html"
    form_class = ActionBonusesForm
    section = "bonuses"

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        kwargs["bonuses"] = {row.kind: row for row in ActionBonus.objects.all()}
        return kwargs

    def form_valid(self, form: ActionBonusesForm) -> HttpResponse:
        try:
            changed = action_bonuses_save(values=form.values())
        except LoyaltyError as error:
            form.add_error(None, error.message)
            return self.form_invalid(form)
        if changed:
            messages.success(self.request, _("The action bonuses were saved."))
        else:
            messages.info(self.request, _("Nothing changed."))
        return redirect("staff:bonuses")


class MemberReviewMarkView(MemberDetailView, View):
    """POST only: the "mark a review" form of the member page; errors are shown on it."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        member = self.get_member()
        form = ReviewMarkForm(request.POST)
        if form.is_valid():
            try:
                entry = bonus_review_mark(member=member, reference=form.cleaned_data["reference"], actor=request.user)
            except LoyaltyError as error:
                form_add_service_error(form, error)
            else:
                messages.success(
                    request,
                    ngettext(
                        "Review bonus of %(points)d point granted.",
                        "Review bonus of %(points)d points granted.",
                        entry.points,
                    ) % {"points": entry.points},
                )
                return redirect("staff:member-detail", pk=member.pk)
        self.review_form = form
        return self.render_to_response(self.get_context_data(**kwargs))
