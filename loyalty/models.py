import zoneinfo
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField

from loyalty.currencies import validate_currency

MONEY = {"max_digits": 12, "decimal_places": 2}
DAYS_IN_SHORTEST_MONTH = 28


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(
            _("%(value)s is not a known time zone (try Europe/Warsaw)."),
            params={"value": value}, code="invalid_timezone",
        )


class Program(models.Model):
    """The one loyalty program of the business (always ``pk=1``)."""

    name = models.CharField(_("name"), max_length=120)
    currency = models.CharField(
        _("currency"), max_length=3, validators=[validate_currency],
        help_text=_("ISO 4217 code of the program currency, such as PLN or EUR."),
    )
    country = CountryField(_("country"))
    timezone = models.CharField(
        _("time zone"), max_length=64, validators=[validate_timezone],
        help_text=_("Calendar days and reports use this zone, e.g. Europe/Warsaw."),
    )
    earn_rate = models.DecimalField(
        _("earn rate"), max_digits=8, decimal_places=4,
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Points per 1.00 of the currency spent, rounded down."),
    )
    point_value = models.DecimalField(
        _("point value"), max_digits=10, decimal_places=4,
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("What one point is worth in the currency, for liability and discounts."),
    )
    return_window_days = models.PositiveIntegerField(
        _("return window (days)"), default=0,
        help_text=_("Points stay pending this many days after a purchase; 0 = at once."),
    )
    expiry_months = models.PositiveIntegerField(
        _("expiry (months)"), null=True, blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Each lot of points expires this many months after it was earned; blank = never."),
    )
    allow_debt = models.BooleanField(
        _("refunds may leave a debt"), default=True,
        help_text=_(
            "When a refund reverses points the member has already spent, keep the "
            "difference as a debt that later earnings repay. Off: the difference is forgiven."
        ),
    )
    require_staff_2fa = models.BooleanField(
        _("require two-factor authentication for staff"), default=False
    )
    tier_metric = models.CharField(
        _("tiers qualify by"), max_length=8, default="spend",
        choices=[("spend", _("Spend")), ("points", _("Points earned"))],
        help_text=_("What a member's tier is measured by over the qualification window."),
    )
    tier_window_months = models.PositiveIntegerField(
        _("tier qualification window (months)"), default=12, validators=[MinValueValidator(1)],
        help_text=_("Spend or points of this many months, ending today, count towards a tier."),
    )
    tier_grace_days = models.PositiveIntegerField(
        _("tier grace period (days)"), default=30,
        help_text=_(
            "A member who no longer qualifies at a review keeps the tier this many days "
            "more; the first review after that moves them down."
        ),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("program")
        verbose_name_plural = _("program")
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="program_singleton")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = {}
        days, months = self.return_window_days, self.expiry_months
        if days is not None and months and days >= months * DAYS_IN_SHORTEST_MONTH:
            errors["return_window_days"] = ValidationError(
                _(
                    "The return window (%(days)d days) must be shorter than the expiry "
                    "period (%(months)d months), or points would expire before they "
                    "become available. Shorten the window or lengthen the expiry."
                ),
                params={"days": days, "months": months}, code="window_exceeds_expiry",
            )
        if self.pk:
            original = Program.objects.filter(pk=self.pk).values_list("currency", flat=True).first()
            if original and self.currency != original and Purchase.objects.exists():
                errors["currency"] = ValidationError(
                    _(
                        "The currency cannot change from %(old)s to %(new)s once purchases "
                        "are recorded: their amounts are in %(old)s."
                    ),
                    params={"old": original, "new": self.currency}, code="currency_locked",
                )
        if errors:
            raise ValidationError(errors)

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class Store(models.Model):
    code = models.CharField(
        _("code"), max_length=32, unique=True,
        validators=[RegexValidator(r"^[A-Za-z0-9_-]+$", _("Use letters, digits, - and _ only."))],
        help_text=_("Short code used by imports, the API and the POS, e.g. WAW-01."),
    )
    name = models.CharField(_("name"), max_length=120)
    timezone = models.CharField(_("time zone"), max_length=64, validators=[validate_timezone])
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("store")
        verbose_name_plural = _("stores")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class Source(models.TextChoices):
    TILL = "till", _("Till")
    API = "api", _("API")
    IMPORT = "import", _("Import")
    STAFF = "staff", _("Staff")
    DEMO = "demo", _("Demo data")


