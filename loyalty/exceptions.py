"""Domain errors of the program and the ledger.

Each carries a stable ``code`` for the API, an HTTP ``status`` and a
translatable message template with named parameters. ``field`` names the
input the error is about, when there is one, so forms and imports can point
at it.
"""

from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from members.exceptions import LoyaltyError

__all__ = ["LoyaltyError"]


class ProgramNotConfigured(LoyaltyError):
    code = "program_not_configured"
    status = 503
    template = _("The loyalty program has not been set up yet.")


class InvalidAmount(LoyaltyError):
    code = "invalid_amount"
    field = "amount"
    template = _("The amount must be a positive number with at most %(places)d decimal places.")


class CurrencyMismatch(LoyaltyError):
    code = "currency_mismatch"
    field = "currency"
    template = _("The currency %(given)s is not the program currency %(expected)s.")


class InvalidTime(LoyaltyError):
    code = "invalid_time"
    template = _("%(field)s must be a date and time that is not in the future.")


class MemberNotActive(LoyaltyError):
    code = "member_not_active"
    status = 409
    field = "member"
    template = _("Member %(card)s is not active.")


class ExternalIdConflict(LoyaltyError):
    code = "external_id_conflict"
    status = 409
    field = "external_id"
    template = _(
        "The external id %(external_id)s was already used for a different "
        "%(what)s; send a new id or the same data as before."
    )
    templates = {
        "purchase": _(
            "The external id %(external_id)s was already used for a different "
            "purchase; send a new id or the same data as before."
        ),
        "refund": _(
            "The external id %(external_id)s was already used for a different "
            "refund; send a new id or the same data as before."
        ),
        "member": _(
            "The external id %(external_id)s was already used for a different "
            "member; send a new id or the same data as before."
        ),
    }

    def message_template(self) -> object:
        return self.templates.get(str(self.params.get("what", "")), self.template)


class RefundTooLarge(LoyaltyError):
    code = "refund_too_large"
    status = 409
    field = "amount"
    template = _("At most %(refundable)s of this purchase can still be refunded.")


class RefundBeforePurchase(LoyaltyError):
    code = "refund_before_purchase"
    field = "refunded_at"
    template = _("A refund cannot be dated before its purchase.")


class InsufficientPoints(LoyaltyError):
    code = "insufficient_points"
    status = 409
    field = "points"
    template = _("You need %(needed)d points; you have %(available)d.")


class InvalidPoints(LoyaltyError):
    code = "invalid_points"
    field = "points"
    template = _("Points must be a whole number other than zero.")


class IdempotencyKeyReused(LoyaltyError):
    code = "idempotency_key_reused"
    status = 409
    field = "idempotency_key"
    template = _("This idempotency key was already used for a different request.")


class NotAllowed(LoyaltyError):
    code = "not_allowed"
    status = 403
    template = _("You are not allowed to %(action)s.")
    templates = {"adjust points": _("You are not allowed to adjust points.")}

    def message_template(self) -> object:
        return self.templates.get(str(self.params.get("action", "")), self.template)


class ReasonRequired(LoyaltyError):
    code = "reason_required"
    field = "reason"
    template = _("Give a reason for the adjustment.")


# -- the till --------------------------------------------------------------------


class NothingToUndo(LoyaltyError):
    code = "nothing_to_undo"
    status = 409
    template = _("You have no action at this till to undo.")


class UndoNotLast(LoyaltyError):
    code = "undo_not_last"
    status = 409
    template = _("Only your last action at this till can be undone, and this is no longer it.")


class UndoTooLate(LoyaltyError):
    code = "undo_too_late"
    status = 409
    template = ngettext_lazy(
        "Too late to undo: an action can be undone for %(minutes)d minute. Record a refund instead.",
        "Too late to undo: an action can be undone for %(minutes)d minutes. Record a refund instead.",
        "minutes",
    )

    @property
    def message(self) -> str:
        return self.template % self.params  # the lazy plural picks its form from ``minutes``


class ActionNotUndoable(LoyaltyError):
    code = "action_not_undoable"
    status = 409
    template = _("This action cannot be undone.")
    templates = {
        "refund": _("A refund cannot be undone. Record the purchase again if it was a mistake."),
        "enroll": _("An enrollment cannot be undone at the till. Ask a manager to remove the member."),
        "card": _("Attaching a card cannot be undone at the till. Ask a manager."),
        "claim": _("A sent account-claim link cannot be taken back."),
        "undo": _("An undo cannot be undone. Record the purchase again if needed."),
        "redeem": _("A redemption cannot be undone at the till: a manager can cancel the voucher, "
                    "and its points come back."),
        "voucher": _("A voucher that was taken cannot be undone at the till. Ask a manager."),
    }

    def message_template(self) -> object:
        return self.templates.get(str(self.params.get("kind", "")), self.template)


class NothingLeftToUndo(LoyaltyError):
    code = "nothing_left_to_undo"
    status = 409
    template = _("This purchase was already refunded in full; there is nothing left to undo.")


# -- action bonuses ---------------------------------------------------------------


class BonusInactive(LoyaltyError):
    code = "bonus_inactive"
    status = 409
    template = _("The %(bonus)s bonus is switched off. Switch it on under Action bonuses first.")


class ReviewReferenceRequired(LoyaltyError):
    code = "review_reference_required"
    field = "reference"
    template = _("Give the review's link or id.")


class ReviewAlreadyRewarded(LoyaltyError):
    code = "review_already_rewarded"
    status = 409
    field = "reference"
    template = _("This review (%(reference)s) was already rewarded on %(date)s.")


class BonusPointsRequired(LoyaltyError):
    code = "bonus_points_required"
    template = _("Give the points of the %(bonus)s bonus to switch it on.")


# -- paid tiers -------------------------------------------------------------------


class TierNotForSale(LoyaltyError):
    code = "tier_not_for_sale"
    status = 409
    field = "tier"
    template = _("%(tier)s is not a paid tier that can be bought: choose a paid tier that is not archived.")


class VipFeeConflict(ExternalIdConflict):
    template = _(
        "The external id %(external_id)s was already used for a different paid tier fee; "
        "send a new id or the same data as before."
    )

    def message_template(self) -> object:
        return self.template


# -- earning rules ----------------------------------------------------------------


class RuleStatusUnchanged(LoyaltyError):
    code = "rule_status_unchanged"
    status = 409
    template = _("Rule %(name)s is %(status)s already; nothing was changed.")
