from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LoyaltyConfig(AppConfig):
    name = "loyalty"
    verbose_name = _("Loyalty program")

    def ready(self) -> None:
        # members runs these hooks (sign-up, completed profile) without importing loyalty.
        from loyalty.services.bonuses import bonus_hooks_register

        bonus_hooks_register()