class Purchase(models.Model):
    """A receipt or order, with or without a member.

    ``refunded_amount`` and ``points_kept`` are caches kept by the ledger service
    under the purchase's row lock.

    Indexes are what the reads need and no more: every earn writes an entry in
    each (see ``bench/bench_earn.py``). ``external_id`` is unique through a
    constraint (a unique field would add a second, ``LIKE`` index nothing uses);
    ``store`` and ``member`` are found through the composite indexes that begin
    with them; ``recorded_by`` (set by the till, never searched) only has a
    partial index, for the ``SET NULL`` when a login is deleted.
    """

    external_id = models.CharField(_("external id"), max_length=64)
    store = models.ForeignKey(
        Store, verbose_name=_("store"), on_delete=models.PROTECT, related_name="purchases", db_index=False
    )
    member = models.ForeignKey(
        "members.Member", verbose_name=_("member"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="purchases", db_index=False,
    )
    purchased_at = models.DateTimeField(_("purchased at"))
    amount = models.DecimalField(_("amount"), **MONEY)
    currency = models.CharField(_("currency"), max_length=3)
    refunded_amount = models.DecimalField(_("refunded amount"), default=Decimal("0"), **MONEY)
    points = models.IntegerField(_("points earned"), default=0)
    points_kept = models.IntegerField(_("points kept after refunds"), default=0)
    payload_hash = models.CharField(max_length=64, editable=False)
    source = models.CharField(_("source"), max_length=8, choices=Source.choices)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("recorded by"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+", db_index=False,
    )
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    class Meta:
        verbose_name = _("purchase")
        verbose_name_plural = _("purchases")
        indexes = [
            models.Index(fields=["purchased_at"], name="purchase_at"),
            # Members' purchases by time, covering the amounts: per-member totals (segments, RFM,
            # CLV, the KPIs' retention) read the index alone, never the table (PostgreSQL; SQLite
            # ignores INCLUDE, see SILENCED_SYSTEM_CHECKS). Purchases without a member are not in it.
            models.Index(
                fields=["member", "purchased_at"], include=["amount", "refunded_amount"],
                condition=models.Q(member__isnull=False), name="purchase_member_at",
            ),
            models.Index(fields=["store", "purchased_at"], name="purchase_store_at"),
            models.Index(
                fields=["recorded_by"], name="purchase_recorded_by", condition=Q(recorded_by__isnull=False)
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["external_id"], name="purchase_external_id_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="purchase_amount_positive"),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0) & Q(refunded_amount__lte=models.F("amount")),
                name="purchase_refund_within_amount",
            ),
        ]

    def __str__(self) -> str:
        return self.external_id

    @property
    def refundable_amount(self) -> Decimal:
        return self.amount - self.refunded_amount


class PurchaseLine(models.Model):
    purchase = models.ForeignKey(Purchase, on_delete=models.CASCADE, related_name="lines")
    sku = models.CharField(_("SKU"), max_length=64)
    category = models.CharField(_("category"), max_length=64, blank=True)
    quantity = models.DecimalField(_("quantity"), max_digits=10, decimal_places=3, default=Decimal("1"))
    amount = models.DecimalField(_("amount"), **MONEY)

    class Meta:
        verbose_name = _("purchase line")
        verbose_name_plural = _("purchase lines")

    def __str__(self) -> str:
        return f"{self.sku} x {self.quantity}"


class Refund(models.Model):
    """A refund of (part of) a purchase; indexed as sparingly as ``Purchase``."""

    external_id = models.CharField(_("external id"), max_length=64)
    purchase = models.ForeignKey(Purchase, verbose_name=_("purchase"), on_delete=models.PROTECT, related_name="refunds")
    amount = models.DecimalField(_("amount"), **MONEY)
    refunded_at = models.DateTimeField(_("refunded at"))
    points_reversed = models.IntegerField(_("points reversed"), default=0)
    payload_hash = models.CharField(max_length=64, editable=False)
    source = models.CharField(_("source"), max_length=8, choices=Source.choices)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("recorded by"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+", db_index=False,
    )
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        indexes = [
            models.Index(fields=["recorded_by"], name="refund_recorded_by", condition=Q(recorded_by__isnull=False)),
        ]
        constraints = [
            models.UniqueConstraint(fields=["external_id"], name="refund_external_id_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
        ]

    def __str__(self) -> str:
        return self.external_id


class PointsAccount(models.Model):
    """A member's cached balances; always equal to the sums of the ledger.

    ``next_due_at`` is the earliest instant at which a lot of this account is
    due to be released or to expire (``None``: nothing due). The ledger keeps
    it so that operations only look for due lots when there are some (nothing
    searches by it: the periodic jobs find due lots through the lots' partial
    indexes, so it has no index to keep up on every balance change).
    """

    member = models.OneToOneField(
        "members.Member", primary_key=True, on_delete=models.PROTECT, related_name="points_account"
    )
    available = models.IntegerField(_("available points"), default=0)
    pending = models.IntegerField(_("pending points"), default=0)
    debt = models.IntegerField(_("points debt"), default=0)
    next_due_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("points account")
        verbose_name_plural = _("points accounts")
        constraints = [
            models.CheckConstraint(
                condition=Q(available__gte=0) & Q(pending__gte=0) & Q(debt__gte=0),
                name="account_balances_not_negative",
            )
        ]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.available}"


class PointsLot(models.Model):
    """Points earned together: by one purchase, one bonus or one adjustment.

    A lot is pending until ``available_at``, then available until it expires at
    ``expires_at`` (``None``: never). Redemptions and reversals take from
    ``remaining``; a lot whose points were all taken stays available with
    ``remaining=0``.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        AVAILABLE = "available", _("Available")
        EXPIRED = "expired", _("Expired")
        VOIDED = "voided", _("Voided")

    # Found through ``lot_account_status``, which begins with it.
    account = models.ForeignKey(PointsAccount, on_delete=models.PROTECT, related_name="lots", db_index=False)
    purchase = models.OneToOneField(
        Purchase, null=True, blank=True, on_delete=models.PROTECT, related_name="lot"
    )
    points = models.PositiveIntegerField(_("points"))
    remaining = models.PositiveIntegerField(_("remaining points"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    earned_at = models.DateTimeField(_("earned at"))
    available_at = models.DateTimeField(_("available at"))
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)

    class Meta:
        verbose_name = _("points lot")
        verbose_name_plural = _("points lots")
        indexes = [
            models.Index(fields=["account", "status", "earned_at"], name="lot_account_status"),
            models.Index(
                fields=["available_at"], name="lot_pending_due",
                condition=Q(status="pending"),
            ),
            models.Index(
                fields=["expires_at"], name="lot_expiry_due",
                condition=Q(status="available", remaining__gt=0),
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(remaining__lte=models.F("points")), name="lot_remaining_within_points"),
        ]

    def __str__(self) -> str:
        return f"{self.points} ({self.status})"


class LedgerEntry(models.Model):
    """One append-only movement of points.

    Each entry states its effect on each cached balance (``*_delta``), so a
    balance is the plain sum of its column. ``points`` is the headline figure
    that reports count: positive for earns and releases, negative for the rest.
    ``effective_at`` is the business time (the purchase, the release, the
    expiry); ``recorded_at`` is when the row was written.
    """

    class Kind(models.TextChoices):
        EARN = "earn", _("Earned")
        BONUS = "bonus", _("Bonus")
        RELEASE = "release", _("Released")
        REDEEM = "redeem", _("Redeemed")
        REDEEM_CANCEL = "redeem_cancel", _("Returned")
        REVERSAL = "reversal", _("Refund reversal")
        EXPIRE = "expire", _("Expired")
        ADJUST = "adjust", _("Adjustment")

    # Found through ``ledger_idempotency`` and ``ledger_account_at``, which begin with it.
    account = models.ForeignKey(PointsAccount, on_delete=models.PROTECT, related_name="entries", db_index=False)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    points = models.IntegerField(_("points"))
    available_delta = models.IntegerField(default=0)
    pending_delta = models.IntegerField(default=0)
    debt_delta = models.IntegerField(default=0)
    effective_at = models.DateTimeField(_("effective at"))
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)
    idempotency_key = models.CharField(max_length=100)
    lot = models.ForeignKey(PointsLot, null=True, blank=True, on_delete=models.PROTECT, related_name="entries")
    purchase = models.ForeignKey(Purchase, null=True, blank=True, on_delete=models.PROTECT, related_name="entries")
    refund = models.OneToOneField(Refund, null=True, blank=True, on_delete=models.PROTECT, related_name="entry")
    breakdown = models.JSONField(_("breakdown"), default=list, blank=True)
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    actor = models.ForeignKey(  # set on adjustments only: a partial index, for the SET NULL
        settings.AUTH_USER_MODEL, verbose_name=_("by"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+", db_index=False,
    )

    class Meta:
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        constraints = [
            models.UniqueConstraint(fields=["account", "idempotency_key"], name="ledger_idempotency"),
        ]
        indexes = [
            models.Index(fields=["account", "effective_at"], name="ledger_account_at"),
            models.Index(fields=["effective_at", "kind"], name="ledger_at_kind"),
            models.Index(fields=["actor"], name="ledger_actor", condition=Q(actor__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.points:+d}"


class TillAction(models.Model):
    """The till's audit log: every action a cashier takes, with the store.

    An undo is itself an action; ``undo_of`` is unique, so an action is undone
    at most once, whoever presses the button first.
    """

    class Kind(models.TextChoices):
        ENROLL = "enroll", _("Enrolled a member")
        CARD_ATTACH = "card", _("Attached a card")
        CLAIM_SENT = "claim", _("Sent an account-claim link")
        PURCHASE = "purchase", _("Recorded a purchase")
        REFUND = "refund", _("Recorded a refund")
        VIP_FEE = "vip", _("Took a paid tier fee")
        REDEEM = "redeem", _("Redeemed a reward")
        VOUCHER_USE = "voucher", _("Took a voucher")
        UNDO = "undo", _("Undid an action")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    at = models.DateTimeField(_("at"), default=timezone.now)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("cashier"), on_delete=models.PROTECT, related_name="+"
    )
    store = models.ForeignKey(Store, verbose_name=_("store"), on_delete=models.PROTECT, related_name="+")
    member = models.ForeignKey(
        "members.Member", verbose_name=_("member"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="till_actions",
    )
    purchase = models.ForeignKey(
        Purchase, verbose_name=_("purchase"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    refund = models.ForeignKey(
        Refund, verbose_name=_("refund"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    vip_fee = models.ForeignKey(
        "VipFee", verbose_name=_("paid tier fee"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    voucher = models.ForeignKey(
        "rewards.Voucher", verbose_name=_("voucher"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )
    undo_of = models.OneToOneField(
        "self", verbose_name=_("undoes"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="undone_by",
    )

    class Meta:
        verbose_name = _("till action")
        verbose_name_plural = _("till actions")
        indexes = [
            models.Index(fields=["user", "store", "-at"], name="till_action_latest"),
            models.Index(fields=["member", "-at"], name="till_action_member"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.at:%Y-%m-%d %H:%M}"


class EarnRule(models.Model):
    """A promotion that adds points to what the base rate gives.

    Evaluated by ``loyalty.rules`` from immutable snapshots (``loyalty.services.rules``
    loads and caches them); saved and deleted through ``rule_save`` / ``rule_delete``.
    Only ``active`` rules earn; a paused rule can be resumed, an archived one is
    kept for the breakdowns and reports that name it.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        PAUSED = "paused", _("Paused")
        ARCHIVED = "archived", _("Archived")

    class CapPeriod(models.TextChoices):
        RULE = "rule", _("While the rule runs")
        DAY = "day", _("Per day")
        WEEK = "week", _("Per week")
        MONTH = "month", _("Per month")
        YEAR = "year", _("Per year")

    class Kind(models.TextChoices):
        MULTIPLIER = "multiplier", _("Multiplier on the base points")
        PER_UNIT = "per_unit", _("Bonus per unit of matching lines")
        FIXED = "fixed", _("Fixed bonus")
        PERCENT = "percent", _("Extra percent of spend")
        STAMPS = "stamps", _("Stamp card")

    class Mode(models.TextChoices):
        STACK = "stack", _("Stacks with other rules")
        EXCLUSIVE = "exclusive", _("Exclusive: no rule of lower priority applies")
        BEST_OF_GROUP = "best_of_group", _("Best of its group")

    name = models.CharField(_("name"), max_length=120)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    value = models.DecimalField(
        _("value"), max_digits=10, decimal_places=2,
        help_text=_("The multiplier (2 doubles the base points), the points per unit, "
                    "the fixed points, the extra percent of spend, or the points a full stamp card gives."),
    )
    stamps_needed = models.PositiveIntegerField(
        _("stamps per card"), null=True, blank=True, validators=[MinValueValidator(2)],
        help_text=_("Stamp cards: matching items (or visits, when no category or SKU is named) that fill a card."),
    )
    starts_at = models.DateTimeField(_("starts at"), null=True, blank=True)
    ends_at = models.DateTimeField(_("ends at"), null=True, blank=True)
    weekdays = models.JSONField(
        _("days of the week"), default=list, blank=True,
        help_text=_("0 is Monday, 6 is Sunday, in the store's time zone; empty means every day."),
    )
    hours_start = models.TimeField(_("from (store's local time)"), null=True, blank=True)
    hours_end = models.TimeField(
        _("until (store's local time)"), null=True, blank=True,
        help_text=_("Excluded; an end before the start runs past midnight."),
    )
    stores = models.ManyToManyField(
        Store, verbose_name=_("stores"), blank=True, related_name="+",
        help_text=_("Empty means every store."),
    )
    tiers = models.ManyToManyField(
        "Tier", verbose_name=_("tiers"), blank=True, related_name="+",
        help_text=_("Empty means every member, with or without a tier."),
    )
    segments = models.JSONField(
        _("segments"), default=list, blank=True,
        help_text=_("Ids of saved segments; the member must be in one of them. Empty means everyone."),
    )
    categories = models.JSONField(_("product categories"), default=list, blank=True)
    skus = models.JSONField(_("SKUs"), default=list, blank=True)
    min_spend = models.DecimalField(_("minimum spend"), null=True, blank=True, **MONEY)
    first_purchase_only = models.BooleanField(_("first purchase only"), default=False)
    birthday_week = models.BooleanField(
        _("birthday week only"), default=False,
        help_text=_("From three days before to three days after the member's birthday."),
    )
    priority = models.IntegerField(_("priority"), default=0, help_text=_("Higher goes first."))
    mode = models.CharField(_("stacking"), max_length=16, choices=Mode.choices, default=Mode.STACK)
    group = models.CharField(_("group"), max_length=64, blank=True)
    member_cap = models.PositiveIntegerField(
        _("points cap per member"), null=True, blank=True, validators=[MinValueValidator(1)],
        help_text=_("The most points this rule gives one member in each period below; empty: no cap."),
    )
    member_cap_period = models.CharField(
        _("cap period"), max_length=8, choices=CapPeriod.choices, default=CapPeriod.RULE,
    )
    budget = models.PositiveIntegerField(
        _("total points budget"), null=True, blank=True, validators=[MinValueValidator(1)],
        help_text=_("The most points this rule gives in all; once spent the rule stops. Empty: no budget."),
    )
    reward = models.ForeignKey(
        "rewards.Reward", verbose_name=_("voucher for a full card"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
        help_text=_("Stamp cards: a full card gives a voucher for this reward instead of points."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("earning rule")
        verbose_name_plural = _("earning rules")
        ordering = ["-priority", "pk"]
        constraints = [
            models.CheckConstraint(  # a stamp card that gives a voucher may give no points
                condition=Q(value__gt=0) | Q(value=0, kind="stamps", reward__isnull=False),
                name="earnrule_value_positive",
            )
        ]
        indexes = [models.Index(fields=["status"], name="earnrule_status")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, ValidationError] = {}
        gives_voucher = self.reward_id is not None and self.kind == self.Kind.STAMPS
        if self.reward_id is not None and self.kind and self.kind != self.Kind.STAMPS:
            errors["reward"] = ValidationError(
                _("Only a stamp card gives a voucher: choose the kind \"Stamp card\" or no reward."),
                code="reward_not_stamps",
            )
        if self.value is not None:
            if gives_voucher:
                if self.value != 0:
                    errors["value"] = ValidationError(
                        _("A card that gives a voucher gives no points: set the value to 0."),
                        code="voucher_card_value",
                    )
            elif self.value <= 0:
                errors["value"] = ValidationError(_("The value must be above zero."), code="value_not_positive")
            elif self.kind == self.Kind.MULTIPLIER and self.value < 1:
                errors["value"] = ValidationError(
                    _("A multiplier below 1 would take points away."), code="multiplier_below_one"
                )
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            errors["ends_at"] = ValidationError(_("The end must come after the start."), code="end_before_start")
        if (self.hours_start is None) != (self.hours_end is None):
            errors["hours_end"] = ValidationError(
                _("Give both the start and the end of the hours, or neither."), code="hours_incomplete"
            )
        elif self.hours_start is not None and self.hours_start == self.hours_end:
            errors["hours_end"] = ValidationError(_("The hours must not be empty."), code="hours_empty")
        days = self.weekdays if isinstance(self.weekdays, list) else None
        if days is None or any(type(day) is not int or not 0 <= day <= 6 for day in days):
            errors["weekdays"] = ValidationError(
                _("Days of the week are numbers from 0 (Monday) to 6 (Sunday)."), code="invalid_weekdays"
            )
        for name in ("categories", "skus"):
            items = getattr(self, name)
            if not isinstance(items, list) or not all(isinstance(item, str) and item for item in items):
                errors[name] = ValidationError(_("Give a list of names."), code="invalid_list")
        if self.min_spend is not None and self.min_spend < 0:
            errors["min_spend"] = ValidationError(_("The minimum spend cannot be negative."), code="negative_spend")
        if self.kind == self.Kind.STAMPS and not self.stamps_needed:
            errors["stamps_needed"] = ValidationError(
                _("Say how many stamps fill a card."), code="stamps_needed_missing"
            )
        if self.stamps_needed and self.kind and self.kind != self.Kind.STAMPS:
            errors["stamps_needed"] = ValidationError(
                _("Only a stamp card has stamps per card: choose the kind \"Stamp card\" or leave this empty."),
                code="stamps_needed_not_stamps",
            )
        if self.member_cap is None and self.member_cap_period and self.member_cap_period != self.CapPeriod.RULE:
            errors["member_cap_period"] = ValidationError(
                _("A cap period needs a points cap per member: give the cap, or set the period back to "
                  "\"while the rule runs\"."),
                code="cap_period_without_cap",
            )
        if self.kind == self.Kind.FIXED and isinstance(self.budget, int) and isinstance(self.value, Decimal) \
                and self.budget < self.value:
            errors["budget"] = ValidationError(
                _("The total budget (%(budget)s points) is smaller than the fixed bonus (%(value)s points): "
                  "the rule could never give its bonus. Raise the budget or lower the bonus."),
                params={"budget": self.budget, "value": f"{self.value.normalize():f}"}, code="budget_below_bonus",
            )
        segments = self.segments if isinstance(self.segments, list) else None
        if segments is None or any(type(item) is not int or item <= 0 for item in segments):
            errors["segments"] = ValidationError(_("Give a list of segment ids."), code="invalid_segments")
        if gives_voucher and (self.member_cap is not None or self.budget is not None):
            errors["member_cap" if self.member_cap is not None else "budget"] = ValidationError(
                _("A card that gives a voucher gives no points, so a points cap or budget would limit nothing: "
                  "leave them empty."),
                code="voucher_card_cap",
            )
        if self.mode == self.Mode.BEST_OF_GROUP and not self.group:
            errors["group"] = ValidationError(_("Name the group this rule competes in."), code="group_missing")
        if errors:
            raise ValidationError(errors)


class Tier(models.Model):
    """A level of the program (Silver, Gold, Platinum), or a paid VIP level.

    ``rank`` orders the tiers (higher is better). A qualifying tier is reached
    when the member's spend or points (``Program.tier_metric``) over the last
    ``Program.tier_window_months`` reach ``threshold``; a paid tier
    (``is_paid``) has no threshold and is granted by a fee (``VipFee``) for
    ``period_months``. ``name`` and ``benefits`` are translated
    (django-modeltranslation: ``name_en``, ``name_pl``, ...). Changed through
    ``loyalty.services.tiers``.
    """

    code = models.SlugField(
        _("code"), max_length=32, unique=True,
        help_text=_("Short code used by program files and the API, e.g. gold."),
    )
    name = models.CharField(_("name"), max_length=80)
    benefits = models.TextField(
        _("benefits"), blank=True, help_text=_("One benefit per line, shown to members."),
    )
    rank = models.PositiveSmallIntegerField(_("rank"), help_text=_("Higher ranks are better tiers."))
    threshold = models.DecimalField(
        _("threshold"), null=True, blank=True, **MONEY,
        help_text=_("Spend (or points) over the window that reaches this tier; empty for a paid tier."),
    )
    multiplier = models.DecimalField(
        _("earn multiplier"), max_digits=5, decimal_places=2, default=Decimal("1"),
        validators=[MinValueValidator(Decimal("1"))],
        help_text=_("Base points are multiplied by this (1.5 gives half as many again)."),
    )
    is_paid = models.BooleanField(
        _("paid tier"), default=False, help_text=_("Granted by a fee for a period rather than by spend."),
    )
    fee = models.DecimalField(_("fee"), null=True, blank=True, **MONEY)
    period_months = models.PositiveIntegerField(
        _("period (months)"), null=True, blank=True, validators=[MinValueValidator(1)],
        help_text=_("How long a paid tier lasts after its fee."),
    )
    archived = models.BooleanField(_("archived"), default=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")
        ordering = ["rank"]
        constraints = [
            models.UniqueConstraint(fields=["rank"], name="tier_rank_unique"),
            models.CheckConstraint(condition=Q(multiplier__gte=1), name="tier_multiplier_at_least_one"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def benefit_list(self) -> list[str]:
        return [line.strip() for line in self.benefits.splitlines() if line.strip()]


class MemberTier(models.Model):
    """A member's current tier, kept by ``loyalty.services.tiers``.

    ``grace_until`` is set by a review that found the member below the tier:
    the first review after it moves them down. ``vip_until`` is when a paid
    tier ends (the expiry task then puts the member on the tier they qualify
    for). Written under the member's ``PointsAccount`` lock.
    """

    member = models.OneToOneField(
        "members.Member", primary_key=True, on_delete=models.CASCADE, related_name="tier_status"
    )
    tier = models.ForeignKey(
        Tier, verbose_name=_("tier"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    since = models.DateTimeField(_("since"), default=timezone.now)
    grace_until = models.DateTimeField(_("grace until"), null=True, blank=True)
    vip_until = models.DateTimeField(_("paid tier until"), null=True, blank=True)

    class Meta:
        verbose_name = _("member tier")
        verbose_name_plural = _("member tiers")
        indexes = [
            models.Index(fields=["tier"], name="member_tier_tier"),
            models.Index(fields=["vip_until"], name="member_tier_vip", condition=Q(vip_until__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.tier_id}"


class TierChange(models.Model):
    """The tier history of a member: every move up, down, paid or expired."""

    class Reason(models.TextChoices):
        QUALIFIED = "qualified", _("Qualified")
        GRACE = "grace", _("Below the threshold: grace period started")
        REVIEW = "review", _("Moved down at the review")
        VIP = "vip", _("Paid tier")
        VIP_EXPIRED = "vip_expired", _("Paid tier ended")
        STAFF = "staff", _("Set by staff")

    member = models.ForeignKey(
        "members.Member", verbose_name=_("member"), on_delete=models.CASCADE, related_name="tier_changes"
    )
    from_tier = models.ForeignKey(
        Tier, verbose_name=_("from"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    to_tier = models.ForeignKey(
        Tier, verbose_name=_("to"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(_("reason"), max_length=16, choices=Reason.choices)
    at = models.DateTimeField(_("at"), default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("by"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )

    class Meta:
        verbose_name = _("tier change")
        verbose_name_plural = _("tier changes")
        indexes = [models.Index(fields=["member", "-at"], name="tier_change_member")]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.from_tier_id} -> {self.to_tier_id}"


class VipFee(models.Model):
    """A fee paid for a paid tier: revenue in reports, never points.

    Taken once per ``external_id`` (the same id with other data is refused).
    """

    external_id = models.CharField(_("external id"), max_length=64)
    member = models.ForeignKey(
        "members.Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="vip_fees"
    )
    tier = models.ForeignKey(Tier, verbose_name=_("tier"), on_delete=models.PROTECT, related_name="+")
    amount = models.DecimalField(_("amount"), **MONEY)
    currency = models.CharField(_("currency"), max_length=3)
    paid_at = models.DateTimeField(_("paid at"))
    valid_until = models.DateTimeField(_("valid until"))
    store = models.ForeignKey(
        Store, verbose_name=_("store"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    source = models.CharField(_("source"), max_length=8, choices=Source.choices)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("recorded by"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )
    payload_hash = models.CharField(max_length=64, editable=False)

    class Meta:
        verbose_name = _("paid tier fee")
        verbose_name_plural = _("paid tier fees")
        indexes = [models.Index(fields=["paid_at"], name="vip_fee_paid_at")]
        constraints = [
            models.UniqueConstraint(fields=["external_id"], name="vip_fee_external_id_unique"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="vip_fee_amount_not_negative"),
        ]

    def __str__(self) -> str:
        return self.external_id


class RuleUsage(models.Model):
    """Points a budgeted earning rule has given: in all (``scope="total"``) or to
    one member in one period (``scope="m<member id>:<period start>"``).

    Written only by ``loyalty.services.budgets`` under row locks, in the earn's
    transaction.
    """

    rule = models.ForeignKey("EarnRule", on_delete=models.CASCADE, related_name="usage")
    scope = models.CharField(max_length=48)
    points = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("rule usage")
        verbose_name_plural = _("rule usage")
        constraints = [models.UniqueConstraint(fields=["rule", "scope"], name="rule_usage_scope_unique")]

    def __str__(self) -> str:
        return f"{self.rule_id} {self.scope}: {self.points}"


class StampCard(models.Model):
    """A member's card of a stamp rule: ``stamps`` on the current card and the
    cards ``completed`` so far. Kept by ``loyalty.services.stamps`` under the
    member's ``PointsAccount`` lock."""

    member = models.ForeignKey(
        "members.Member", verbose_name=_("member"), on_delete=models.CASCADE, related_name="stamp_cards"
    )
    rule = models.ForeignKey("EarnRule", verbose_name=_("rule"), on_delete=models.CASCADE, related_name="cards")
    stamps = models.PositiveIntegerField(_("stamps"), default=0)
    completed = models.PositiveIntegerField(_("cards completed"), default=0)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("stamp card")
        verbose_name_plural = _("stamp cards")
        constraints = [models.UniqueConstraint(fields=["member", "rule"], name="stamp_card_member_rule")]

    def __str__(self) -> str:
        return f"{self.member_id}/{self.rule_id}: {self.stamps}"


class ActionBonus(models.Model):
    """Points for an action rather than a purchase, each granted once per occasion
    (``loyalty.services.bonuses``)."""

    class Kind(models.TextChoices):
        SIGNUP = "signup", _("Sign-up")
        PROFILE = "profile", _("Completed profile")
        REFERRER = "referrer", _("Referral: the member who referred")
        REFERRED = "referred", _("Referral: the new member")
        REVIEW = "review", _("Review")
        BIRTHDAY = "birthday", _("Birthday")
        ANNIVERSARY = "anniversary", _("Enrollment anniversary")

    kind = models.CharField(_("action"), max_length=16, choices=Kind.choices, unique=True)
    points = models.PositiveIntegerField(_("points"), validators=[MinValueValidator(1)])
    active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("action bonus")
        verbose_name_plural = _("action bonuses")
        ordering = ["kind"]

    def __str__(self) -> str:
        return self.get_kind_display()
