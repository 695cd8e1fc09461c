"""Domain errors of the rewards catalog and of vouchers.

Each carries a stable ``code`` for the API, an HTTP ``status`` and a
translatable message template with named parameters (see
``members.exceptions.LoyaltyError``).
"""

from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from members.exceptions import LoyaltyError

# -- voucher codes (checked before any lookup; they never say whether a code exists) --


class InvalidVoucherCode(LoyaltyError):
    """Base of the errors of a typed or scanned voucher code that cannot be a
    code at all: wrong length, a character codes never contain, or a check
    character that does not match."""

    code = "invalid_voucher_code"
    field = "code"
    template = _("This is not a voucher code. Check it and type it again.")


class VoucherCodeWrongLength(InvalidVoucherCode):
    """``reason`` is ``empty``, ``short`` or ``long``; ``expected`` the length."""

    code = "voucher_code_length"
    templates = {
        "empty": _("Type or scan a voucher code."),
        "short": ngettext_lazy(
            "This voucher code is too short: a code has %(expected)d character, not counting dashes and spaces.",
            "This voucher code is too short: a code has %(expected)d characters, not counting dashes and spaces.",
            "expected",
        ),
        "long": ngettext_lazy(
            "This voucher code is too long: a code has %(expected)d character, not counting dashes and spaces.",
            "This voucher code is too long: a code has %(expected)d characters, not counting dashes and spaces.",
            "expected",
        ),
    }

    def message_template(self) -> object:
        return self.templates.get(str(self.params.get("reason", "")), self.template)


class VoucherCodeBadCharacter(InvalidVoucherCode):
    """``character`` is the first character that no code contains."""

    code = "voucher_code_character"
    template = _(
        "Voucher codes never contain “%(character)s” (they have no 0, 1, O, I or L). Check the code and type it again."
    )


class VoucherCodeMistyped(InvalidVoucherCode):
    """The check character does not match: a character is wrong or two are swapped."""

    code = "voucher_code_mistyped"
    template = _(
        "This voucher code has a typing mistake: a character is wrong or two are swapped. "
        "Check the code and type it again."
    )


# -- redeeming a reward ---------------------------------------------------------------


class RewardUnavailable(LoyaltyError):
    """Archived, out of the catalog, or outside its redeemable window."""

    code = "reward_unavailable"
    status = 409
    field = "reward"
    template = _("%(reward)s cannot be redeemed now.")
    templates = {
        "archived": _("%(reward)s is no longer in the catalog."),
        "not_yet": _("%(reward)s can be redeemed from %(date)s."),
        "ended": _("%(reward)s could be redeemed until %(date)s."),
        "event_past": _("%(reward)s has already taken place."),
    }

    def message_template(self) -> object:
        return self.templates.get(str(self.params.get("reason", "")), self.template)


class RewardOutOfStock(LoyaltyError):
    code = "reward_out_of_stock"
    status = 409
    field = "reward"
    template = _("%(reward)s is out of stock.")


class EventFull(RewardOutOfStock):
    code = "event_full"
    template = _("%(reward)s is full. You can join the waitlist.")


class TierTooLow(LoyaltyError):
    code = "tier_too_low"
    status = 409
    field = "reward"
    template = _("%(reward)s is for %(tier)s members and above.")


class RewardLimitReached(LoyaltyError):
    code = "reward_limit_reached"
    status = 409
    field = "reward"
    templates = {
        "ever": ngettext_lazy(
            "%(reward)s can be redeemed at most %(limit)d time per member, and that is used up.",
            "%(reward)s can be redeemed at most %(limit)d times per member, and those are used up.",
            "limit",
        ),
        "day": ngettext_lazy(
            "%(reward)s can be redeemed %(limit)d time a day; try again tomorrow.",
            "%(reward)s can be redeemed %(limit)d times a day; try again tomorrow.",
            "limit",
        ),
        "week": ngettext_lazy(
            "%(reward)s can be redeemed %(limit)d time a week; try again next week.",
            "%(reward)s can be redeemed %(limit)d times a week; try again next week.",
            "limit",
        ),
        "month": ngettext_lazy(
            "%(reward)s can be redeemed %(limit)d time a month; try again next month.",
            "%(reward)s can be redeemed %(limit)d times a month; try again next month.",
            "limit",
        ),
        "year": ngettext_lazy(
            "%(reward)s can be redeemed %(limit)d time a year; try again next year.",
            "%(reward)s can be redeemed %(limit)d times a year; try again next year.",
            "limit",
        ),
    }
    template = templates["ever"]

    def message_template(self) -> object:
        return self.templates.get(str(self.params.get("period", "")), self.template)


