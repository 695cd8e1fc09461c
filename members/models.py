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
    marketing_consent = models.BooleanField(_("marketing consent"), default=False)
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
