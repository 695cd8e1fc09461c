"""Undo the cashier's last action, after a confirmation."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.generic import TemplateView

from loyalty.exceptions import NothingToUndo
from loyalty.models import TillAction
from loyalty.services.till import (
    till_action_last,
    till_undo_check,
    till_undo_last,
)
from loyalty.templatetags.loyalty_tags import money
from loyalty.views.till.base import TillPage
from members.exceptions import LoyaltyError


class UndoView(TillPage, TemplateView):
    """GET: what the cashier's last action was and a confirmation; POST: undo it."""

    template_name = "till/undo.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        action = till_action_last(user=request.user, store=self.store)
        problem = None
        try:
            till_undo_check(action=action)
        except LoyaltyError as error:
            problem = error.message
        already = action is not None and action.kind == TillAction.Kind.PURCHASE and hasattr(action, "undone_by")
        return self.render_to_response(self.get_context_data(
            action=action, problem=problem, already=already,
            window_minutes=max(1, round(settings.TILL_UNDO_SECONDS / 60)),
        ))

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        action_id = request.POST.get("action", "")
        try:
            if not action_id.isdigit():
                raise NothingToUndo()
            undo = till_undo_last(user=request.user, store=self.store, action_id=int(action_id))
        except LoyaltyError as error:
            action = till_action_last(user=request.user, store=self.store)
            return self.render_to_response(
                self.get_context_data(action=action, problem=error.message, already=False), status=409
            )
        purchase = undo.undone.purchase
        if undo.created:
            points = undo.refund_result.points_reversed
            messages.success(request, ngettext(
                "Purchase of %(amount)s undone: %(points)d point taken back.",
                "Purchase of %(amount)s undone: %(points)d points taken back.", points,
            ) % {"amount": money(undo.refund_result.refund.amount, purchase.currency), "points": points})
        else:
            messages.info(request, _("This purchase was already undone; nothing more was changed."))
        card = undo.undone.member.card_number if undo.undone.member else None
        return redirect("till:member", card=card) if card else redirect("till:search")