class WaitlistNotOpen(LoyaltyError):
    code = "waitlist_not_open"
    status = 409
    field = "reward"
    template = _("%(reward)s has places left: redeem it instead of waiting.")


class AlreadyWaiting(LoyaltyError):
    code = "already_waiting"
    status = 409
    field = "reward"
    template = _("You are already on the waitlist for %(reward)s.")


class CampaignRewardUnsupported(LoyaltyError):
    code = "campaign_reward_unsupported"
    field = "reward"
    template = _(
        "%(reward)s cannot be given by a campaign: events, donations and partner rewards "
        "draw on places, money or codes; choose a discount or a free product."
    )


# -- using and cancelling a voucher -----------------------------------------------------


class VoucherNotFound(InvalidVoucherCode):
    """A well-formed code that no voucher has."""

    code = "voucher_not_found"
    status = 404
    template = _("No voucher has this code. Check it and type it again.")


class VoucherChecksThrottled(LoyaltyError):
    """Too many wrong codes in a short time: every code is refused for a while,
    whether it exists or not."""

    code = "voucher_checks_throttled"
    status = 429
    field = "code"
    template = ngettext_lazy(
        "Too many wrong voucher codes. Wait %(minutes)d minute and try again.",
        "Too many wrong voucher codes. Wait %(minutes)d minutes and try again.",
        "minutes",
    )


class VoucherNotUsable(LoyaltyError):
    """The voucher exists but cannot be used now; ``reason`` is its state."""

    code = "voucher_not_usable"
    status = 409
    field = "code"
    templates = {
        "used": _("This voucher was already used on %(date)s at %(store)s."),
        "used_online": _("This voucher was already used on %(date)s."),
        "cancelled": _("This voucher was cancelled on %(date)s."),
        "expired": _("This voucher expired on %(date)s."),
        "not_yet": _("This voucher can be used from %(date)s."),
        "member_inactive": _("This voucher belongs to a member whose account is closed."),
    }
    template = _("This voucher cannot be used.")

    @property
    def reason(self) -> str:
        return str(self.params.get("reason", ""))

    def message_template(self) -> object:
        return self.templates.get(self.reason, self.template)


class VoucherNotCancellable(VoucherNotUsable):
    code = "voucher_not_cancellable"
    templates = {
        **VoucherNotUsable.templates,
        "expired": _("This voucher expired on %(date)s; the points of an expired voucher are not returned."),
        "donation": _("A donation has been given and cannot be cancelled."),
    }


class CampaignEnded(LoyaltyError):
    code = "campaign_ended"
    status = 409
    template = _("The campaign %(campaign)s has ended: its vouchers can no longer be given.")


class CancelReasonRequired(LoyaltyError):
    code = "cancel_reason_required"
    field = "reason"
    template = _("Give a reason for cancelling the voucher.")


# -- the catalog: images and partner codes (``rewards.services.catalog``) ----------------


class RewardImageInvalid(LoyaltyError):
    """An upload that is not an image Pillow can read, or one too big to handle;
    ``reason`` is ``unreadable``, ``too_large`` (``size_mb``, ``limit_mb``) or
    ``too_many_pixels`` (``width``, ``height``, ``limit``)."""

    code = "reward_image_invalid"
    field = "image"
    templates = {
        "unreadable": _("Image: %(name)s is not an image that can be read. Upload a JPEG, PNG, WebP or GIF file."),
        "too_large": _("Image: %(name)s is %(size_mb)s MB; an image may be at most %(limit_mb)d MB."),
        "too_many_pixels": _(
            "Image: %(name)s is %(width)d × %(height)d pixels; an image may have at most %(limit)s million pixels."
        ),
    }
    template = templates["unreadable"]

    def message_template(self) -> object:
        return self.templates.get(str(self.params.get("reason", "")), self.template)


class NotAPartnerReward(LoyaltyError):
    code = "not_a_partner_reward"
    status = 409
    field = "reward"
    template = _("%(reward)s is not a partner reward: only partner rewards have a pool of partner codes.")


class PartnerCodesFileInvalid(LoyaltyError):
    """The partner codes file has errors; ``errors`` lists ``(line, message)``
    (the header is line 1; line 0 is the file as a whole). Nothing was imported."""

    code = "partner_codes_file_invalid"
    field = "file"
    template = ngettext_lazy(
        "The file has %(count)d error; no code was imported.",
        "The file has %(count)d errors; no code was imported.",
        "count",
    )

    def __init__(self, *, errors: list[tuple[int, str]]) -> None:
        self.errors = errors
        super().__init__(count=len(errors))
