from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from phonenumber_field.modelfields import PhoneNumberField


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")
    MANAGER = "manager", _("Manager")
    MARKETING = "marketing", _("Marketing")
    CASHIER = "cashier", _("Cashier")


STAFF_ROLES = frozenset({Role.OWNER, Role.MANAGER, Role.MARKETING})


class EmailUserManager(UserManager):
    def _create_user(self, email, password, **extra_fields):  # type: ignore[override]
        if not email:
            raise ValueError("an email is required")
        user = self.model(email=self.normalize_email(email), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email=None, password=None, **extra_fields):  # type: ignore[override]
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email=None, password=None, **extra_fields):  # type: ignore[override]
        extra_fields["is_staff"] = True
        extra_fields["is_superuser"] = True
        return self._create_user(email, password, **extra_fields)


class User(AbstractUser):
    """A login: a member's account, a staff member or a cashier.

    ``role`` is empty for members. ``is_staff`` keeps Django's meaning (may use
    ``/admin/``) and is given to superusers only.
    """

    username = None
    email = models.EmailField(_("email"), unique=True)
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, blank=True)
    stores = models.ManyToManyField(
        "loyalty.Store",
        verbose_name=_("stores"),
        blank=True,
        related_name="staff",
        help_text=_("The stores whose till a cashier may use."),
    )

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = EmailUserManager()

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.email

    @property
    def is_staff_role(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def is_cashier(self) -> bool:
        return self.role == Role.CASHIER


class Member(models.Model):
    """A customer enrolled in the program; may or may not have a login."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        BLOCKED = "blocked", _("Blocked")
        DELETED = "deleted", _("Deleted")

    class Language(models.TextChoices):
        EN = "en", _("English")
        PL = "pl", _("Polish")
        RO = "ro", _("Romanian")

    user = models.OneToOneField(
        User, verbose_name=_("account"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="member",
    )
    card_number = models.CharField(_("card number"), max_length=13, unique=True)
    external_id = models.CharField(
        _("external id"), max_length=64, unique=True, null=True, blank=True
    )
    first_name = models.CharField(_("first name"), max_length=150, blank=True)
    last_name = models.CharField(_("last name"), max_length=150, blank=True)
    email = models.EmailField(_("email"), blank=True)
    phone = PhoneNumberField(_("phone"), blank=True)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    language = models.CharField(
        _("language"), max_length=2, choices=Language.choices, default=Language.EN
    )
    enrollment_store = models.ForeignKey(
        "loyalty.Store", verbose_name=_("enrollment store"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="enrolled_members",
    )
    enrolled_at = models.DateTimeField(_("enrolled at"), default=timezone.now)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE
    )
    marketing_consent = models.BooleanField(
        _("marketing email consent"), default=False,
        help_text=_("The member agreed to marketing by email. ConsentChange keeps the history."),
    )
    sms_consent = models.BooleanField(
        _("SMS consent"), default=False, db_default=False,
        help_text=_("The member agreed to marketing by SMS. ConsentChange keeps the history."),
    )
    referral_code = models.CharField(
        _("referral code"), max_length=12, unique=True, null=True, blank=True,
        help_text=_("Drawn the first time the member's referral link is shown."),
    )
    referred_by = models.ForeignKey(
        "self", verbose_name=_("referred by"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="referrals",
    )

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")
        indexes = [
            models.Index(Lower("email"), name="member_email_lower"),
            models.Index(fields=["phone"], name="member_phone"),
            models.Index(fields=["last_name", "first_name"], name="member_name"),
            models.Index(fields=["enrolled_at"], name="member_enrolled_at"),
        ]

    def __str__(self) -> str:
        return self.full_name or self.card_number

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)


class ConsentChange(models.Model):
    """One giving or withdrawal of a marketing consent: the history behind
    ``Member.marketing_consent`` (email) and ``Member.sms_consent``."""

    class Channel(models.TextChoices):
        EMAIL = "email", _("Marketing email")
        SMS = "sms", _("SMS")

    class Source(models.TextChoices):
        SIGNUP = "signup", _("Sign-up")
        TILL = "till", _("Till")
        PORTAL = "portal", _("Member portal")
        IMPORT = "import", _("Import")
        STAFF = "staff", _("Staff")
        UNSUBSCRIBE = "unsubscribe", _("Unsubscribe link")

    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="consent_changes"
    )
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    given = models.BooleanField(_("given"))
    at = models.DateTimeField(_("at"), default=timezone.now)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices)
    actor = models.ForeignKey(
        User, verbose_name=_("recorded by"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )

    class Meta:
        verbose_name = _("consent change")
        verbose_name_plural = _("consent changes")
        indexes = [models.Index(fields=["member", "at"], name="consent_member_at")]

    def __str__(self) -> str:
        return f"{self.channel} {self.given} {self.at:%Y-%m-%d}"


class Feedback(models.Model):
    """A member's rating of the program (0-10, for NPS) with an optional comment."""

    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="feedback"
    )
    score = models.PositiveSmallIntegerField(_("score"))
    comment = models.TextField(_("comment"), blank=True, max_length=2000)
    created_at = models.DateTimeField(_("given at"), default=timezone.now)

    class Meta:
        verbose_name = _("feedback")
        verbose_name_plural = _("feedback")
        constraints = [
            models.CheckConstraint(condition=models.Q(score__lte=10), name="feedback_score_0_10"),
        ]
        indexes = [
            models.Index(fields=["created_at"], name="feedback_created_at"),
            models.Index(fields=["member", "-created_at"], name="feedback_member_latest"),
        ]

    def __str__(self) -> str:
        return f"{self.score} {self.created_at:%Y-%m-%d}"


class Delivery(models.Model):
    """One message to a member (or an address), written before it is sent.

    The delivery log staff read. With no backend configured for the channel the
    message is not sent: it is ``LOGGED`` here with its body, for staff to pass
    on. A sent message keeps no body (it may hold a one-time link).
    ``dedupe_key`` makes a message that must go once (per member, kind and
    occasion) safe to trigger twice.
    """

    class Channel(models.TextChoices):
        EMAIL = "email", _("Email")
        SMS = "sms", _("SMS")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        LOGGED = "logged", _("Logged (no backend configured)")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    member = models.ForeignKey(
        Member, verbose_name=_("member"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="deliveries",
    )
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    kind = models.CharField(_("kind"), max_length=32)
    recipient = models.CharField(_("recipient"), max_length=254)
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    body = models.TextField(_("body"), blank=True)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices)
    error = models.CharField(_("error"), max_length=200, blank=True)
    dedupe_key = models.CharField(_("dedupe key"), max_length=120, unique=True, null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    actor = models.ForeignKey(
        User, verbose_name=_("sent by"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        indexes = [
            models.Index(fields=["-created_at"], name="delivery_latest"),
            models.Index(fields=["member", "-created_at"], name="delivery_member_latest"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.channel} {self.created_at:%Y-%m-%d %H:%M}"
