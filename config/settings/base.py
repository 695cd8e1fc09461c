"""Settings shared by every environment, all read through one django-environ ``Env``.

Real environment variables win over a ``.env`` file at the project root.
"""

from pathlib import Path

import environ
from celery.schedules import crontab
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])

INSTALLED_APPS = [
    "modeltranslation",  # before the admin, which it extends
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    # third party
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "crispy_forms",
    "crispy_bootstrap5",
    "rest_framework",
    "django_celery_beat",
    "phonenumber_field",
    "django_countries",
    # ours, in the order they may import each other
    "members",
    "loyalty",
    "rewards",
    "analytics",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "config.middleware.StaffTwoFactorRequiredMiddleware",
    "config.middleware.ProgramRegionMiddleware",
    "members.middleware.MemberLanguageMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "loyalty.context_processors.program",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Wait for the writer rather than failing at once; WAL lets reads go on.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

AUTH_USER_MODEL = "members.User"

# models.W040: SQLite has no covering indexes; the INCLUDE columns of a PostgreSQL index
# (loyalty.Purchase's purchase_member_at) are simply left out there, which is what we want.
SILENCED_SYSTEM_CHECKS = ["models.W040"]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"

# django-allauth: email is the login; no usernames.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = env("ACCOUNT_EMAIL_VERIFICATION", default="optional")
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"
# Sign-up creates the member and its card (members.adapters, members.forms).
ACCOUNT_ADAPTER = "members.adapters.AccountAdapter"
ACCOUNT_FORMS = {"signup": "members.forms.SignupForm", "add_email": "members.forms.MemberAddEmailForm"}
# One email per login: a new address replaces the old once confirmed, and the
# member's email on file follows it.
ACCOUNT_CHANGE_EMAIL = True
ACCOUNT_SIGNUP_REDIRECT_URL = "me:home"
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
# Added to allauth's defaults: asking for a claim link (email plus card number).
ACCOUNT_RATE_LIMITS = {"claim_request": "10/m/ip,3/h/key"}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = env("MFA_TOTP_ISSUER", default="Loyalty portal")

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("pl", _("Polish")), ("ro", _("Romanian"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Staff-entered text shown to members (tier names and benefits, rewards) is
# kept per language by django-modeltranslation (``<app>/translation.py``); an
# empty translation falls back to English.
MODELTRANSLATION_DEFAULT_LANGUAGE = "en"
MODELTRANSLATION_FALLBACK_LANGUAGES = ("en",)
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Without EMAIL_URL, member messages stay in the delivery log (see
# members.messaging); allauth's own mails (verification, password reset) go
# to the console.
EMAIL_CONFIGURED = bool(env("EMAIL_URL", default=""))
EMAIL_CONFIG = env.email("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="loyalty@localhost")
# A class with send(to, body), e.g. members.messaging.sms.ConsoleBackend; unset:
# SMS messages stay in the delivery log.
SMS_BACKEND = env("SMS_BACKEND", default="")
# The address links in messages point at (account claim, unsubscribe).
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
CLAIM_LINK_MAX_AGE_DAYS = env.int("CLAIM_LINK_MAX_AGE_DAYS", default=14)
# How long a cashier may undo their last till action.
TILL_UNDO_SECONDS = env.int("TILL_UNDO_SECONDS", default=300)
# Analytics' cache (analytics.cache): a figure is kept at most ANALYTICS_CACHE_SECONDS;
# once new data arrives it is still used for ANALYTICS_STALE_SECONDS after it was
# computed (ANALYTICS_CLV_STALE_SECONDS for the CLV model's fit).
ANALYTICS_CACHE_SECONDS = env.int("ANALYTICS_CACHE_SECONDS", default=600)
ANALYTICS_STALE_SECONDS = env.int("ANALYTICS_STALE_SECONDS", default=60)
ANALYTICS_CLV_STALE_SECONDS = env.int("ANALYTICS_CLV_STALE_SECONDS", default=3600)
# Wrong voucher codes a cashier or an API client may send in a window (seconds)
# before every code is refused for one window (rewards.services.throttle).
VOUCHER_WRONG_CODES_LIMIT = env.int("VOUCHER_WRONG_CODES_LIMIT", default=10)
VOUCHER_WRONG_CODES_WINDOW = env.int("VOUCHER_WRONG_CODES_WINDOW", default=300)

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "EXCEPTION_HANDLER": "config.exceptions.api_exception_handler",
}

# Celery: with no broker configured, tasks run in-process.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=None)
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL is None
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_TIME_LIMIT = 60 * 30
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "release-pending-points": {
        "task": "loyalty.tasks.release_pending_points",
        "schedule": crontab(minute="*/15"),
    },
    "expire-points": {
        "task": "loyalty.tasks.expire_points",
        "schedule": crontab(minute=5),
    },
    # loyalty.services.tiers.review.next_review_at must name the same instant.
    "review-tiers": {
        "task": "loyalty.tasks.review_tiers",
        "schedule": crontab(minute=30, hour=2, day_of_month=1),
    },
    "expire-paid-tiers": {
        "task": "loyalty.tasks.expire_paid_tiers",
        "schedule": crontab(minute=20),
    },
    # With the release of pending points: a referral waits for the first purchase's release.
    "grant-referral-bonuses": {
        "task": "loyalty.tasks.grant_referral_bonuses",
        "schedule": crontab(minute="*/15"),
    },
    # Daily occasions (birthdays, anniversaries), looked for every hour so that they are
    # granted within the first hour of the program's day whatever its zone (beat runs in UTC).
    "grant-occasion-bonuses": {
        "task": "loyalty.tasks.grant_occasion_bonuses",
        "schedule": crontab(minute=10),
    },
    "expire-vouchers": {
        "task": "rewards.tasks.expire_vouchers",
        "schedule": crontab(minute=25),
    },
    # Keeps the usual dashboard pages computed: the first visit of the morning, or
    # after new data, does not wait for the CLV fits (analytics.selectors.dashboard).
    "warm-dashboard": {
        "task": "analytics.tasks.warm_dashboard",
        "schedule": crontab(minute="*/10"),
    },
    # RFM and CLV per member, as of the start of the program's day (after midnight in Europe).
    "score-members": {
        "task": "analytics.tasks.score_members",
        "schedule": crontab(minute=30, hour=3),
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
