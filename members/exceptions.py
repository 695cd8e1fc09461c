"""Domain errors. ``LoyaltyError`` is the base of every app's errors; it lives
here, in the lowest app, so that every app can import it."""

from django.utils.translation import gettext_lazy as _


class LoyaltyError(Exception):
    """A refused business action, with a stable ``code``, an HTTP ``status``,
    a translatable message template with named parameters and, when the error
    is about one input, the ``field`` it names."""

    code = "loyalty_error"
    status = 400
    field: str | None = None
    template = _("The request could not be completed.")

    def __init__(self, **params: object) -> None:
        self.params = params
        super().__init__(self.message)

    @property
    def message(self) -> str:
        # ``%`` on the lazy template itself: a lazy plural (``ngettext_lazy``) picks its
        # form from the named count in ``params``; ``str()`` first would lose it.
        return str(self.message_template() % self.params)

    def message_template(self) -> object:
        """The template of this instance; a subclass whose wording depends on a
        parameter picks a whole translatable sentence here, rather than
        interpolating an English word into one."""
        return self.template


class DuplicateMember(LoyaltyError):
    code = "duplicate_member"
    status = 409
    template = _("A member with this %(field_name)s already exists (card %(card)s).")
    templates = {
        "email": _("A member with this email already exists (card %(card)s)."),
        "phone": _("A member with this phone already exists (card %(card)s)."),
        "card_number": _("A member with this card number already exists (card %(card)s)."),
    }

    def __init__(self, *, field: str, **params: object) -> None:
        self.field = field
        super().__init__(**params)

    def message_template(self) -> object:
        return self.templates.get(self.field or "", self.template)


class InvalidCardNumber(LoyaltyError):
    code = "invalid_card_number"
    field = "card_number"
    template = _("%(value)s is not a valid card number (13 digits with a check digit).")


class ContactRequired(LoyaltyError):
    code = "contact_required"
    field = "email"
    template = _("Give an email address or a phone number.")


class InvalidEmail(LoyaltyError):
    code = "invalid_email"
    field = "email"
    template = _("%(value)s is not a valid email address.")


class InvalidRole(LoyaltyError):
    code = "invalid_role"
    field = "role"
    template = _("%(value)s is not a staff role; use one of: %(roles)s.")


class StoreRequired(LoyaltyError):
    code = "store_required"
    field = "stores"
    template = _("A cashier needs at least one store.")


class PasswordRejected(LoyaltyError):
    code = "password_rejected"
    field = "password"
    template = _("The password was refused: %(problems)s")


class ClaimLinkInvalid(LoyaltyError):
    code = "claim_link_invalid"
    status = 404
    template = _(
        "This link has expired or was already used. Ask for a new one with your email and card number."
    )


# --- Member accounts (sign-up, claim, profile) ---


class AccountExists(LoyaltyError):
    """The email already has a login: sign in (or reset the password) instead."""

    code = "account_exists"
    status = 409
    field = "email"
    template = _("An account with this email already exists. Log in, or reset your password if you forgot it.")


class MemberAlreadyEnrolled(LoyaltyError):
    """Sign-up for a person who is already a member (by email or phone); never
    names the card, so that the sign-up form reveals nothing about the member."""

    code = "member_already_enrolled"
    status = 409
    template = _("You are already a member.")
    templates = {
        "email": _(
            "A card was already issued for this email address. To use it online, claim your account "
            "with your email and card number instead of signing up."
        ),
        "phone": _(
            "A card was already issued for this phone number. To use it online, claim your account "
            "with your email and card number, or ask us at the till."
        ),
    }

    def __init__(self, *, field: str, **params: object) -> None:
        self.field = field
        super().__init__(**params)

    def message_template(self) -> object:
        return self.templates.get(self.field or "", self.template)


class InvalidReferralCode(LoyaltyError):
    code = "invalid_referral_code"
    field = "referral_code"
    template = _("%(value)s is not a valid referral code. Check it, or leave the field empty.")


class SelfReferral(LoyaltyError):
    code = "self_referral"
    field = "referral_code"
    template = _("You cannot use your own referral code.")


class ContactTaken(LoyaltyError):
    """Profile change to an email or phone another member or login already has."""

    code = "contact_taken"
    status = 409
    template = _("This value is already used by another member.")
    templates = {
        "email": _("This email address is already used by another member."),
        "phone": _("This phone number is already used by another member."),
    }

    def __init__(self, *, field: str, **params: object) -> None:
        self.field = field
        super().__init__(**params)

    def message_template(self) -> object:
        return self.templates.get(self.field or "", self.template)


class FeedbackScoreInvalid(LoyaltyError):
    code = "feedback_score_invalid"
    field = "score"
    template = _("Choose a score from 0 to 10.")


class FeedbackTooSoon(LoyaltyError):
    """A member rates the program at most once per ``FEEDBACK_INTERVAL_DAYS``."""

    code = "feedback_too_soon"
    status = 409
    template = _("You rated the program on %(last)s. You can rate it again from %(next)s.")
