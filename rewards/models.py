"""The rewards catalog and the vouchers members hold.

A ``Reward`` is what points buy (or what a campaign or a full stamp card
gives); every redemption, campaign gift and stamp-card reward issues a
``Voucher`` with an unguessable code (``rewards.codes``). Written only
through ``rewards.services``: stock, per-member limits and voucher states
change under row locks there.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.models import MONEY, LedgerEntry, Store, Tier

CODE_VALIDATOR = RegexValidator(r"^[a-z0-9][a-z0-9_-]*$", _("Use lower-case letters, digits, - and _ only."))


class Charity(models.Model):
    """A cause that donation rewards give to; the program keeps its running totals.

    ``donated_points`` and ``donated_amount`` only grow with donations and shrink
    with cancelled donations, through ``F()`` updates in the voucher's transaction.
    """

    code = models.SlugField(_("code"), max_length=32, unique=True, validators=[CODE_VALIDATOR])
    name = models.CharField(_("name"), max_length=120)
    active = models.BooleanField(_("active"), default=True)
    donated_points = models.PositiveBigIntegerField(_("points donated"), default=0, editable=False)
    donated_amount = models.DecimalField(_("amount donated"), default=0, editable=False, **MONEY)
    donations = models.PositiveIntegerField(_("donations"), default=0, editable=False)

    class Meta:
        verbose_name = _("charity")
        verbose_name_plural = _("charities")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Reward(models.Model):
    """An item of the catalog.

    ``stock`` is what is left (``None``: unlimited; for an event, the places
    left); it only moves under the row lock of a conditional update. A partner
    reward hands out one ``PartnerCode`` per redemption, so its stock is the
    unused codes of its pool. ``name`` and ``description`` are translated
    (django-modeltranslation: ``name_en``, ``name_pl``, ...).
    """

    class Kind(models.TextChoices):
        AMOUNT = "amount", _("Discount amount")
        PERCENT = "percent", _("Discount percent")
        PRODUCT = "product", _("Free product")
        EVENT = "event", _("Experience or event")
        DONATION = "donation", _("Charity donation")
        PARTNER = "partner", _("Partner reward")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        ARCHIVED = "archived", _("Archived")

    class LimitPeriod(models.TextChoices):
        EVER = "ever", _("In all")
        DAY = "day", _("Per day")
        WEEK = "week", _("Per week")
        MONTH = "month", _("Per month")
        YEAR = "year", _("Per year")

    code = models.SlugField(
        _("code"), max_length=48, unique=True, validators=[CODE_VALIDATOR],
        help_text=_("Short code used in addresses, program files and the API, e.g. coffee-free."),
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    in_catalog = models.BooleanField(
        _("in the catalog"), default=True,
        help_text=_("Members can redeem it for points. Clear it for a reward given only by campaigns or stamp cards."),
    )
    points_cost = models.PositiveIntegerField(_("points cost"), default=0)
    value = models.DecimalField(
        _("value"), null=True, blank=True, max_digits=12, decimal_places=2, validators=[MinValueValidator(0)],
        help_text=_("The discount amount, the discount percent, or the amount a donation gives."),
    )
    max_discount = models.DecimalField(
        _("largest discount"), null=True, blank=True, validators=[MinValueValidator(0)], **MONEY,
        help_text=_("Percent discounts: the most the discount may take off; empty for no cap."),
    )
    sku = models.CharField(_("SKU"), max_length=64, blank=True, help_text=_("Free product: the product given."))
    event_at = models.DateTimeField(_("event starts at"), null=True, blank=True)
    place = models.CharField(_("place"), max_length=200, blank=True)
    charity = models.ForeignKey(
        Charity, verbose_name=_("charity"), null=True, blank=True, on_delete=models.PROTECT, related_name="rewards"
    )
    min_tier = models.ForeignKey(
        Tier, verbose_name=_("minimum tier"), null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text=_("Members below this tier cannot redeem it; empty for everyone."),
    )
    stock = models.PositiveIntegerField(
        _("stock"), null=True, blank=True,
        help_text=_("How many are left to redeem (places left, for an event); empty for unlimited."),
    )
    member_limit = models.PositiveIntegerField(
        _("limit per member"), null=True, blank=True, validators=[MinValueValidator(1)],
        help_text=_("The most one member may redeem in each period below; empty for no limit."),
    )
    member_limit_period = models.CharField(
        _("limit period"), max_length=8, choices=LimitPeriod.choices, default=LimitPeriod.EVER,
    )
    available_from = models.DateTimeField(_("redeemable from"), null=True, blank=True)
    available_until = models.DateTimeField(_("redeemable until"), null=True, blank=True)
    voucher_valid_days = models.PositiveIntegerField(
        _("vouchers valid for (days)"), null=True, blank=True, default=30,
        validators=[MinValueValidator(1), MaxValueValidator(3660)],
        help_text=_("How long a voucher can be used after it is issued; empty for no end."),
    )
    image = models.ImageField(_("image"), upload_to="rewards/", blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("reward")
        verbose_name_plural = _("rewards")
        ordering = ["points_cost", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(value__isnull=True) | Q(value__gte=0), name="reward_value_not_negative"
            ),
        ]
        indexes = [models.Index(fields=["status", "in_catalog", "points_cost"], name="reward_catalog")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_event(self) -> bool:
        return self.kind == self.Kind.EVENT


class PartnerCode(models.Model):
    """A code bought from a partner, handed out with one voucher of a partner reward."""

    reward = models.ForeignKey(Reward, on_delete=models.CASCADE, related_name="partner_codes")
    code = models.CharField(_("partner code"), max_length=128)
    voucher = models.OneToOneField(
        "Voucher", null=True, blank=True, on_delete=models.PROTECT, related_name="partner_code"
    )
    imported_at = models.DateTimeField(_("imported at"), default=timezone.now)

    class Meta:
        verbose_name = _("partner code")
        verbose_name_plural = _("partner codes")
        constraints = [models.UniqueConstraint(fields=["reward", "code"], name="partner_code_unique")]
        indexes = [
            models.Index(fields=["reward", "id"], name="partner_code_free", condition=Q(voucher__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.reward_id}: {'used' if self.voucher_id else 'free'}"


class Campaign(models.Model):
    """Vouchers given without points (a birthday gift, a win-back offer) to one
    member or a list of members, at most one per member."""

    name = models.CharField(_("name"), max_length=120)
    reward = models.ForeignKey(Reward, verbose_name=_("reward"), on_delete=models.PROTECT, related_name="campaigns")
    valid_from = models.DateTimeField(_("valid from"), default=timezone.now)
    valid_until = models.DateTimeField(_("valid until"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("voucher campaign")
        verbose_name_plural = _("voucher campaigns")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(valid_until__gt=models.F("valid_from")), name="campaign_valid_order"),
        ]

    def __str__(self) -> str:
        return self.name


class Voucher(models.Model):
    """A reward a member holds, used once by its ``code`` (stored normalised:
    15 characters, no dashes; shown grouped by ``rewards.codes.voucher_code_format``).

    ``issued`` becomes ``used`` (once, under the row lock), ``cancelled``
    (points returned) or ``expired`` (points kept by the program). An issued
    voucher past ``valid_until`` is expired even before the periodic task
    marks it.
    """

    class Status(models.TextChoices):
        ISSUED = "issued", _("Ready to use")
        USED = "used", _("Used")
        CANCELLED = "cancelled", _("Cancelled")
        EXPIRED = "expired", _("Expired")

    class Origin(models.TextChoices):
        REDEMPTION = "redemption", _("Redeemed for points")
        CAMPAIGN = "campaign", _("Campaign gift")
        STAMPS = "stamps", _("Full stamp card")

    class Channel(models.TextChoices):
        PORTAL = "portal", _("Member portal")
        TILL = "till", _("Till")
        API = "api", _("API")
        STAFF = "staff", _("Staff")
        SYSTEM = "system", _("Automatic")

    code = models.CharField(_("code"), max_length=15, unique=True, editable=False)
    reward = models.ForeignKey(Reward, verbose_name=_("reward"), on_delete=models.PROTECT, related_name="vouchers")
    member = models.ForeignKey(
        "members.Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="vouchers"
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ISSUED)
    origin = models.CharField(_("origin"), max_length=10, choices=Origin.choices)
    points = models.PositiveIntegerField(_("points paid"), default=0)
    idempotency_key = models.CharField(max_length=100)
    issued_at = models.DateTimeField(_("issued at"), default=timezone.now)
    valid_from = models.DateTimeField(_("valid from"), default=timezone.now)
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    redeem_entry = models.OneToOneField(
        LedgerEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="voucher"
    )
    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), null=True, blank=True, on_delete=models.PROTECT, related_name="vouchers"
    )
    stamp_rule = models.ForeignKey(
        "loyalty.EarnRule", verbose_name=_("stamp card"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )
    issued_via = models.CharField(_("issued through"), max_length=8, choices=Channel.choices)
    issued_store = models.ForeignKey(
        Store, verbose_name=_("issued in store"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("issued by"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)
    used_store = models.ForeignKey(
        Store, verbose_name=_("used in store"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("used by"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )
    used_via = models.CharField(_("used through"), max_length=8, choices=Channel.choices, blank=True)
    used_client = models.CharField(_("API client"), max_length=100, blank=True)
    used_receipt = models.CharField(_("receipt"), max_length=64, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("cancelled by"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )
    cancel_reason = models.CharField(_("reason for cancelling"), max_length=255, blank=True)
    return_entry = models.OneToOneField(
        LedgerEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="returned_voucher"
    )

    class Meta:
        verbose_name = _("voucher")
        verbose_name_plural = _("vouchers")
        ordering = ["-issued_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["member", "idempotency_key"], name="voucher_member_key"),
            models.UniqueConstraint(
                fields=["campaign", "member"], name="voucher_campaign_member", condition=Q(campaign__isnull=False)
            ),
            models.CheckConstraint(
                condition=~Q(status="used") | Q(used_at__isnull=False), name="voucher_used_has_time"
            ),
        ]
        indexes = [
            models.Index(fields=["member", "-issued_at"], name="voucher_member"),
            models.Index(fields=["reward", "member", "issued_at"], name="voucher_reward_member"),
            models.Index(fields=["valid_until"], name="voucher_issued_due", condition=Q(status="issued")),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def display_code(self) -> str:
        from rewards.codes import voucher_code_format

        return voucher_code_format(self.code)


class WaitlistEntry(models.Model):
    """A member waiting for a place at a full event. When a place frees up the
    first waiting member who still qualifies is given it, points taken then
    (``rewards.services`` ``event_waitlist_promote``)."""

    class Status(models.TextChoices):
        WAITING = "waiting", _("Waiting")
        GIVEN = "given", _("Given a place")
        LEFT = "left", _("Left the waitlist")
        SKIPPED = "skipped", _("Passed over")

    reward = models.ForeignKey(Reward, on_delete=models.CASCADE, related_name="waitlist")
    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="waitlist_entries")
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.WAITING)
    joined_at = models.DateTimeField(_("joined at"), default=timezone.now)
    voucher = models.OneToOneField(Voucher, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    note = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name = _("waitlist entry")
        verbose_name_plural = _("waitlist entries")
        ordering = ["joined_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["reward", "member"], name="waitlist_one_waiting", condition=Q(status="waiting")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reward_id}: {self.member_id} ({self.status})"
